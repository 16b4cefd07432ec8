"""Anomaly detection over the network's attested figures: a per-node score, its reasons, and the
multiplier that lowers the node's attested score.

Validators sign the multiplied score, so k of them must compute the same multiplier bit for bit.
Three rules make that hold:

1. **Agreed input.** :class:`Evidence` for epoch ``e`` holds only what every validator reads the
   same way: the registrations (``NodeRegistered`` / ``nodeInfo``), the attested figures of
   epochs ``e - WINDOW .. e - 1`` as posted on chain, the faults posted on chain in those epochs,
   the latency flags posted in those epochs (zero-slash faults k validators signed, each from its
   own challenge timings: :mod:`oracle.validator.latency_flags`), and challenge latencies only
   where they are signed records every validator holds. Data of the
   current epoch (a validator's own probe, which another validator may not have made) never enters
   the statistics: a validator that reached fewer nodes this epoch still reads the same chain. The
   one exception is the candidate figures being attested, which are checked against the statistics
   but never enter them -- and those are identical for every signer, or the signatures would not
   aggregate anyway. :attr:`NetworkReport.evidence_digest` (SHA-256 of the cleaned evidence) lets
   validators compare inputs when their outputs differ.
2. **Integers only.** Figures are the registry's integers (TFLOPS x 100, GB/s, W); every ratio is
   in parts per million; medians, MADs and robust z-scores are integer operations
   (:mod:`oracle.validator.robust`); severities combine by integer products in a fixed (sorted) order.
3. **Canonical order.** Inputs are normalised (lower-case hex ids), de-duplicated and sorted
   before use, so the caller's order never matters; a bad record is dropped with a note, never a
   crash.

Signals (``kind`` of a :class:`Reason`; severity in ppm, multiplier = prod(1 - severity)):

=====================  =========================================================  ==============
kind                   fires when                                                 severity
=====================  =========================================================  ==============
above_peak             a figure exceeds the card's published peak by > 3%           900,000
network_outlier        a figure's robust z vs the model's nodes > 6 (>= 8 nodes)    300,000-800,000
jump                   a figure rose above the node's own median by more than       400,000-800,000
                       max(10%, 6 x the model's learned epoch-to-epoch spread)
latency_too_fast       a ``latency_too_fast`` flag on chain in the window (k         800,000
                       validators each found, in its own timings of one epoch,
                       median challenge time / time at the claimed speed < the
                       fast bound: 0.5, raised to centre - 6 sigma of the model
                       up to 0.8): work not done (cached / precomputed)
latency_inconsistent   a ``latency_inconsistent`` flag on chain in the window       500,000
                       (median ratio far above the model's, z > 6 and +0.3, or
                       its spread across challenges far above the model's):
                       outsourced
duplicate_uuid         the same normalised GPU UUID registered under an earlier     1,000,000
                       node id (the first registration keeps its score)
uuid_mismatch          keccak256(UUID) is not the node id                           600,000
                       (both UUID signals read NodeRegistered's UUID; defence in
                       depth: ComputeStaking derives the id from the UUID in
                       NVML's one spelling, so neither can fire against it)
shared_endpoint        the same challenge endpoint (metadataURI) registered under   600,000
                       an earlier node id: one server answering for two GPUs
operator_cofaults      >= 2 epochs in which >= half (and >= 2) of an operator's     500,000
                       nodes faulted together, >= 10x what independent faults at
                       the network's rate would give (network-wide outages,
                       > 20% of nodes faulting, excluded)
clustered_faults       >= 3 faults in the window and >= 10x the network's rate      200,000 x (f - 2)
invalid_figure         a candidate figure is NaN, negative, not an integer or       500,000
                       above uint32
=====================  =========================================================  ==============

Notes (severity 0) explain what could not be checked: ``no_history``, ``few_peers``,
``unknown_model``, ``no_latency`` (no latency flag on chain in the window, and no signed timings),
``unregistered``. The latency tests (:mod:`oracle.validator.anomaly_latency`) also read signed
timing records where the evidence has them. Zero figures mean "not measured" and are
skipped. The hand-set numbers above are bounds around statistics learned from the evidence
(medians, MADs); where too few data exist they are the fallback, and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oracle.validator.anomaly_latency import LATENCY_SEVERITY, latency_signals
from oracle.validator.anomaly_model import (
    MIN_PEERS,
    OUTAGE_PPM,
    RATE_FACTOR,
    RATE_FLOOR_PPM,
    NetworkModel,
    learn,
    pct,
)
from oracle.validator.anomaly_reason import Reason
from oracle.validator.evidence import (
    WINDOW,
    Evidence,
    Observation,
    figures_of,
    model_key,
    node_key,
    peak_fixed,
)
from oracle.validator.robust import PPM, median, ratio_ppm, robust_z_milli

MIN_HISTORY = 3
PEAK_TOLERANCE_PPM = 30_000
Z_LIMIT_MILLI = 6_000
JUMP_FLOOR_PPM = 100_000
DELTA_FALLBACK_PPM = 20_000
FAULT_MIN = 3
SEVERITY = {
    "above_peak": 900_000,
    **LATENCY_SEVERITY,
    "duplicate_uuid": 1_000_000,
    "uuid_mismatch": 600_000,
    "shared_endpoint": 600_000,
    "operator_cofaults": 500_000,
    "invalid_figure": 500_000,
}


@dataclass(frozen=True)
class NodeAnomaly:
    node_id: str
    score_ppm: int
    """0 = nothing anomalous, 1,000,000 = certainly anomalous (= 1e6 - multiplier)."""
    multiplier_ppm: int
    reasons: tuple[Reason, ...]

    @property
    def flagged(self) -> bool:
        return self.score_ppm > 0

    def kinds(self) -> set[str]:
        """The signals that fired (notes excluded)."""
        return {r.kind for r in self.reasons if r.severity_ppm > 0}

    def apply(self, score: int) -> int:
        """The attested score lowered by the multiplier (floor)."""
        return score * self.multiplier_ppm // PPM

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "score_ppm": self.score_ppm,
            "multiplier_ppm": self.multiplier_ppm,
            "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class NetworkReport:
    epoch: int
    evidence_digest: str
    nodes: dict[str, NodeAnomaly]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "evidence_digest": self.evidence_digest,
            "notes": list(self.notes),
            "nodes": [self.nodes[k].to_json() for k in sorted(self.nodes)],
        }


def _fig(f: str, v: int) -> str:
    return f"{v} GB/s" if f == "mem_bandwidth" else f"{v // 100}.{v % 100:02d} TFLOPS"


def assess(
    m: NetworkModel, node: Any, candidate: Observation | None = None, gpu_model: str | None = None
) -> NodeAnomaly:
    """The anomaly of one node: of ``candidate`` (the figures about to be attested, checked but
    never learned from) or, without one, of the node's latest attested figures. ``gpu_model``
    (the model the attestation names, from the node's current registration) stands in for a
    registration the evidence does not have yet (a node registered after the cutoff)."""
    k = node_key(node)
    if k is None:
        return NodeAnomaly(str(node)[:80], 0, PPM, (Reason("unregistered", 0, "not a 32-byte node id"),))
    reasons: list[Reason] = []
    reg = m.evidence.regs.get(k)
    name = reg.gpu_model if reg is not None else gpu_model if isinstance(gpu_model, str) else ""
    model = model_key(name) if name else ""
    if reg is None:
        reasons.append(
            Reason(
                "unregistered",
                0,
                "no registration in the evidence: "
                + (
                    f"checked as a {name!r} against its published peak and peers"
                    if name
                    else "compared with nothing"
                ),
            )
        )
    series = m.evidence.history.get(k, [])
    if candidate is not None:
        current, bad = figures_of(candidate)
        history = series
        if bad:
            reasons.append(
                Reason(
                    "invalid_figure",
                    SEVERITY["invalid_figure"],
                    f"not an integer in 0..2^32-1, treated as not measured: {', '.join(bad)}",
                )
            )
    else:
        current = series[-1][1] if series else {}
        history = series[:-1]
    reasons += _figure_reasons(m, model, name, current, history)
    reasons += latency_signals(m, model, m.evidence.latency.get(k, []), m.evidence.flags.get(k, {}))
    reasons += _fault_reasons(m, k)
    return _combine(k, reasons)


def _figure_reasons(
    m: NetworkModel,
    model: str,
    gpu_name: str,
    current: dict[str, int],
    history: list[tuple[int, dict[str, int]]],
) -> list[Reason]:
    out: list[Reason] = []
    peaks = peak_fixed(gpu_name) if gpu_name else {}
    if not peaks:
        out.append(
            Reason("unknown_model", 0, f"no published peak for {gpu_name or 'an unregistered node'!r}")
        )
    over = [
        f"{f} {_fig(f, v)} > peak {_fig(f, peaks[f])}"
        for f, v in sorted(current.items())
        if f in peaks and v * PPM > peaks[f] * (PPM + PEAK_TOLERANCE_PPM)
    ]
    if over:
        out.append(Reason("above_peak", SEVERITY["above_peak"], "; ".join(over)))
    outliers, zmax = [], 0
    for f, v in sorted(current.items()):
        lv = m.levels.get((model, f))
        if lv is None:
            continue
        z = robust_z_milli(v, lv.centre, lv.sigma)
        if z > Z_LIMIT_MILLI:
            zmax = max(zmax, z)
            outliers.append(
                f"{f} {_fig(f, v)} vs median {_fig(f, lv.centre)} of {lv.count} nodes (z {z // 1000})"
            )
    if outliers:
        sev = min(800_000, 300_000 + (zmax - Z_LIMIT_MILLI) * 100)
        out.append(Reason("network_outlier", sev, "; ".join(outliers)))
    elif not any((model, f) in m.levels for f in current):
        n = m.peers.get(model, 0)
        out.append(
            Reason(
                "few_peers",
                0,
                f"{n} attested {model or 'unknown'} node(s) (< {MIN_PEERS}): network comparison skipped",
            )
        )
    jumps, worst, checked = [], 0, False
    for f, v in sorted(current.items()):
        past = [fig[f] for _, fig in history if f in fig]
        if len(past) < MIN_HISTORY:
            continue
        checked = True
        h = median(past)
        sigma, pairs = m.deltas.get((model, f), (DELTA_FALLBACK_PPM, 0))
        limit = max(JUMP_FLOOR_PPM, Z_LIMIT_MILLI * sigma // 1000)
        r = ratio_ppm(v - h, h)
        if r > limit:
            worst = max(worst, r - limit)
            basis = f"learned from {pairs} changes" if pairs else "fallback spread"
            jumps.append(f"{f} {pct(r)} over its median {_fig(f, h)} (limit {pct(limit)}, {basis})")
    if jumps:
        out.append(Reason("jump", min(800_000, 400_000 + 2 * worst), "; ".join(jumps)))
    elif not checked:
        out.append(
            Reason(
                "no_history",
                0,
                f"fewer than {MIN_HISTORY} attested epochs in the last {WINDOW}: jump check skipped",
            )
        )
    return out


def _fault_reasons(m: NetworkModel, k: str) -> list[Reason]:
    out = []
    if k in m.duplicates:
        out.append(
            Reason(
                "duplicate_uuid",
                SEVERITY["duplicate_uuid"],
                f"GPU UUID registered first as node {m.duplicates[k]}",
            )
        )
    if k in m.shared:
        out.append(
            Reason(
                "shared_endpoint",
                SEVERITY["shared_endpoint"],
                f"its challenge endpoint was registered first by node {m.shared[k]}: one machine answering for two GPUs",
            )
        )
    if k in m.mismatched:
        out.append(
            Reason(
                "uuid_mismatch",
                SEVERITY["uuid_mismatch"],
                "keccak256 of the registered GPU UUID is not the node id",
            )
        )
    reg = m.evidence.regs.get(k)
    if reg is not None and reg.provider in m.cofault_ops:
        out.append(Reason("operator_cofaults", SEVERITY["operator_cofaults"], m.cofault_ops[reg.provider]))
    f = m.node_faults.get(k, 0)
    rate = max(m.fault_rate_ppm, RATE_FLOOR_PPM)
    if f >= FAULT_MIN and f * PPM >= RATE_FACTOR * m.quiet_epochs * rate:
        out.append(
            Reason(
                "clustered_faults",
                min(900_000, 200_000 * (f - 2)),
                f"{f} faults in {m.quiet_epochs} epochs without a network outage (network rate {pct(m.fault_rate_ppm)})",
            )
        )
    return out


def _combine(k: str, reasons: list[Reason]) -> NodeAnomaly:
    ordered = tuple(sorted(reasons, key=lambda r: (r.kind, r.detail)))
    mult = PPM
    for r in ordered:
        mult = mult * (PPM - r.severity_ppm) // PPM
    return NodeAnomaly(k, PPM - mult, mult, ordered)


def assess_network(ev: Evidence, candidates: dict[Any, Observation] | None = None) -> NetworkReport:
    """Every registered node (and every candidate) assessed against one model learned from ``ev``."""
    return network_report(learn(ev), candidates)


def network_report(
    m: NetworkModel,
    candidates: dict[Any, Observation] | None = None,
    gpu_models: dict[Any, str] | None = None,
) -> NetworkReport:
    """Every node the model knows, and every candidate (``gpu_models``: see :func:`assess`)."""
    cands = {node_key(n): o for n, o in (candidates or {}).items()}
    models = {node_key(n): g for n, g in (gpu_models or {}).items()}
    keys = sorted({*m.evidence.regs, *(k for k in cands if k is not None)})
    nodes = {k: assess(m, k, cands.get(k), models.get(k)) for k in keys}
    notes = list(m.evidence.notes)
    if m.outages:
        notes.append(
            f"network-wide outage epochs (> {pct(OUTAGE_PPM)} of nodes faulted) left out of fault signals: {list(m.outages)}"
        )
    return NetworkReport(m.epoch, m.digest, nodes, tuple(notes))
