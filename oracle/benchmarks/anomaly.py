"""Evaluation of :mod:`oracle.validator.anomaly` on a simulated network (no chain: the statistics only).

``python -m oracle.benchmarks.anomaly`` simulates ``--nodes`` nodes (several GPU models, many
operators) over ``WINDOW + 1`` epochs for each of ``--seeds`` seeds, injects each anomaly kind into
a known share of the nodes, assesses the last epoch (its figures as the candidates, the earlier
epochs as the on-chain evidence) and writes ``ANOMALY.md``'s numbers to ``anomaly-results.json``:
precision and recall per kind, and the false-alarm rate on honest nodes.

Honest nodes (the noise a real network shows):

* per card, a fixed efficiency vs the published peak per figure (GEMM ~ N(0.78, 0.025); 2% of
  cards overclocked x1.05-1.10, 3% power-capped x0.7-0.9; bandwidth ~ N(0.82, 0.025); clipped to
  0.5-0.97; the sweep widens both spreads to 0.04 and 0.06), a
  fixed +-1% per precision, and per epoch a re-benchmark noise of N(1, 0.01) -- or, for 20% of
  nodes, the same figures every epoch (a cached benchmark);
* 3% get a driver update in a random epoch (+N(4%, 2%) from then on), 5% throttle in random
  epochs (-5 .. -25%, which only lowers their own score);
* challenge timings from 3 validators per epoch: ratio = compute noise N(1, 0.03) + round trip
  (5-80 ms, 5% of nodes 150-300 ms, +-20% jitter) over a 1 s challenge;
* faults: 0.5% per node-epoch at random, one network-wide outage epoch (30% of nodes fault), and
  a site outage (all of an operator's nodes fault) at 0.3% per operator-epoch.

Injected (disjoint sets of nodes; the signal each should raise in brackets): ``overclaim`` figures
above the card's peak from the start [above_peak]; ``inflated`` claims 1.2-1.5 x its true figures,
below the peak [network_outlier]; ``jump`` honest history, then 1.15-1.5 x in the assessed epoch
[jump]; ``caching`` answers in 0.05-0.4 of the time its claim needs [latency_too_fast];
``outsourcing`` every answer 1.3-1.8 x slower with +-0.3 jitter [latency_inconsistent];
``duplicate`` a case variant of an earlier node's UUID [duplicate_uuid]; ``mismatch`` a node id that
is not its UUID's keccak [uuid_mismatch]; ``shared`` the challenge endpoint of an earlier node,
spelled differently [shared_endpoint]; ``sybil`` operators of 4-8 node ids on one machine that
fault together in 2-4 epochs [operator_cofaults]; ``flaky`` 3-6 faults in the window
[clustered_faults].
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

from oracle.validator.anomaly import assess_network
from oracle.validator.evidence import (
    WINDOW,
    Evidence,
    FaultRecord,
    LatencyRecord,
    Observation,
    Registration,
    peak_fixed,
)

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


def simulate(
    n_nodes: int, seed: int, scenario: Scenario = Scenario()
) -> tuple[Evidence, dict[str, Observation], dict[str, str]]:
    """The evidence of epoch ``EPOCHS``, the candidates (that epoch's figures) and the truth
    (node key -> injected kind, or "honest")."""
    rng = random.Random(seed)
    names = [m[0] for m in MODELS]
    weights = [m[1] for m in MODELS]
    regs, obs, faults, lats = [], [], [], []
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
    return Evidence(EPOCHS, tuple(regs), tuple(obs), tuple(faults), tuple(lats)), cands, truth


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
    lats: list,
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
            if kind == "caching":
                ratio = rng.uniform(0.05, 0.4)
            elif kind == "outsourcing":
                ratio = rng.uniform(1.3, 1.8) + rng.uniform(-0.3, 0.3)
            else:
                ratio = rng.gauss(1, 0.03) + rtt * rng.uniform(0.8, 1.2)
            lats.append(LatencyRecord(key, epoch, v, max(1, round(ratio * 1_000_000)), 1_000_000))


def evaluate(n_nodes: int, seeds: list[int], scenario: Scenario = Scenario()) -> dict[str, Any]:
    expected = {k: sig for k, (_, sig) in INJECTED.items()} | {"sybil": "operator_cofaults"}
    flagged_by: dict[str, dict[str, int]] = {sig: defaultdict(int) for sig in expected.values()}
    injected: dict[str, int] = defaultdict(int)
    caught: dict[str, int] = defaultdict(int)
    honest = honest_flagged = honest_penalised = 0
    honest_signals: dict[str, int] = defaultdict(int)
    timings, digests_agree = [], True
    for seed in seeds:
        ev, cands, truth = simulate(n_nodes, seed, scenario)
        started = time.perf_counter()
        report = assess_network(ev, cands)
        timings.append(time.perf_counter() - started)
        shuffled = Evidence(
            ev.epoch,
            *(
                tuple(random.Random(seed + 1).sample(list(part), len(part)))
                for part in (ev.registrations, ev.observations, ev.faults, ev.latencies)
            ),
        )
        again = assess_network(shuffled, dict(reversed(list(cands.items()))))
        digests_agree &= again.to_json() == report.to_json()
        for key, kind in truth.items():
            fired = report.nodes[key].kinds()
            for sig in fired & set(flagged_by):
                flagged_by[sig][kind] += 1
            if kind == "honest":
                honest += 1
                honest_flagged += bool(fired)
                honest_penalised += report.nodes[key].multiplier_ppm < 1_000_000
                for sig in fired:
                    honest_signals[sig] += 1
            else:
                injected[kind] += 1
                caught[kind] += expected[kind] in fired
    rows = []
    for kind, sig in expected.items():
        by = flagged_by[sig]
        total = sum(by.values())
        rows.append(
            {
                "kind": kind,
                "signal": sig,
                "injected": injected[kind],
                "caught": caught[kind],
                "recall": caught[kind] / injected[kind] if injected[kind] else None,
                "flagged": total,
                "precision": by[kind] / total if total else None,
                "flagged_honest": by["honest"],
                "precision_vs_honest": (total - by["honest"]) / total if total else None,
            }
        )
    return {
        "nodes_per_run": n_nodes,
        "seeds": seeds,
        "epochs": EPOCHS,
        "honest_nodes": honest,
        "honest_flagged": honest_flagged,
        "false_alarm_rate": honest_flagged / honest,
        "honest_penalised": honest_penalised,
        "honest_signals": dict(sorted(honest_signals.items())),
        "kinds": rows,
        "assess_seconds_median": sorted(timings)[len(timings) // 2],
        "identical_after_shuffling_inputs": digests_agree,
    }


def sweep(n_nodes: int, seed: int = 100) -> dict[str, Any]:
    """Where detection stops: recall of ``inflated`` and ``jump`` at fixed magnitudes, and the
    false-alarm rate when honest cards of one model differ more than assumed."""
    magnitudes = []
    for factor in (1.05, 1.10, 1.15, 1.20, 1.30):
        res = evaluate(n_nodes, [seed], Scenario(inflate=(factor, factor), jump=(factor, factor)))
        recall = {r["kind"]: r["recall"] for r in res["kinds"]}
        magnitudes.append(
            {
                "factor": factor,
                "inflated_recall": recall["inflated"],
                "jump_recall": recall["jump"],
                "false_alarm_rate": res["false_alarm_rate"],
            }
        )
    spreads = []
    for sigma in (0.025, 0.04, 0.06):
        res = evaluate(n_nodes, [seed], Scenario(honest_sigma=sigma))
        recall = {r["kind"]: r["recall"] for r in res["kinds"]}
        spreads.append(
            {
                "honest_sigma": sigma,
                "false_alarm_rate": res["false_alarm_rate"],
                "honest_signals": res["honest_signals"],
                "inflated_recall": recall["inflated"],
            }
        )
    return {"magnitudes": magnitudes, "honest_spread": spreads}


METHOD = """\
# Anomaly detection: evaluation

Written by `python -m oracle.benchmarks.anomaly` (the numbers below come from
`anomaly-results.json` beside this file; rerun to refresh both). What is evaluated is
`oracle.validator.anomaly` (signals, integer statistics and the agreed input set are described in its module
docstring); this page is the method and the measured result.

## Method

A simulated network of {nodes} nodes per run ({seeds} seeds, {epochs} epochs each: the first
{window} are the on-chain evidence, the last is assessed with its figures as the candidates). Seven
GPU models (H100, A100, RTX 4090, L40S, H200, L4, and a card without published peaks held by a
handful of nodes); operators of 1, 2, 4 or 8 nodes. Honest noise, as a real network shows it: a
per-card efficiency vs the published peak (N(0.78, 0.025) for GEMM, N(0.82, 0.025) for bandwidth;
2% overclocked x1.05-1.10, 3% power-capped x0.7-0.9), +-1% per re-benchmark (20% of nodes report a
cached benchmark), driver updates (+4% +- 2%) and thermal throttling, challenge timings from 3
validators per epoch (compute noise 3% plus a 5-80 ms round trip, 5% of nodes 150-300 ms, +-20%
jitter), random faults at 0.5% per node-epoch, one network-wide outage epoch (30% of nodes) and
site outages (all of an operator's nodes) at 0.3% per operator-epoch.

Injected, into disjoint nodes at the rates in the table: `overclaim` (figures above the card's
peak), `inflated` (x1.2-1.5 its true figures but under the peak), `jump` (honest history, then
x1.15-1.5), `caching` (answers in 0.05-0.4 of the time its claim needs), `outsourcing` (answers
1.3-1.8 x slower, +-0.3 jitter), `duplicate` (a case variant of an earlier node's UUID),
`mismatch` (node id is not keccak256 of its UUID), `shared` (an earlier node's challenge
endpoint, spelled differently), `sybil` (operators of 4-8 node ids on one
machine that fault together in 2-4 epochs), `flaky` (3-6 faults in the window).

* **recall** = injected nodes of the kind that raised its signal / injected nodes of the kind;
* **precision** = nodes raising the signal that were injected with that kind / nodes raising it;
  **vs honest** = nodes raising it that were injected with any kind / nodes raising it (a node
  above its card's peak is also a network outlier: that lowers the first, not the second);
* **false alarms** = honest nodes raising any signal / honest nodes (goal: under 1%).

Every run is also assessed a second time with every input list shuffled and the candidates in
reverse order: the reports must be identical (`identical_after_shuffling_inputs`).
"""


def render_markdown(res: dict[str, Any]) -> str:
    """ANOMALY.md: the method and the measured tables."""
    out = [
        METHOD.format(
            nodes=res["nodes_per_run"], seeds=len(res["seeds"]), epochs=res["epochs"], window=WINDOW
        ),
        "## Result\n",
        f"False alarms on honest nodes: **{res['honest_flagged']} of {res['honest_nodes']} = "
        f"{100 * res['false_alarm_rate']:.2f}%** (signals: {res['honest_signals'] or 'none'}); honest nodes "
        f"whose score was lowered: {res['honest_penalised']}. Identical after shuffling the inputs: "
        f"{res['identical_after_shuffling_inputs']}. Assessing one {res['nodes_per_run']}-node epoch took "
        f"{res['assess_seconds_median']:.2f} s (median, one core of a shared 2-core machine, pure Python).\n",
        "| injected kind | share | signal | recall | precision | vs honest |",
        "|---|---|---|---|---|---|",
    ]
    shares = {k: share for k, (share, _) in INJECTED.items()} | {"sybil": SYBIL_SHARE}
    for r in res["kinds"]:
        prec = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        vs = "-" if r["precision_vs_honest"] is None else f"{r['precision_vs_honest']:.3f}"
        out.append(
            f"| {r['kind']} | {100 * shares[r['kind']]:.1f}% | `{r['signal']}` | {r['caught']}/{r['injected']} = "
            f"{r['recall']:.3f} | {prec} | {vs} |"
        )
    sw = res.get("sweep")
    if sw:
        out += [
            "",
            "### Where detection stops (one seed each)",
            "",
            "Fixed magnitude of `inflated` and `jump` (the other kinds as above):",
            "",
            "| factor | inflated recall | jump recall | false alarms |",
            "|---|---|---|---|",
        ]
        for m in sw["magnitudes"]:
            out.append(
                f"| x{m['factor']:.2f} | {m['inflated_recall']:.3f} | {m['jump_recall']:.3f} | "
                f"{100 * m['false_alarm_rate']:.2f}% |"
            )
        out += [
            "",
            "Honest cards of one model spread wider than assumed (sigma of the efficiency):",
            "",
            "| honest sigma | false alarms | signals on honest nodes | inflated (x1.2-1.5) recall |",
            "|---|---|---|---|",
        ]
        for h in sw["honest_spread"]:
            out.append(
                f"| {h['honest_sigma']} | {100 * h['false_alarm_rate']:.2f}% | {h['honest_signals'] or 'none'} | "
                f"{h['inflated_recall']:.3f} |"
            )
    out += ["", READING]
    return "\n".join(out) + "\n"


READING = """\
## Reading it

* The spread is learned, so false alarms stay near zero when honest cards differ more; the price
  is sensitivity: with a 4-6% honest spread, a node inflating its figures by 20-50% under the
  peak no longer stands out (z < 6), and only `above_peak`, `jump` and the challenge deadline
  still hold it. The limit is the honest network's own spread, not a hand-set threshold.
* `jump` compares a node with its own median, so a cheat that inflates from its first epoch is
  left to `network_outlier` and `above_peak`; a card with no published peak and fewer than 8
  peers is checked by nothing but its history (the reasons say so).
* The few misses: an `overclaim` on the card without a published peak; `flaky` nodes whose faults
  fell partly in the network-wide outage epoch (left out on purpose); `outsourcing` whose jitter
  happened to stay small.
* Latency and UUID signals need their inputs in the agreed evidence. On chain today: the
  attested figures (`AttestationRecorded`), faults (`FaultReported`) and registrations
  (`NodeRegistered`: node id, model, VRAM, endpoint); not on chain: challenge timings and the
  UUID itself (only its hash, the node id). The validator daemon therefore signs a multiplier over
  the figure, fault and shared-endpoint signals (one server registered as two GPUs is the
  on-chain form of a GPU registered twice); its latency and UUID signals stay silent
  (`no_latency` in the reasons) until signed timings and the UUID are part of what every
  validator reads.

## End to end on a chain

`tests/test_anomaly_validator.py` runs the same path on anvil with the real contracts: two
validators (threshold 2) read the evidence from the chain's logs before the epoch
(`oracle/validator/history.py`), a node claiming fp32 80 TFLOPS on an H100 SXM (peak 66.9) is
attested by both with its score x0.1 (`above_peak`), the honest nodes keep theirs, and both
validators serve the same `GET /anomaly/<epoch>` document (same evidence digest, same reasons).
"""


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1200)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", type=Path, default=here / "anomaly-results.json")
    p.add_argument("--markdown", type=Path, default=here / "ANOMALY.md")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--no-sweep", action="store_true", help="skip the magnitude and honest-spread sweep")
    args = p.parse_args(argv)
    res = evaluate(args.nodes, list(range(1, args.seeds + 1)))
    if not args.no_sweep:
        res["sweep"] = sweep(args.nodes)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    args.markdown.write_text(render_markdown(res))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"{args.nodes} nodes x {args.seeds} seeds; false alarms on honest nodes: "
        f"{res['honest_flagged']}/{res['honest_nodes']} = {100 * res['false_alarm_rate']:.2f}% {res['honest_signals']}"
    )
    print(f"{'kind':<12} {'signal':<22} {'recall':>14} {'precision':>10} {'vs honest':>10}")
    for r in res["kinds"]:
        prec = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        vs = "-" if r["precision_vs_honest"] is None else f"{r['precision_vs_honest']:.3f}"
        print(
            f"{r['kind']:<12} {r['signal']:<22} {r['caught']:>5}/{r['injected']:<4} {r['recall']:.3f} {prec:>10} {vs:>10}"
        )
    for m in res.get("sweep", {}).get("magnitudes", []):
        print(
            f"x{m['factor']:.2f}: inflated recall {m['inflated_recall']:.3f}, jump recall {m['jump_recall']:.3f}"
        )
    for h in res.get("sweep", {}).get("honest_spread", []):
        print(
            f"honest sigma {h['honest_sigma']}: false alarms {100 * h['false_alarm_rate']:.2f}% {h['honest_signals']}"
        )
    print(
        f"assessment {res['assess_seconds_median']:.2f} s per run; identical after shuffling: {res['identical_after_shuffling_inputs']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
