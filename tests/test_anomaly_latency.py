"""Latency flags without a chain: one validator's classification of its own timings
(oracle.validator.latency_flags), the zero-slash fault it signs, and the flags read back as agreed
evidence by the anomaly multiplier (pure Python)."""

from __future__ import annotations

import random

from eth_utils import keccak

from oracle.validator.anomaly import PPM, assess, assess_network, learn
from oracle.validator.evidence import Evidence, FaultRecord, LatencyFlag, Observation, Registration
from oracle.validator.latency_flags import (
    FLAG_FINDER,
    KIND_OF_HASH,
    REASON_HASHES,
    Timing,
    classify,
    flag_fault,
)
from oracle.validator.nodes import NodeInfo

H100 = "NVIDIA H100 80GB HBM3"
EPOCH = 10


def regs(n: int) -> list[Registration]:
    return [Registration(keccak(text=f"lat-{i}"), f"0x{i + 1:040x}", H100, None, i) for i in range(n)]


def key(r: Registration) -> str:
    return "0x" + r.node_id.hex()


def timings(rng: random.Random, ratio) -> list[Timing]:
    return [Timing(p, ratio(rng), 1.0) for p in ("fp32", "tf32", "fp16", "bf16")]


def one_view(seed: int = 0, n: int = 12) -> tuple[list[Registration], dict[str, list[Timing]]]:
    """One validator's timings of one epoch: honest nodes (3% noise, 5-80 ms round trip), node 0
    answering without the work, node 1 relaying it elsewhere."""
    rng = random.Random(seed)
    rs = regs(n)
    out = {}
    for i, r in enumerate(rs):
        rtt = rng.uniform(0.005, 0.08)
        if i == 0:
            out[key(r)] = timings(rng, lambda g: g.uniform(0.05, 0.4))
        elif i == 1:
            out[key(r)] = timings(rng, lambda g: g.uniform(1.3, 1.8) + g.uniform(-0.3, 0.3))
        else:
            out[key(r)] = timings(rng, lambda g, rtt=rtt: g.gauss(1, 0.03) + rtt * g.uniform(0.8, 1.2))
    return rs, out


def test_one_validator_flags_caching_and_outsourcing_in_its_own_view_and_no_honest_node():
    for seed in range(5):
        rs, view = one_view(seed)
        found = classify(EPOCH, "0xaa", rs, view)
        assert found == {key(rs[0]): "latency_too_fast", key(rs[1]): "latency_inconsistent"}, seed


def test_classification_does_not_depend_on_input_order():
    rs, view = one_view(3)
    shuffled = dict(reversed(list(view.items())))
    assert classify(EPOCH, "0xaa", list(reversed(rs)), shuffled) == classify(EPOCH, "0xaa", rs, view)


def test_a_validator_with_too_few_peers_of_the_model_flags_nothing():
    rs, view = one_view(4, n=7)  # < MIN_PEERS nodes of the model timed: no view of the network
    assert classify(EPOCH, "0xaa", rs, view) == {}
    rs, view = one_view(4, n=8)
    assert set(classify(EPOCH, "0xaa", rs, view).values()) == {"latency_too_fast", "latency_inconsistent"}


def test_the_flag_is_a_zero_slash_fault_every_validator_builds_byte_identical():
    node = NodeInfo("0x" + "ab" * 20, keccak(text="lat-0"), H100, 81559, "http://x")
    flag = flag_fault(node, 7, "latency_too_fast")
    assert flag.slashAmount == 0 and flag.finder == FLAG_FINDER and flag.epoch == 7
    assert flag.reasonHash == keccak(text="oracle.latency.too_fast")
    assert flag_fault(node, 7, "latency_too_fast") == flag
    assert KIND_OF_HASH[REASON_HASHES["latency_inconsistent"]] == "latency_inconsistent"


def test_flags_on_chain_lower_the_multiplier_with_the_latency_reason():
    rs = regs(12)
    flags = (
        LatencyFlag(rs[0].node_id, EPOCH - 2, "latency_too_fast"),
        LatencyFlag(rs[1].node_id, EPOCH - 1, "latency_inconsistent"),
        LatencyFlag(rs[1].node_id, EPOCH - 3, "latency_inconsistent"),
    )
    m = learn(Evidence(EPOCH, tuple(rs), flags=flags))
    fast, slow, quiet = (assess(m, r.node_id) for r in rs[:3])
    assert fast.kinds() == {"latency_too_fast"} and fast.multiplier_ppm == PPM - 800_000
    assert slow.kinds() == {"latency_inconsistent"} and slow.multiplier_ppm == PPM - 500_000
    [reason] = [r for r in slow.reasons if r.kind == "latency_inconsistent"]
    assert "epoch(s) 7, 9" in reason.detail
    assert quiet.multiplier_ppm == PPM and "no_latency" in {r.kind for r in quiet.reasons}


def test_flags_never_count_as_faults():
    rs = regs(12)
    obs = tuple(Observation(r.node_id, e, 5000, 0, 0, 0, 2700) for r in rs[1:] for e in range(1, EPOCH))
    marks = range(2, 8)
    flags = tuple(LatencyFlag(rs[0].node_id, e, "latency_inconsistent") for e in marks)
    faults = tuple(FaultRecord(rs[0].node_id, e) for e in marks)
    as_flags = assess(learn(Evidence(EPOCH, tuple(rs), obs, flags=flags)), rs[0].node_id)
    as_faults = assess(learn(Evidence(EPOCH, tuple(rs), obs, faults)), rs[0].node_id)
    assert as_flags.kinds() == {"latency_inconsistent"}
    assert "clustered_faults" in as_faults.kinds()


def test_bad_flags_are_dropped_with_a_note_and_order_does_not_matter():
    rs = regs(12)
    good = [LatencyFlag(rs[0].node_id, EPOCH - 1, "latency_too_fast")]
    bad = [
        LatencyFlag(rs[1].node_id, EPOCH, "latency_too_fast"),  # the assessed epoch itself
        LatencyFlag(rs[1].node_id, EPOCH - 1, "latency_bogus"),
        LatencyFlag(b"short", EPOCH - 1, "latency_too_fast"),
    ]
    report = assess_network(Evidence(EPOCH, tuple(rs), flags=tuple(good + bad)))
    again = assess_network(Evidence(EPOCH, tuple(reversed(rs)), flags=tuple(reversed(bad + good + good))))
    assert report.to_json() == again.to_json()
    assert any("3 latency flag record(s)" in n for n in report.notes)
    assert report.nodes[key(rs[1])].multiplier_ppm == PPM
