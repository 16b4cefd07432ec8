"""What normal looks like, learned from the evidence: the half of :mod:`oracle.validator.anomaly` that reads
the whole network once per epoch (integers only, inputs sorted; see that module's doc).

Per GPU model (grouped by the published-peaks row the name matches): the robust level of each
figure over the model's nodes (median and MAD-spread of each node's own median; only with at
least :data:`MIN_PEERS` nodes), the spread of epoch-to-epoch changes (at least :data:`MIN_PAIRS`
pairs), the level and variability of challenge timings. Network wide: the fault rate per
node-epoch outside outage epochs (more than :data:`OUTAGE_PPM` of active nodes faulting), each
node's faults, the operators whose nodes fault together, and duplicate or mismatched UUIDs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import keccak

from oracle.validator.evidence import (
    FIGURES,
    CleanEvidence,
    Evidence,
    clean,
    evidence_digest,
    model_key,
    normalise_endpoint,
    normalise_uuid,
)
from oracle.validator.robust import PPM, mad, median, ratio_ppm, spread

MIN_PEERS = 8
MIN_PAIRS = 16
MIN_LATENCY_RECORDS = 3
LEVEL_FLOOR_PPM = 10_000
DELTA_FLOOR_PPM = 5_000
OUTAGE_PPM = 200_000
RATE_FACTOR = 10
RATE_FLOOR_PPM = 1_000
COFAULT_MIN_EPOCHS = 2


@dataclass(frozen=True)
class Level:
    """A learned robust centre and spread over ``count`` nodes."""

    centre: int
    sigma: int
    count: int


def _level(values: list[int], floor_ppm: int) -> Level:
    c = median(values)
    return Level(c, spread(values, floor_ppm, c), len(values))


@dataclass
class NetworkModel:
    """What :func:`learn` takes from the evidence: per GPU model, the level of each figure over
    its nodes, the spread of epoch-to-epoch changes, the latency level and variability; network
    wide, the fault rate, outage epochs, flagged operators and duplicate UUIDs."""

    epoch: int
    evidence: CleanEvidence
    digest: str
    peers: dict[str, int] = field(default_factory=dict)
    levels: dict[tuple[str, str], Level] = field(default_factory=dict)
    deltas: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    latency_level: dict[str, Level] = field(default_factory=dict)
    latency_var: dict[str, Level] = field(default_factory=dict)
    fault_rate_ppm: int = 0
    outages: tuple[int, ...] = ()
    quiet_epochs: int = 0
    node_faults: dict[str, int] = field(default_factory=dict)
    cofault_ops: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)
    mismatched: set[str] = field(default_factory=set)


def learn(ev: Evidence) -> NetworkModel:
    """Learn what normal looks like from the evidence (pure; see the module doc)."""
    c = clean(ev)
    m = NetworkModel(ev.epoch, c, evidence_digest(c.canonical, ev.epoch))
    by_model: dict[str, list[str]] = defaultdict(list)
    for k, reg in c.regs.items():
        by_model[model_key(reg.gpu_model)].append(k)
    for model, nodes in sorted(by_model.items()):
        m.peers[model] = sum(1 for k in nodes if c.history.get(k))
        for f in FIGURES:
            meds, deltas = [], []
            for k in nodes:
                series = [(e, fig[f]) for e, fig in c.history.get(k, []) if f in fig]
                if series:
                    meds.append(median(v for _, v in series))
                deltas += [ratio_ppm(b - a, a) for (_, a), (_, b) in zip(series, series[1:], strict=False)]
            if len(meds) >= MIN_PEERS:
                m.levels[(model, f)] = _level(meds, LEVEL_FLOOR_PPM)
            if len(deltas) >= MIN_PAIRS:
                m.deltas[(model, f)] = (max(spread(deltas, 0), DELTA_FLOOR_PPM), len(deltas))
        lat_meds = [median(c.latency[k]) for k in nodes if k in c.latency]
        lat_mads = [mad(c.latency[k]) for k in nodes if len(c.latency.get(k, ())) >= MIN_LATENCY_RECORDS]
        if len(lat_meds) >= MIN_PEERS:
            m.latency_level[model] = _level(lat_meds, LEVEL_FLOOR_PPM)
        if len(lat_mads) >= MIN_PEERS:
            m.latency_var[model] = _level(lat_mads, 100_000)
    _learn_faults(m, c)
    _learn_registrations(m, c)
    return m


def _learn_faults(m: NetworkModel, c: CleanEvidence) -> None:
    active: dict[int, set[str]] = defaultdict(set)
    for k, series in c.history.items():
        for e, _ in series:
            active[e].add(k)
    faulted: dict[int, set[str]] = defaultdict(set)
    for k, e in c.faults:
        active[e].add(k)
        faulted[e].add(k)
    outages = sorted(e for e in active if len(faulted[e]) * PPM > OUTAGE_PPM * len(active[e]))
    quiet = [e for e in sorted(active) if e not in outages]
    m.outages, m.quiet_epochs = tuple(outages), len(quiet)
    n_faults = sum(len(faulted[e]) for e in quiet)
    n_active = sum(len(active[e]) for e in quiet)
    m.fault_rate_ppm = ratio_ppm(n_faults, n_active)
    for e in quiet:
        for k in faulted[e]:
            m.node_faults[k] = m.node_faults.get(k, 0) + 1
    rate = max(m.fault_rate_ppm, RATE_FLOOR_PPM)
    by_op: dict[str, list[str]] = defaultdict(list)
    for k, reg in c.regs.items():
        by_op[reg.provider].append(k)
    for op, nodes in sorted(by_op.items()):
        n = len(nodes)
        if n < 2:
            continue
        members = set(nodes)
        together = [e for e in quiet if (hit := len(faulted[e] & members)) >= 2 and 2 * hit >= n]
        pair_ppm = min(PPM, n * (n - 1) // 2 * rate * rate // PPM)
        if len(together) >= COFAULT_MIN_EPOCHS and len(together) * PPM >= RATE_FACTOR * len(quiet) * pair_ppm:
            m.cofault_ops[op] = (
                f"operator {op}: at least half of its {n} nodes faulted together in epochs "
                f"{', '.join(map(str, together))} (network fault rate {pct(m.fault_rate_ppm)} per node-epoch)"
            )


def _learn_registrations(m: NetworkModel, c: CleanEvidence) -> None:
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    places: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for k, reg in c.regs.items():
        if reg.endpoint and (place := normalise_endpoint(reg.endpoint)):
            places[place].append((reg.order, k))
        if reg.gpu_uuid is None:
            continue
        if "0x" + keccak(reg.gpu_uuid.encode()).hex() != k:
            m.mismatched.add(k)
        u = normalise_uuid(reg.gpu_uuid)
        if u:
            groups[u].append((reg.order, k))
    for found, members in ((m.duplicates, groups), (m.shared, places)):
        for group in members.values():
            group.sort()
            for _, k in group[1:]:
                found[k] = group[0][1]


def pct(ppm: int) -> str:
    """A ppm figure as a percentage with one decimal (integer formatting only)."""
    sign = "-" if ppm < 0 else ""
    a = abs(ppm)
    return f"{sign}{a // 10_000}.{a % 10_000 // 1_000}%"
