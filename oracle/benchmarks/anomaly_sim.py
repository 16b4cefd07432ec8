"""The simulated network :mod:`oracle.benchmarks.anomaly` evaluates the anomaly detection on:
nodes of several GPU models and many operators over ``WINDOW + 1`` epochs, each anomaly kind
injected into a known share of them; :func:`simulate` returns the on-chain evidence, the assessed
epoch's candidates and the truth.

Honest nodes (the noise a real network shows):

* per card, a fixed efficiency vs the published peak per figure (GEMM ~ N(0.78, 0.025); 2% of
  cards overclocked x1.05-1.10, 3% power-capped x0.7-0.9; bandwidth ~ N(0.82, 0.025); clipped to
  0.5-0.97; the sweep widens both spreads to 0.04 and 0.06), a
  fixed +-1% per precision, and per epoch a re-benchmark noise of N(1, 0.01) -- or, for 20% of
  nodes, the same figures every epoch (a cached benchmark);
* 3% get a driver update in a random epoch (+N(4%, 2%) from then on), 5% throttle in random
  epochs (-5 .. -25%, which only lowers their own score);
* challenge timings from 3 validators per epoch, one challenge per precision (4): ratio = compute
  noise N(1, 0.03) + round trip (5-80 ms, 5% of nodes 150-300 ms, +-20% jitter) over a 1 s
  challenge. As on the real network, the timings are not evidence: each validator classifies its
  own timings of each epoch (:func:`oracle.validator.latency_flags.classify`) and a node's flag
  goes on chain when :data:`K` of the 3 found the same kind (:func:`latency_flags_of`);
* faults: 0.5% per node-epoch at random, one network-wide outage epoch (30% of nodes fault), and
  a site outage (all of an operator's nodes fault) at 0.3% per operator-epoch.

Injected (disjoint sets of nodes; the signal each should raise in brackets): ``overclaim`` figures
above the card's peak from the start [above_peak]; ``inflated`` claims 1.2-1.5 x its true figures,
below the peak [network_outlier]; ``jump`` honest history, then 1.15-1.5 x in the assessed epoch
[jump]; ``caching`` answers in 0.05-0.4 of the time its claim needs [latency_too_fast];
``outsourcing`` every answer 1.3-1.8 x slower with +-0.3 jitter [latency_inconsistent] (the
deadline, which would fault the slowest of these answers, is not modelled);
``duplicate`` a case variant of an earlier node's UUID [duplicate_uuid]; ``mismatch`` a node id that
is not its UUID's keccak [uuid_mismatch]; ``shared`` the challenge endpoint of an earlier node,
spelled differently [shared_endpoint]; ``sybil`` operators of 4-8 node ids on one machine that
fault together in 2-4 epochs [operator_cofaults]; ``flaky`` 3-6 faults in the window
[clustered_faults].
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import keccak

from oracle.validator.evidence import (
    WINDOW,
    Evidence,
    FaultRecord,
    LatencyFlag,
    Observation,
    Registration,
    peak_fixed,
)
from oracle.validator.latency_flags import Timing, classify

MODELS = [  # (NVML name, share of nodes, typical board power W)
    ("NVIDIA H100 80GB HBM3", 0.30, 700),
    ("NVIDIA A100-SXM4-80GB", 0.25, 400),
    ("NVIDIA GeForce RTX 4090", 0.20, 450),
    ("NVIDIA L40S", 0.12, 350),
    ("NVIDIA H200", 0.08, 700),
    ("NVIDIA L4", 0.045, 72),
    ("Acme X1 Accelerator", 0.005, 300),  # no published peak, few nodes
]
INJECTED = {  # kind -> (share of nodes, the signal it should raise)
    "overclaim": (0.02, "above_peak"),
    "inflated": (0.02, "network_outlier"),
    "jump": (0.02, "jump"),
    "caching": (0.02, "latency_too_fast"),
    "outsourcing": (0.02, "latency_inconsistent"),
    "duplicate": (0.015, "duplicate_uuid"),
    "mismatch": (0.01, "uuid_mismatch"),
    "shared": (0.01, "shared_endpoint"),
    "flaky": (0.02, "clustered_faults"),
}
SYBIL_SHARE = 0.02  # of nodes: sybil operators of 4-8 node ids (about 6 on average)
VALIDATORS = ["0x" + f"{i:040x}" for i in (0xA1, 0xB2, 0xC3)]
K = 2
"""Signatures a latency flag needs (of the 3 validators)."""
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
EPOCHS = WINDOW + 1


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Scenario:
    """The knobs the sweep turns: injected magnitudes and the honest cards' spread."""

    inflate: tuple[float, float] = (1.2, 1.5)
    jump: tuple[float, float] = (1.15, 1.5)
    honest_sigma: float = 0.025


@dataclass
class FlagCounts:
    """What the per-validator classification and the k-of-n agreement did (node-epochs)."""

    node_epochs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    validator_flags: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    chain_flags: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


def latency_flags_of(
    regs: list[Registration],
    timings: dict[tuple[int, str], dict[str, list[Timing]]],
    truth: dict[str, str],
    counts: FlagCounts | None = None,
) -> list[LatencyFlag]:
    """Each validator's own classification of each epoch's timings, and the flags :data:`K` of them
    agree on (what reaches the chain)."""
    flags = []
    for epoch in sorted({e for e, _ in timings}):
        votes: dict[tuple[str, str], int] = defaultdict(int)
        for v in VALIDATORS:
            found = classify(epoch, v, regs, timings.get((epoch, v), {}))
            for key, kind in found.items():
                votes[(key, kind)] += 1
                if counts is not None:
                    counts.validator_flags[(truth[key], kind)] += 1
        if counts is not None:
            for key in timings.get((epoch, VALIDATORS[0]), {}):
                counts.node_epochs[truth[key]] += 1
        for (key, kind), n in sorted(votes.items()):
            if n >= K:
                flags.append(LatencyFlag(key, epoch, kind))
                if counts is not None:
                    counts.chain_flags[(truth[key], kind)] += 1
    return flags


def simulate(
    n_nodes: int, seed: int, scenario: Scenario = Scenario(), counts: FlagCounts | None = None
) -> tuple[Evidence, dict[str, Observation], dict[str, str]]:
    """The evidence of epoch ``EPOCHS``, the candidates (that epoch's figures) and the truth
    (node key -> injected kind, or "honest"); ``counts`` gets the latency flags' counts."""
    rng = random.Random(seed)
    names = [m[0] for m in MODELS]
    weights = [m[1] for m in MODELS]
    regs, obs, faults = [], [], []
    lats: dict[tuple[int, str], dict[str, list[Timing]]] = defaultdict(dict)
    cands: dict[str, Observation] = {}
    truth: dict[str, str] = {}
    kinds = [k for k, (share, _) in INJECTED.items() for _ in range(round(share * n_nodes))]
    n_sybil_ops = max(1, round(SYBIL_SHARE * n_nodes / 6))
    honest = n_nodes - len(kinds) - 6 * n_sybil_ops
    plan = kinds + ["honest"] * honest
    rng.shuffle(plan)
    # operators: sizes 1/2/4/8 for ordinary nodes, then the sybil operators
    ops: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(plan):
        size = rng.choices([1, 2, 4, 8], [0.5, 0.2, 0.2, 0.1])[0]
        ops.append(("honest", plan[i : i + size]))
        i += size
    for _ in range(n_sybil_ops):
        ops.append(("sybil", ["sybil"] * rng.randint(4, 8)))
    outage_epoch = rng.randint(3, EPOCHS - 2)
    first_uuids: list[str] = []
    endpoints: list[str] = []
    order = 0
    for op_index, (op_kind, members) in enumerate(ops):
        provider = f"0x{op_index + 1:040x}"
        op_faults = {e for e in range(1, EPOCHS) if rng.random() < 0.003}
        if op_kind == "sybil":
            op_faults |= set(
                rng.sample([e for e in range(1, EPOCHS) if e != outage_epoch], rng.randint(2, 4))
            )
        sybil_model = rng.choices(names, weights)[0]
        for slot, kind in enumerate(members):
            order += 1
            endpoint = f"http://10.{op_index // 250}.{op_index % 250}.1:{8000 + slot}"
            if kind == "shared" and endpoints:
                endpoint = rng.choice(endpoints).upper() + "/"
            else:
                endpoints.append(endpoint)
            model = sybil_model if op_kind == "sybil" else rng.choices(names, weights)[0]
            uuid = _uuid(rng)
            node = keccak(uuid.encode())
            if kind == "duplicate" and first_uuids:
                uuid = rng.choice(first_uuids).lower()
                node = keccak(uuid.encode())
            elif kind == "mismatch":
                node = keccak(text=uuid + "-other")
            else:
                first_uuids.append(uuid)
            key = "0x" + node.hex()
            truth[key] = kind
            regs.append(Registration(node, provider, model, uuid, order, endpoint))
            _node_history(rng, scenario, key, model, kind, op_faults, outage_epoch, obs, faults, lats, cands)
    flags = latency_flags_of(regs, lats, truth, counts)
    return Evidence(EPOCHS, tuple(regs), tuple(obs), tuple(faults), flags=tuple(flags)), cands, truth


def _node_history(
    rng: random.Random,
    scenario: Scenario,
    key: str,
    model: str,
    kind: str,
    op_faults: set[int],
    outage_epoch: int,
    obs: list,
    faults: list,
    lats: dict,
    cands: dict,
) -> None:
    peaks = peak_fixed(model) or {
        "fp32": 4000,
        "tf32": 8000,
        "fp16": 16000,
        "bf16": 16000,
        "mem_bandwidth": 1500,
    }
    base = rng.gauss(0.78, scenario.honest_sigma)
    if rng.random() < 0.02:  # factory-overclocked or exceptionally cooled card
        base *= rng.uniform(1.05, 1.10)
    elif rng.random() < 0.03:  # power-capped card
        base *= rng.uniform(0.7, 0.9)
    eff = {f: min(0.97, max(0.5, base * rng.gauss(1, 0.01))) for f in ("fp32", "tf32", "fp16", "bf16")}
    eff["mem_bandwidth"] = min(0.97, max(0.5, rng.gauss(0.82, scenario.honest_sigma)))
    if kind == "inflated":
        factor = rng.uniform(*scenario.inflate)
        eff = {f: min(0.99, e * factor) for f, e in eff.items()}
    if kind == "overclaim":
        eff = {f: e * rng.uniform(1.4, 1.9) for f, e in eff.items()}
    cached = rng.random() < 0.2
    upgrade = rng.randint(2, EPOCHS) if rng.random() < 0.03 else None
    upgrade_gain = 1 + max(0.0, rng.gauss(0.04, 0.02))
    throttle = (
        {e for e in range(1, EPOCHS + 1) if rng.random() < 0.05 * 0.3} if rng.random() < 0.05 else set()
    )
    rtt = rng.uniform(0.15, 0.3) if rng.random() < 0.05 else rng.uniform(0.005, 0.08)
    flaky = set(rng.sample(range(1, EPOCHS), rng.randint(3, 6))) if kind == "flaky" else set()
    fixed_noise = {f: rng.gauss(1, 0.01) for f in eff}
    for epoch in range(1, EPOCHS + 1):
        noise = fixed_noise if cached else {f: rng.gauss(1, 0.01) for f in eff}
        mult = 1.0
        if upgrade is not None and epoch >= upgrade:
            mult *= upgrade_gain
        if epoch in throttle:
            mult *= rng.uniform(0.75, 0.95)
        if kind == "jump" and epoch == EPOCHS:
            mult *= rng.uniform(*scenario.jump)
        figs = {}
        for f, e in eff.items():
            v = e * noise[f] * mult
            if kind == "jump" and epoch == EPOCHS:
                v = min(v, 1.0)
            figs[f] = max(1, round(peaks.get(f, 0) * v))
        o = Observation(
            key, epoch, figs["fp32"], figs["tf32"], figs["fp16"], figs["bf16"], figs["mem_bandwidth"]
        )
        if epoch == EPOCHS:
            cands[key] = o
            continue
        fault = (
            epoch in op_faults
            or epoch in flaky
            or (epoch == outage_epoch and rng.random() < 0.3)
            or rng.random() < 0.005
        )
        if fault:
            faults.append(FaultRecord(key, epoch))
            continue
        obs.append(o)
        for v in VALIDATORS:
            mine = lats[(epoch, v)].setdefault(key, [])
            for p in PRECISIONS:
                if kind == "caching":
                    ratio = rng.uniform(0.05, 0.4)
                elif kind == "outsourcing":
                    ratio = rng.uniform(1.3, 1.8) + rng.uniform(-0.3, 0.3)
                else:
                    ratio = rng.gauss(1, 0.03) + rtt * rng.uniform(0.8, 1.2)
                mine.append(Timing(p, max(1e-6, ratio), 1.0))
