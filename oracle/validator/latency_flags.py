"""Latency flags: challenge timings that do not fit the claimed speed, agreed k of n on chain.

Each validator's challenge timings are its own (another validator timed other challenges, over
another network path), so the signed anomaly assessment cannot read them. Instead, after its
challenges of an epoch, each validator classifies the timings of the nodes it attested with its
own view of the network (:func:`classify`: per GPU model, the robust level and spread of the
ratios elapsed / time at the claimed speed across the nodes it checked -- the latency model of
:func:`oracle.validator.anomaly_model.learn` and the tests of
:func:`oracle.validator.anomaly_latency.latency_reasons`, run on this one validator's timings):

* ``latency_too_fast`` -- answers faster than the claimed speed allows (cached or precomputed);
* ``latency_inconsistent`` -- far slower, or far more jittery, than its peers (outsourced);

(a node that shows both is flagged ``latency_too_fast``, the stronger signal). A flag is an
accusation, so a validator raises one only where it has a view of the network: a GPU model with
fewer than :data:`~oracle.validator.anomaly_model.MIN_PEERS` nodes timed this epoch gets no flag
(the fixed fallback bounds are not enough: a small network of honest nodes that benchmark
conservatively would all look "too fast"). For each flagged
node it signs a :class:`~oracle.attest.Fault` with ``slashAmount = 0``, ``finder`` the zero
address and ``reasonHash = keccak256(reason string)``:

=====================  ================================
kind                   reason string (UTF-8, hashed)
=====================  ================================
latency_too_fast       ``oracle.latency.too_fast``
latency_inconsistent   ``oracle.latency.inconsistent``
=====================  ================================

The flag goes through the journal and posting path of every fault (:mod:`oracle.validator.posting`):
it reaches the chain only when k validators signed the same flag, i.e. saw the same thing
independently. ``AttestationRegistry.reportFault`` records a zero-slash fault (``FaultReported``
with ``slashed`` 0) and moves no stake. :mod:`oracle.validator.history` reads these flags of
earlier epochs back as agreed evidence, and the anomaly multiplier applies their severities.
A validator restarted mid-epoch classifies only the nodes it probed after the restart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from oracle.attest import Fault
from oracle.validator.anomaly_latency import latency_reasons
from oracle.validator.anomaly_model import learn
from oracle.validator.evidence import Evidence, LatencyRecord, Registration, model_key
from oracle.validator.nodes import NodeInfo

REASON_STRINGS = {
    "latency_too_fast": "oracle.latency.too_fast",
    "latency_inconsistent": "oracle.latency.inconsistent",
}
REASON_HASHES = {k: keccak(text=s) for k, s in REASON_STRINGS.items()}
KIND_OF_HASH = {h: k for k, h in REASON_HASHES.items()}
"""``reasonHash`` (32 bytes) -> flag kind, for reading ``FaultReported`` back."""
FLAG_FINDER = "0x" + "00" * 20
"""A flag pays no one, and naming no finder keeps every validator's flag byte-identical."""


@dataclass(frozen=True)
class Timing:
    """One passed challenge: ``elapsed_s`` on the validator's clock, ``expected_s`` the time its
    work takes at the node's claimed speed; ``label`` tells the challenges of one node apart."""

    label: str
    elapsed_s: float
    expected_s: float


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def classify(
    epoch: int, validator: str, registrations: Sequence[Registration], timings: dict[str, Sequence[Timing]]
) -> dict[str, str]:
    """node key -> flag kind, for the nodes whose ``timings`` (this validator's, of ``epoch``; keyed
    by :func:`~oracle.validator.evidence.node_key`) do not fit: every node of ``registrations`` with
    timings is compared with the others of its GPU model, where at least ``MIN_PEERS`` of them were
    timed (pure; integers inside)."""
    lats = tuple(
        LatencyRecord(key, epoch, f"{validator}/{t.label}/{i}", _us(t.elapsed_s), _us(t.expected_s))
        for key, ts in sorted(timings.items())
        for i, t in enumerate(ts)
    )
    m = learn(Evidence(epoch + 1, tuple(registrations), (), (), lats))
    out = {}
    for key, ratios in m.evidence.latency.items():
        reg = m.evidence.regs.get(key)
        model = model_key(reg.gpu_model) if reg else ""
        if model not in m.latency_level:
            continue  # too few peers timed: no view of the network, no flag
        kinds = {r.kind for r in latency_reasons(m, model, ratios)}
        for kind in ("latency_too_fast", "latency_inconsistent"):
            if kind in kinds:
                out[key] = kind
                break
    return out


def flag_fault(node: NodeInfo, epoch: int, kind: str) -> Fault:
    """The zero-slash fault every validator that found ``kind`` signs for ``node`` at ``epoch``."""
    return Fault(node.provider, node.node_id, epoch, REASON_HASHES[kind], 0, FLAG_FINDER)


class EpochTimings:
    """What one validator timed this epoch: the nodes it attested and their challenge timings."""

    def __init__(self) -> None:
        self._seen: dict[int, dict[str, tuple[NodeInfo, tuple[Timing, ...]]]] = {}
        self._lock = threading.Lock()

    def record(self, epoch: int, node: NodeInfo, timings: Sequence[Timing]) -> None:
        with self._lock:
            self._seen.setdefault(epoch, {})[node.key] = (node, tuple(timings))
            for old in sorted(self._seen)[:-2]:
                del self._seen[old]

    def flags(self, epoch: int, validator: str) -> list[tuple[NodeInfo, str]]:
        """The nodes to flag at ``epoch`` (sorted by node key), with their kinds (:func:`classify`)."""
        with self._lock:
            seen = dict(self._seen.get(epoch, {}))
        regs = [
            Registration(n.node_id, n.provider, n.gpu_model, None, i)
            for i, (n, _) in enumerate(v for _, v in sorted(seen.items()))
        ]
        found = classify(epoch, validator, regs, {k: ts for k, (_, ts) in seen.items() if ts})
        return [(seen[k][0], kind) for k, kind in sorted(found.items())]
