"""oracle.validator.anomaly: bit-identical across input orders and processes, every bad input explained,
every signal raised in a small case (pure Python; no chain)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from eth_utils import keccak

from oracle.benchmarks.anomaly_sim import INJECTED, simulate
from oracle.validator import robust
from oracle.validator.anomaly import MIN_PEERS, PPM, assess, assess_network, learn
from oracle.validator.evidence import Evidence, FaultRecord, LatencyRecord, Observation, Registration

H100 = "NVIDIA H100 80GB HBM3"
EPOCH = 10


def nid(i: int) -> bytes:
    return keccak(text=f"node-{i}")


def honest(
    n: int = 12, model: str = H100, seed: int = 0, operators: int | None = None, uuids: bool = True
) -> dict[str, list]:
    """``n`` honest nodes of one model over epochs 1..EPOCH-1, with realistic small noise."""
    rng = random.Random(seed)
    out: dict[str, list] = {"registrations": [], "observations": [], "faults": [], "latencies": []}
    for i in range(n):
        uuid = f"GPU-{i:08x}-0000-0000-0000-{seed:012x}"
        node = keccak(text=uuid) if uuids else nid(i)
        op = f"0x{(i % operators if operators else i) + 1:040x}"
        out["registrations"].append(Registration(node, op, model, uuid if uuids else None, i))
        eff = rng.gauss(0.78, 0.02)
        for e in range(1, EPOCH):
            noise = rng.gauss(1, 0.01)
            out["observations"].append(
                Observation(
                    node,
                    e,
                    round(6690 * eff * noise),
                    round(49470 * eff * noise),
                    round(98940 * eff),
                    0,
                    2700,
                )
            )
            for v in ("0xaa", "0xbb"):
                out["latencies"].append(
                    LatencyRecord(node, e, v, round(1_050_000 * rng.gauss(1, 0.02)), 1_000_000)
                )
    return out


def evidence(parts: dict[str, list], epoch: int = EPOCH) -> Evidence:
    return Evidence(
        epoch, *(tuple(parts[k]) for k in ("registrations", "observations", "faults", "latencies"))
    )


def node_of(parts: dict[str, list], i: int) -> bytes:
    return parts["registrations"][i].node_id


def fired(ev: Evidence, node: bytes, candidate: Observation | None = None) -> set[str]:
    return assess(learn(ev), node, candidate).kinds()


def test_honest_network_raises_nothing():
    report = assess_network(evidence(honest(40)))
    assert all(a.multiplier_ppm == PPM and not a.flagged for a in report.nodes.values())
    assert len(report.nodes) == 40


def test_report_is_identical_for_any_input_order_and_repeated_records():
    parts = honest(20, seed=3)
    base = assess_network(evidence(parts)).to_json()
    rng = random.Random(7)
    shuffled = {k: rng.sample(v, len(v)) + v[: len(v) // 3] for k, v in parts.items()}
    assert assess_network(evidence(shuffled)).to_json() == base


_CHILD = """
import json, sys
from oracle.validator.anomaly import assess_network
from oracle.benchmarks.anomaly_sim import simulate
ev, cands, _ = simulate(150, 11)
print(json.dumps(assess_network(ev, cands).to_json(), sort_keys=True))
"""


def test_report_is_identical_in_another_process():
    ev, cands, _ = simulate(150, 11)
    here = json.dumps(assess_network(ev, cands).to_json(), sort_keys=True)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == here


def test_integer_statistics():
    assert robust.median([3, 1, 2]) == 2
    assert robust.median([4, 1, 2, 3]) == 2  # floor((2 + 3) / 2)
    assert robust.median([-3, -2]) == -3  # floor division, the same everywhere
    assert robust.mad([1, 1, 2, 2, 4, 6, 9]) == 1
    assert robust.spread([100, 100, 100], floor_ppm=10_000) == 1  # 1% of 100
    assert robust.spread([5, 5], floor_ppm=0) == 1
    assert robust.robust_z_milli(130, 100, 10) == 3000
    assert robust.ratio_ppm(1, 0) == 0
    with pytest.raises(ValueError):
        robust.median([])


def test_bad_figures_in_the_history_are_dropped_with_a_note():
    parts = honest(12)
    bad = [float("nan"), -5, 2**40, 1.5, True, "12", None, float("inf")]
    node = node_of(parts, 0)
    parts["observations"] += [Observation(node, EPOCH - 1 - i, fp32=v) for i, v in enumerate(bad)]
    parts["observations"].append(Observation("not-a-node", 3, 1))
    report = assess_network(evidence(parts))
    assert not any(a.flagged for a in report.nodes.values())
    notes = " ".join(report.notes)
    assert "figure record(s)" in notes and "observation record(s)" in notes


def test_bad_candidate_figures_lower_the_multiplier_and_say_why():
    parts = honest(12)
    cand = Observation(node_of(parts, 1), EPOCH, fp32=float("nan"), tf32=-1, fp16=2**33, mem_bandwidth=2700)
    a = assess(learn(evidence(parts)), node_of(parts, 1), cand)
    assert a.kinds() == {"invalid_figure"}
    detail = next(r.detail for r in a.reasons if r.kind == "invalid_figure")
    assert "fp32=nan" in detail and "tf32=-1" in detail and "fp16=8589934592" in detail


def test_a_bad_evidence_epoch_gives_an_empty_window_not_an_error():
    parts = honest(12)
    report = assess_network(evidence(parts, epoch=float("nan")))
    assert not any(a.flagged for a in report.nodes.values())
    assert any("not an integer" in n for n in report.notes)


def test_new_node_and_unknown_model_are_explained_not_flagged():
    parts = honest(12)
    parts["registrations"].append(Registration(nid(99), "0x" + "9" * 40, "Acme X1", None, 99))
    a = assess(learn(evidence(parts)), nid(99), Observation(nid(99), EPOCH, 5000, 0, 0, 0, 900))
    kinds = {r.kind for r in a.reasons}
    assert not a.flagged
    assert {"unknown_model", "few_peers", "no_history", "no_latency"} <= kinds
    unregistered = assess(learn(evidence(parts)), nid(1234))
    assert {r.kind for r in unregistered.reasons} >= {"unregistered"} and not unregistered.flagged


def test_node_registered_after_the_cutoff_is_checked_as_its_attested_model():
    m = learn(evidence(honest(12)))
    over = Observation(nid(77), EPOCH, 7200, 0, 0, 0, 2700)
    assert "above_peak" in assess(m, nid(77), over, gpu_model=H100).kinds()
    assert not assess(m, nid(77), over).flagged  # no model known: nothing to compare with


def test_validator_seeing_fewer_nodes_gets_a_different_digest_never_an_error():
    parts = honest(20)
    full = assess_network(evidence(parts))
    fewer = {k: list(v) for k, v in parts.items()}
    fewer["observations"] = [o for o in fewer["observations"] if o.node_id != node_of(parts, 0)]
    partial = assess_network(evidence(fewer))
    assert partial.evidence_digest != full.evidence_digest  # the disagreement is visible
    assert set(partial.nodes) == set(full.nodes)  # still an answer for every node
    assert "no_history" in {r.kind for r in partial.nodes["0x" + node_of(parts, 0).hex()].reasons}


def test_above_peak():
    parts = honest(12)
    node = node_of(parts, 2)
    assert "above_peak" in fired(evidence(parts), node, Observation(node, EPOCH, 7200, 0, 0, 0, 2700))


def test_network_outlier_needs_enough_peers():
    parts = honest(12)
    node = node_of(parts, 2)
    cand = Observation(node, EPOCH, 6500, 0, 0, 0, 2700)  # below the peak, far above the others
    assert "network_outlier" in fired(evidence(parts), node, cand)
    few = honest(MIN_PEERS - 1)
    node = node_of(few, 2)
    a = assess(learn(evidence(few)), node, Observation(node, EPOCH, 6500, 0, 0, 0, 2700))
    assert "network_outlier" not in a.kinds() and "few_peers" in {r.kind for r in a.reasons}


def test_jump_over_own_history():
    parts = honest(6)  # too few peers for the network check: the node's own history decides
    node = node_of(parts, 0)
    own = [o for o in parts["observations"] if o.node_id == node]
    cand = Observation(node, EPOCH, round(own[-1].fp32 * 1.2), 0, 0, 0, 2700)
    assert fired(evidence(parts), node, cand) == {"jump"}


def test_latency_too_fast_and_inconsistent():
    parts = honest(12)
    fast, far = node_of(parts, 0), node_of(parts, 1)
    rng = random.Random(1)
    for e in range(1, EPOCH):
        parts["latencies"].append(LatencyRecord(fast, e, "0xcc", 90_000, 1_000_000))
        parts["latencies"].append(LatencyRecord(fast, e, "0xaa", 120_000, 1_000_000))
        parts["latencies"].append(LatencyRecord(fast, e, "0xbb", 150_000, 1_000_000))
        parts["latencies"].append(
            LatencyRecord(far, e, "0xcc", round(rng.uniform(1.2, 2.4) * 1e6), 1_000_000)
        )
    parts["latencies"] = [r for r in parts["latencies"] if not (r.node_id == far and r.validator != "0xcc")]
    ev = evidence(parts)
    assert "latency_too_fast" in fired(ev, fast)
    assert "latency_inconsistent" in fired(ev, far)


def test_duplicate_and_mismatched_uuid():
    parts = honest(12)
    first = parts["registrations"][0]
    copy = first.gpu_uuid.lower()  # "gpu-...": another node id, the same card
    parts["registrations"].append(Registration(keccak(text=copy), "0x" + "7" * 40, H100, copy, 50))
    parts["registrations"].append(Registration(nid(51), "0x" + "8" * 40, H100, "GPU-abc", 51))
    m = learn(evidence(parts))
    assert "duplicate_uuid" in assess(m, keccak(text=copy)).kinds()
    assert "duplicate_uuid" not in assess(m, first.node_id).kinds()  # the first registration keeps its score
    assert "uuid_mismatch" in assess(m, nid(51)).kinds()
    assert assess(m, keccak(text=copy)).multiplier_ppm == 0


def test_two_node_ids_behind_one_challenge_endpoint():
    parts = honest(12)
    parts["registrations"][0] = Registration(nid(60), "0x" + "6" * 40, H100, None, 0, "http://10.0.0.5:8000")
    parts["registrations"].append(
        Registration(nid(61), "0x" + "6" * 40, H100, None, 70, "HTTP://10.0.0.5:8000/")
    )
    m = learn(evidence(parts))
    assert "shared_endpoint" in assess(m, nid(61)).kinds()
    assert "shared_endpoint" not in assess(m, nid(60)).kinds()


def test_operator_whose_nodes_fail_together():
    parts = honest(24, operators=6)
    op_nodes = [r.node_id for r in parts["registrations"] if r.provider == f"0x{1:040x}"]
    parts["faults"] += [FaultRecord(n, e) for n in op_nodes for e in (3, 6)]
    m = learn(evidence(parts))
    assert all("operator_cofaults" in assess(m, n).kinds() for n in op_nodes)
    others = [r.node_id for r in parts["registrations"] if r.node_id not in op_nodes]
    assert not any(assess(m, n).flagged for n in others)


def test_clustered_faults_but_not_a_network_outage():
    parts = honest(20)
    flaky = node_of(parts, 0)
    parts["faults"] += [FaultRecord(flaky, e) for e in (2, 4, 5, 8)]
    parts["faults"] += [FaultRecord(node_of(parts, i), 7) for i in range(1, 15)]  # outage: 70% fault
    report = assess_network(evidence(parts))
    assert "clustered_faults" in report.nodes["0x" + flaky.hex()].kinds()
    assert not any(a.flagged for k, a in report.nodes.items() if k != "0x" + flaky.hex())
    assert any("outage" in n for n in report.notes)


def test_multiplier_is_the_ordered_product_and_lowers_the_score():
    parts = honest(12)
    node = node_of(parts, 2)
    a = assess(learn(evidence(parts)), node, Observation(node, EPOCH, 7200, 0, float("nan"), 0, 2700))
    mult = PPM
    for r in a.reasons:
        mult = mult * (PPM - r.severity_ppm) // PPM
    assert a.multiplier_ppm == mult and a.score_ppm == PPM - mult
    assert a.apply(300_000) == 300_000 * mult // PPM < 300_000


def test_every_injected_kind_raises_its_signal_in_a_small_simulation():
    ev, cands, truth = simulate(300, 5)
    report = assess_network(ev, cands)
    expected = {k: sig for k, (_, sig) in INJECTED.items()} | {"sybil": "operator_cofaults"}
    for kind, sig in expected.items():
        nodes = [k for k, t in truth.items() if t == kind]
        caught = sum(sig in report.nodes[k].kinds() for k in nodes)
        assert caught >= len(nodes) * 3 // 4, (kind, caught, len(nodes))
    honest_nodes = [k for k, t in truth.items() if t == "honest"]
    assert sum(report.nodes[k].flagged for k in honest_nodes) <= len(honest_nodes) // 100
