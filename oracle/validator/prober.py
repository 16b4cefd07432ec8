"""Probing a provider: the daemon's default :class:`Prober` (:class:`ChallengeProber`), which
measures every attested precision with work sized to the node's claim, one challenge each
(:func:`oracle.validator.challenging.run_challenge`, the validator's side of one challenge).

What a node is attested with (:class:`ChallengeProber`)
------------------------------------------------------
* For each precision in :data:`~oracle.validator.figures.ATTESTED_PRECISIONS` that the node claims
  (its benchmark in ``GET /inventory``, else the published peaks of its registered GPU model), one
  challenge sized to take ``target_s`` at the claimed speed (:func:`oracle.challenge.new_challenge`).
  The figure attested is what the passed challenge proves, ``min(claim, work / deadline)``
  (:func:`oracle.challenge.proven_flops`, the claim / 1.5 at the defaults): the same for every
  validator, so k of them sign the same attestation, and never above the node's real speed for
  any inflation the deadline lets through. What each validator measured on its own clock
  (:func:`oracle.challenge.attested_flops`) is in its report and log. A precision claimed as 0 is
  not challenged and attested as 0. Any failed challenge is a fault for the node.
* The node's GPU is the one registered: an inventory that lists GPUs must list one whose UUID's
  keccak256 is the node id (:func:`oracle.inventory.inventory_uuid_problem`), or the round fails
  before any challenge (a fault, its reason in the log). An inventory without GPUs (a CPU node)
  has no UUID to compare.
* Memory bandwidth and power are not challenged, so they are not attested (0): a figure nobody
  checked has no place in a signed attestation.
* All nodes of one provider, and all nodes behind one endpoint (host:port), are challenged at the
  same moment (:meth:`ChallengeProber.probe_group`), each with work sized to its own claim, so N
  claimed devices must do N devices' work at once.
* Requests are signed with the validator's key (:mod:`oracle.challenge_auth`) when the prober has
  one; a node whose ``metadataURI`` names an answer key (``#key=0x..``) must sign its root with it.
* A node that answers 503 busy must show the signed request of the challenge it is running: by
  another oracle, for the same node, in this epoch, still within its deadline. The prober then
  polls again (a fresh seed each time) every quarter of ``target_s`` or at the end of that
  deadline, whichever is sooner, for at most ``busy_wait_s``; busy
  without such evidence is a fault.

Default sizes (daemon, ``oracle run``): n = 8192, target 1 s, tolerance 1.25, allowance 0.25 s:
a node that overstates its speed by more than ``1.25 + (0.25 - fixed) / 1`` ~ 1.5x (``fixed``: its
round trip and per-challenge fixed costs) is late (:func:`oracle.challenge.tolerated_inflation`;
measured in ``oracle/benchmarks/RESULTS.md``), and one that overstates by less is attested at
``claim / 1.5``, at or below its real speed, never at its claim.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle.attest import Domain
from oracle.challenge_auth import AuthError, ChallengeRequest, answer_signer, parse_endpoint, read_request
from oracle.errors import ProviderError, ProviderUnreachable
from oracle.inventory import inventory_uuid_problem
from oracle.validator.challenging import run_challenge
from oracle.validator.client import Commitment, ProviderClient
from oracle.validator.figures import (
    ATTESTED_PRECISIONS,
    Figures,
    attestable_power,
    figures_from_benchmark,
    published_figures,
)
from oracle.validator.latency_flags import Timing
from oracle.validator.nodes import NodeInfo

DEFAULT_N = 8192
DEFAULT_SAMPLES = 16
DEFAULT_BUSY_WAIT_S = 60.0
"""How long a validator keeps polling a node that shows it is busy with other validators' challenges
(then it gives up for this epoch: nothing proven either way, not a fault)."""
BUSY_SKEW_S = 2.0
"""Clock difference tolerated between a busy node's evidence (``issuedAt``, whole seconds) and us."""


@dataclass
class ProbeResult:
    """Outcome of challenging one node: ``ok`` False with ``reachable`` True is a fault."""

    ok: bool
    reason: str
    figures: Figures | None = None
    reachable: bool = True
    report: dict[str, Any] = field(default_factory=dict)
    timings: tuple[Timing, ...] = ()
    """Each passed challenge's time against its time at the claimed speed (latency flags)."""


class Prober(Protocol):
    def bind(self, account: Any, domain: Domain, is_oracle: Callable[[str], bool]) -> None:
        """Called once by the daemon: its key, the registry's domain and the oracle set."""

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult: ...

    def probe_group(self, nodes: Sequence[NodeInfo], epoch: int) -> dict[str, ProbeResult]: ...


class SequentialGroups:
    """``probe_group`` as one ``probe`` after another and nothing to ``bind``: for probers with
    nothing to prove about concurrency (test stand-ins)."""

    def bind(self, account: Any, domain: Domain, is_oracle: Callable[[str], bool]) -> None:
        pass

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        raise NotImplementedError

    def probe_group(self, nodes: Sequence[NodeInfo], epoch: int) -> dict[str, ProbeResult]:
        return {node.key: self.probe(node, epoch) for node in nodes}


def node_groups(nodes: Sequence[NodeInfo]) -> list[list[NodeInfo]]:
    """Nodes that share a provider or an endpoint (host:port), transitively: each group is challenged
    at the same moment."""
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, node in enumerate(nodes):
        endpoint = urlsplit(parse_endpoint(node.endpoint)[0]).netloc.lower()
        for key in (("provider", node.provider.lower()), ("endpoint", endpoint)):
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    groups: dict[int, list[NodeInfo]] = {}
    for i, node in enumerate(nodes):
        groups.setdefault(root(i), []).append(node)
    return list(groups.values())


class ChallengeProber:
    """The daemon's prober (see the module docstring). ``account``/``domain``: the validator's key
    and the registry's EIP-712 domain, to sign requests (without them bare challenges are sent,
    which only an open dev server accepts); ``is_oracle``: the oracle set, to check busy evidence.

    Every challenge gets a fresh ``seed`` (its ``A``); all challenges of one epoch share a
    ``b_seed`` (their ``B``) drawn from OS entropy when the epoch is first probed, so the O(n^2)
    part of the check (:class:`oracle.challenge.ProjectionKey`) is paid once per epoch and n."""

    def __init__(
        self,
        n: int = DEFAULT_N,
        samples: int = DEFAULT_SAMPLES,
        timeout: float = 30.0,
        *,
        target_s: float = ch.DEFAULT_TARGET_S,
        tolerance: float = ch.DEFAULT_TOLERANCE,
        allowance_s: float = ch.DEFAULT_ALLOWANCE_S,
        account: Any = None,
        domain: Domain | None = None,
        is_oracle: Callable[[str], bool] | None = None,
        busy_wait_s: float = DEFAULT_BUSY_WAIT_S,
        clock: Callable[[], float] = time.time,
    ):
        self.n, self.samples, self.timeout = n, samples, timeout
        self.target_s, self.tolerance, self.allowance_s = target_s, tolerance, allowance_s
        self.account, self.domain, self.is_oracle = account, domain, is_oracle
        self.busy_wait_s, self.clock = busy_wait_s, clock
        self._keys = cc.ProjectionKeys(keep=4)
        self._b_seeds: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def bind(self, account: Any, domain: Domain, is_oracle: Callable[[str], bool]) -> None:
        """Sign with the daemon's key in the registry's domain; check busy evidence with its oracle set."""
        self.account, self.domain, self.is_oracle = account, domain, is_oracle

    def epoch_b_seed(self, epoch: int) -> bytes:
        """The ``b_seed`` of ``epoch`` (random, drawn once; the two newest epochs are kept)."""
        with self._lock:
            if epoch not in self._b_seeds:
                self._b_seeds[epoch] = secrets.token_bytes(32)
                for old in sorted(self._b_seeds)[:-2]:
                    del self._b_seeds[old]
            return self._b_seeds[epoch]

    def probe_group(self, nodes: Sequence[NodeInfo], epoch: int) -> dict[str, ProbeResult]:
        """Probe ``nodes`` at the same moment (one thread each, released together)."""
        if len(nodes) == 1:
            return {nodes[0].key: self.probe(nodes[0], epoch)}
        start = threading.Barrier(len(nodes))
        out: dict[str, ProbeResult] = {}

        def run(node: NodeInfo) -> None:
            start.wait()
            out[node.key] = self.probe(node, epoch)

        threads = [threading.Thread(target=run, args=(node,), daemon=True) for node in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        url, answer_key = parse_endpoint(node.endpoint)
        if not url.startswith(("http://", "https://")):
            return ProbeResult(
                False, f"metadataURI {node.endpoint!r} is not an http(s) endpoint", reachable=False
            )
        client = ProviderClient(url, timeout=self.timeout)
        try:
            inventory = client.inventory()
        except ProviderUnreachable as exc:
            return ProbeResult(False, f"unreachable: {exc}", reachable=False)
        except ProviderError as exc:  # it accepted the connection: a broken answer is a fault
            return ProbeResult(False, f"bad inventory answer: {exc}")
        if (mismatch := inventory_uuid_problem(inventory, node.node_id)) is not None:
            return ProbeResult(False, mismatch, report={"inventory_gpus": inventory.get("gpus")})
        bench = inventory.get("benchmark") if isinstance(inventory, dict) else None
        claimed = figures_from_benchmark(bench) or published_figures(node.gpu_model)
        measured: dict[str, float] = {}
        timings: list[Timing] = []
        report: dict[str, Any] = {"claimed": claimed.to_json(), "challenges": {}}
        for precision in ATTESTED_PRECISIONS:
            claim = getattr(claimed, precision) * 1e12
            if claim <= 0:
                measured[precision] = 0.0
                continue
            verdict = self._challenge(client, node, epoch, precision, claim, answer_key)
            report["challenges"][precision] = verdict.to_json()
            if verdict.unreachable:
                return ProbeResult(False, f"{precision}: {verdict.reason}", reachable=False, report=report)
            if not verdict.ok:
                return ProbeResult(False, f"{precision}: {verdict.reason}", claimed, True, report)
            measured[precision] = verdict.proven_flops / 1e12
            if verdict.elapsed_s and verdict.work_flops:
                timings.append(Timing(precision, verdict.elapsed_s, verdict.work_flops / claim))
        power = attestable_power(claimed.power_w, node.gpu_model, measured)  # reported, bounded by the card
        figures = Figures(**measured, mem_bandwidth_gbps=0.0, power_w=power)
        report["measured"] = figures.to_json()
        return ProbeResult(True, "every claimed precision measured", figures, True, report, tuple(timings))

    def _challenge(
        self,
        client: ProviderClient,
        node: NodeInfo,
        epoch: int,
        precision: str,
        claim: float,
        answer_key: str | None,
    ) -> cc.Verdict:
        give_up = time.monotonic() + self.busy_wait_s
        while True:
            challenge = ch.new_challenge(
                self.n,
                precision,
                claim,
                target_s=self.target_s,
                tolerance=self.tolerance,
                allowance_s=self.allowance_s,
                b_seed=self.epoch_b_seed(epoch),
            )
            body = None
            if self.account is not None and self.domain is not None:
                request = ChallengeRequest(challenge, node.node_id, epoch, int(self.clock()))
                body = request.sign(self.account.key, self.domain)
            key = self._keys.for_challenge(challenge) if self.samples > 0 else None
            verdict = run_challenge(
                client,
                challenge,
                self.samples,
                body=body,
                answer_check=self._answer_check(node, challenge, answer_key),
                key=key,
            )
            if verdict.busy is None:
                if verdict.ok and verdict.elapsed_s:
                    verdict.attested_flops = ch.attested_flops(challenge, verdict.elapsed_s, claim)
                    verdict.proven_flops = ch.proven_flops(challenge, claim)
                return verdict
            problem, bound = self._busy_problem(node, epoch, verdict.busy)
            if problem is not None:
                verdict.reason = f"busy without evidence: {problem}"
                verdict.busy = None
                return verdict
            poll = min(bound, float(verdict.busy["retry_after_s"]), self.target_s / 4)
            if time.monotonic() + poll > give_up:
                break
            time.sleep(max(0.02, poll))
        verdict.reason = f"still busy after {self.busy_wait_s:.0f} s of other validators' challenges"
        verdict.busy, verdict.unreachable = None, True  # nothing proven either way: not a fault
        return verdict

    def _answer_check(
        self, node: NodeInfo, challenge: ch.Challenge, answer_key: str | None
    ) -> Callable[[Commitment], str | None] | None:
        if answer_key is None or self.domain is None:
            return None

        def check(commitment: Commitment) -> str | None:
            signer = answer_signer(
                self.domain, node.node_id, challenge.seed, commitment.root, commitment.signature
            )
            if signer != answer_key:
                return f"root not signed by the node's answer key {answer_key} (signer {signer})"
            return None

        return check

    def _busy_problem(self, node: NodeInfo, epoch: int, busy: dict) -> tuple[str | None, float]:
        """``(why the busy evidence does not hold, None)``, or ``(None, seconds to wait)``: until the
        running challenge's deadline, whatever the provider asked for."""
        if self.domain is None or self.is_oracle is None:
            return "this validator cannot check busy evidence (no domain or oracle set)", 0.0
        try:
            request, signer = read_request(self.domain, busy.get("running"))
        except (AuthError, ch.ChallengeError) as exc:
            return f"the running request does not verify ({exc})", 0.0
        if request.node_id != node.node_id or request.epoch != epoch:
            return "the running request is for another node or epoch", 0.0
        if self.account is not None and signer == self.account.address:
            return "the running request is this validator's own", 0.0
        if not self.is_oracle(signer):
            return f"the running request's signer {signer} is not an oracle", 0.0
        ends = request.issued_at + request.challenge.deadline_s + BUSY_SKEW_S
        left = ends - self.clock()
        if left < -BUSY_SKEW_S:
            return "the running request's deadline has passed", 0.0
        return None, min(self.timeout, max(0.05, left))
