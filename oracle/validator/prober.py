"""Probing a provider: the whole validator-side challenge protocol (:func:`run_challenge`) and
the daemon's default :class:`Prober` (:class:`ChallengeProber`), which also takes the figures the
provider reports."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from oracle import challenge as ch
from oracle.errors import ProviderError, ProviderTimeout
from oracle.validator.client import ProviderClient
from oracle.validator.figures import Figures, figures_from_benchmark, published_figures
from oracle.validator.nodes import NodeInfo


@dataclass
class ProbeResult:
    """Outcome of challenging one node: ``ok`` False with ``reachable`` True is a fault."""

    ok: bool
    reason: str
    figures: Figures | None = None
    reachable: bool = True
    report: dict[str, Any] = field(default_factory=dict)


class Prober(Protocol):
    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult: ...


def run_challenge(
    client: ProviderClient,
    challenge: ch.Challenge,
    samples: int = ch.DEFAULT_SAMPLES,
    *,
    freivalds_rounds: int = 0,
    assumed_correct_fraction: float = ch.DEFAULT_ASSUMED_CORRECT_FRACTION,
    rng: np.random.Generator | None = None,
    key: ch.ProjectionKey | None = None,
) -> ch.Verdict:
    """The whole validator-side protocol for one challenge; never raises for provider faults.

    1. ``POST /challenge``; no answer / not JSON -> failing verdict; answer after ``deadline_s``
       (validator wall clock) -> ``late``.
    2. ``samples`` rows chosen by the validator after the commitment, opened with ``POST /open`` and
       checked by :func:`oracle.challenge.check_rows` (escape <= ``f^s + p^-k``) with ``key``, the
       validator's projection key for this challenge's ``b_seed`` (built here when not given).
    3. When ``freivalds_rounds > 0``: ``POST /product`` and :func:`oracle.challenge.freivalds_check`
       against the same root (escape <= ``(1/p)^k``); the escape bounds multiply.
    """

    def failed(reason: str, elapsed: float | None = None) -> ch.Verdict:
        return ch.Verdict(
            ok=False,
            reason=reason,
            escape_probability=0.0,
            check_seconds=0.0,
            elapsed_s=elapsed,
            deadline_s=challenge.deadline_s,
        )

    try:
        commitment = client.challenge(challenge)
    except ProviderTimeout as exc:
        return failed(f"no answer: {exc}")
    except ProviderError as exc:
        return failed(f"bad answer: {exc}")
    late = ch.check_deadline(challenge, commitment.wall_s)
    if late is not None:
        late.root = "0x" + commitment.root.hex()
        return late
    rows = ch.sample_rows(challenge.n, samples, rng) if samples > 0 else []
    verdict: ch.Verdict | None = None
    if rows:
        try:
            openings = client.open(challenge.seed, rows)
        except ProviderError as exc:
            return failed(f"opening failed: {exc}", commitment.wall_s)
        verdict = ch.check_rows(
            challenge,
            commitment.root,
            openings,
            rows,
            key=key,
            assumed_correct_fraction=assumed_correct_fraction,
        )
        if not verdict.ok:
            verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
            return verdict
    if freivalds_rounds > 0:
        try:
            c = client.product(challenge.seed)
        except ProviderError as exc:
            return failed(f"full product failed: {exc}", commitment.wall_s)
        fv = ch.freivalds_check(challenge, c, freivalds_rounds, root=commitment.root, rng=rng)
        if verdict is None or not fv.ok:
            verdict = fv
        else:
            verdict = ch.Verdict(
                ok=True,
                reason=f"{verdict.reason}; {fv.reason}",
                escape_probability=verdict.escape_probability * fv.escape_probability,
                check_seconds=verdict.check_seconds + fv.check_seconds,
                samples=verdict.samples,
                freivalds_rounds=fv.freivalds_rounds,
                assumed_correct_fraction=assumed_correct_fraction,
                root=verdict.root,
            )
    if verdict is None:
        verdict = ch.Verdict(
            ok=True,
            reason="answered in time (nothing sampled: samples=0 and freivalds_rounds=0)",
            escape_probability=1.0,
            check_seconds=0.0,
            root="0x" + commitment.root.hex(),
        )
    verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
    return verdict


class ChallengeProber:
    """Challenges a provider through its HTTP API (:class:`ProviderClient` + :func:`run_challenge`,
    the CPU/GPU protocol of :mod:`oracle.challenge`) and takes the benchmark figures the provider
    reports in its ``GET /inventory`` (key ``benchmark``, see :func:`figures_from_benchmark`).

    A provider that reports no benchmark is attested with the published peaks of its registered
    GPU model (:data:`oracle.peaks.PEAKS`; zeros for an unknown model), which is still the same for
    every validator. Unreachable (no inventory answer) is not a fault; a wrong, late or missing
    challenge answer from a provider that is up is.

    Every challenge gets a fresh ``seed`` (its ``A``); all challenges of one epoch share a
    ``b_seed`` (their ``B``) drawn from OS entropy when the epoch is first probed, so the O(n^2)
    part of the check (:class:`oracle.challenge.ProjectionKey`) is paid once per epoch."""

    def __init__(self, n: int = 64, samples: int = 8, timeout: float = 10.0):
        self.n = n
        self.samples = samples
        self.timeout = timeout
        self._keys = ch.ProjectionKeys(keep=2)
        self._b_seeds: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def epoch_b_seed(self, epoch: int) -> bytes:
        """The ``b_seed`` of ``epoch`` (random, drawn once; the two newest epochs are kept)."""
        with self._lock:
            if epoch not in self._b_seeds:
                self._b_seeds[epoch] = secrets.token_bytes(32)
                for old in sorted(self._b_seeds)[:-2]:
                    del self._b_seeds[old]
            return self._b_seeds[epoch]

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        if not node.endpoint.startswith(("http://", "https://")):
            return ProbeResult(
                False, f"metadataURI {node.endpoint!r} is not an http(s) endpoint", reachable=False
            )
        client = ProviderClient(node.endpoint, timeout=self.timeout)
        try:
            inventory = client.inventory()
        except ProviderError as exc:
            return ProbeResult(False, f"unreachable: {exc}", reachable=False)
        bench = inventory.get("benchmark") if isinstance(inventory, dict) else None
        figures = figures_from_benchmark(bench) or published_figures(node.gpu_model)
        claimed = max(1e9, figures.fp32 * 1e12)
        challenge = ch.new_challenge(self.n, "fp32", claimed, b_seed=self.epoch_b_seed(epoch))
        key = self._keys.for_challenge(challenge) if self.samples > 0 else None
        verdict = run_challenge(client, challenge, self.samples, key=key)
        report = verdict.to_json()
        return ProbeResult(bool(verdict.ok), verdict.reason, figures, True, report)
