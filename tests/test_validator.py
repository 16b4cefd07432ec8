"""The validator daemon on a real anvil with the real contracts: 3 validators, threshold 2."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

import pytest
from eth_account import Account

from oracle.attest import Attestation, gpu_model_name
from oracle.score import score_of
from oracle.validator.config import ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.figures import Figures
from oracle.validator.nodes import NodeInfo
from oracle.validator.prober import ProbeResult, SequentialGroups
from tests.support.oracle import deploy_with_registry, node_id, register_node

FIG = Figures(fp32=60.0, tf32=400.0, fp16=800.0, bf16=800.0, mem_bandwidth_gbps=3000.0, power_w=700.0)


@dataclass
class StubProber(SequentialGroups):
    """Stands in for the GPU only: a fixed benchmark, and nodes listed in ``bad`` fail."""

    bad: frozenset[str] = frozenset()
    down: frozenset[str] = frozenset()

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        if node.endpoint in self.down:
            return ProbeResult(False, "unreachable", reachable=False)
        if node.endpoint in self.bad:
            return ProbeResult(False, "row 3 does not match", FIG)
        return ProbeResult(True, "ok", FIG)


@pytest.fixture(scope="module")
def deployed(accounts, tmp_path_factory):
    from scripts.deployment_file import write_deployment

    owner = accounts[0]
    oracle_accts = [Account.from_key(accounts[i].private_key) for i in (5, 6, 7)]
    contracts = deploy_with_registry(owner, accounts[1], [a.address for a in oracle_accts], 2)
    nodes = []
    for i in range(4):
        nid = node_id(f"validator-node-{i}")
        register_node(
            contracts, owner, accounts[2 + i % 2], f"validator-node-{i}", uri=f"http://provider-{i}"
        )
        nodes.append(nid)
    dep = write_deployment(contracts, tmp_path_factory.mktemp("validator") / "deployment.json", 0)
    return {"contracts": contracts, "oracles": oracle_accts, "nodes": nodes, "deployment": str(dep)}


@pytest.fixture
def net(deployed, accounts, chain, networks, tmp_path):
    return {
        **deployed,
        "uri": networks.provider.uri,
        "genesis": chain.pending_timestamp - 10,
        "tmp": tmp_path,
        "finder": accounts[8].address,
    }


def make_validators(net, prober, count=3, **overrides):
    vals = []
    for i, acct in enumerate(net["oracles"][:count]):
        settings = {"collect_timeout": 20, "failover_s": 5, "poll_s": 0.05, **overrides}
        cfg = ValidatorConfig(
            deployment_path=net["deployment"],
            rpc=net["uri"],
            account=acct,
            journal_path=str(net["tmp"] / f"journal-{i}.sqlite"),
            genesis=net["genesis"],
            finder=net["finder"],
            **settings,
        )
        vals.append(Validator(cfg, prober))
    urls = [v.start() for v in vals]
    for v in vals:
        v.cfg.peers = [u for u in urls if u != v.url]
    return vals


def run_all(vals, epoch):
    import threading

    out = {}

    def go(v):
        out[v.address] = v.run_epoch(epoch)

    threads = [threading.Thread(target=go, args=(v,)) for v in vals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_three_validators_attest_every_node_once(net):
    vals = make_validators(net, StubProber())
    try:
        summaries = run_all(vals, 1)
        registry = net["contracts"]["AttestationRegistry"]
        for nid in net["nodes"]:
            rec = registry.recordOf(nid)
            assert rec.epoch == 1 and rec.score == score_of(FIG.gflops(), FIG.mem_bandwidth_gbps)
        for log in registry.AttestationRecorded.range(0, 10_000):  # the figures are in the event
            att = Attestation(*log.attestation)
            assert (att.fp32, att.bf16, att.memBandwidth, att.powerW) == (6000, 80000, 3000, 700)
        assert all(s["confirmed"] == 4 for s in summaries.values())
        posted = sum(v.metrics.submissions.labels("attest")._value.get() for v in vals)
        assert posted == 4  # only the leader posted, once per node
        leader = min(vals, key=lambda v: int(v.address, 16))
        assert leader.metrics.submissions.labels("attest")._value.get() == 4
    finally:
        for v in vals:
            v.stop()


def test_attestation_figures_come_from_chain_and_benchmark(net):
    vals = make_validators(net, StubProber())
    try:
        run_all(vals, 1)
        staking = net["contracts"]["ComputeStaking"]
        registry = net["contracts"]["AttestationRegistry"]
        logs = list(registry.AttestationRecorded.range(0, 10_000))
        assert len(logs) == 4
        att = Attestation(*logs[0].attestation)
        assert gpu_model_name(att.gpuModel) == staking.nodeInfo(logs[0].nodeId)[1]
        assert att.expiry == net["genesis"] + 3600 + 2 * 3600
    finally:
        for v in vals:
            v.stop()


def test_failed_challenge_is_reported_as_a_fault_and_slashed(net):
    vals = make_validators(net, StubProber(bad=frozenset({"http://provider-1"})))
    try:
        run_all(vals, 1)
        registry = net["contracts"]["AttestationRegistry"]
        staking = net["contracts"]["ComputeStaking"]
        faults = list(registry.FaultReported.range(0, 10_000))
        assert len(faults) == 1 and faults[0].nodeId == net["nodes"][1]
        assert faults[0].finder == net["finder"]
        slashed = list(staking.Slashed.range(0, 10_000))
        assert len(slashed) == 1 and slashed[0].slashed == 100 * 10**18
        assert registry.recordOf(net["nodes"][1]).epoch == 0
        assert registry.recordOf(net["nodes"][0]).epoch == 1
    finally:
        for v in vals:
            v.stop()


def test_unreachable_node_is_neither_attested_nor_slashed(net):
    vals = make_validators(net, StubProber(down=frozenset({"http://provider-2"})), collect_timeout=3)
    try:
        run_all(vals, 1)
        registry = net["contracts"]["AttestationRegistry"]
        assert registry.recordOf(net["nodes"][2]).epoch == 0
        assert list(registry.FaultReported.range(0, 10_000)) == []
    finally:
        for v in vals:
            v.stop()


def test_threshold_reached_with_one_validator_down(net):
    vals = make_validators(net, StubProber(), count=2)
    try:
        run_all(vals, 1)
        registry = net["contracts"]["AttestationRegistry"]
        assert all(registry.recordOf(n).epoch == 1 for n in net["nodes"])
    finally:
        for v in vals:
            v.stop()


def test_single_validator_cannot_reach_threshold(net):
    vals = make_validators(net, StubProber(), count=1, collect_timeout=1)
    try:
        summary = vals[0].run_epoch(1)
        assert summary["signed"] == 4 and summary["confirmed"] == 0
    finally:
        vals[0].stop()


def test_signature_endpoint_serves_signed_attestations(net):
    vals = make_validators(net, StubProber())
    try:
        run_all(vals, 1)
        with urllib.request.urlopen(f"{vals[0].url}/signatures/1") as r:
            doc = json.loads(r.read())
        assert doc["validator"] == vals[0].address and len(doc["attestations"]) == 4
        with urllib.request.urlopen(f"{vals[0].url}/health") as r:
            assert json.loads(r.read())["validator"] == vals[0].address
    finally:
        for v in vals:
            v.stop()


def test_rerunning_an_epoch_posts_nothing_new(net):
    vals = make_validators(net, StubProber())
    try:
        run_all(vals, 1)
        again = run_all(vals, 1)
        assert sum(v.metrics.submissions.labels("attest")._value.get() for v in vals) == 4
        assert all(s["confirmed"] == 4 for s in again.values())
    finally:
        for v in vals:
            v.stop()


def test_batch_mode_posts_one_root_whose_proofs_pass_check_score(net):
    vals = make_validators(net, StubProber(), mode="batch")
    try:
        run_all(vals, 1)
        registry = net["contracts"]["AttestationRegistry"]
        staking = net["contracts"]["ComputeStaking"]
        [ev] = list(registry.BatchSubmitted.range(0, 10_000))
        assert ev.epoch == 1
        with urllib.request.urlopen(f"{vals[1].url}/proofs/1") as r:
            doc = json.loads(r.read())
        assert doc["root"] == "0x" + bytes(ev.root).hex() and len(doc["proofs"]) == 4
        for p in doc["proofs"]:
            nid = bytes.fromhex(p["nodeId"][2:])
            owner = staking.nodeOwner(nid)
            assert registry.checkScore(owner, nid, 1, bytes.fromhex(p["scoreProof"][2:])) == score_of(
                FIG.gflops(), FIG.mem_bandwidth_gbps
            )
        assert sum(v.metrics.submissions.labels("batch")._value.get() for v in vals) == 1
        assert sum(v.metrics.submissions.labels("attest")._value.get() for v in vals) == 0
    finally:
        for v in vals:
            v.stop()


def test_figures_from_a_bench_report_and_compact_form():
    from oracle.bench import bench_cpu
    from oracle.validator.figures import figures_from_benchmark

    report = bench_cpu(n=64, repeats=1, warmup=0, bandwidth_mib=8).to_dict()
    f = figures_from_benchmark(report)
    assert f is not None and f.fp32 > 0 and f.mem_bandwidth_gbps > 0
    compact = figures_from_benchmark({"tflops": {"bf16": 1.5}, "fp32_tflops": 2, "power_w": 300})
    assert (compact.bf16, compact.fp32, compact.power_w, compact.tf32) == (1.5, 2.0, 300.0, 0.0)
    assert figures_from_benchmark({}) is None
    assert (
        score_of(FIG.gflops(), FIG.mem_bandwidth_gbps) == score_of(FIG.gflops(), FIG.mem_bandwidth_gbps) > 0
    )


def test_prometheus_metrics_are_served(net):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vals = make_validators(net, StubProber(bad=frozenset({"http://provider-3"})), count=2)
    vals[0].stop()
    vals[0] = make_validators(
        net, StubProber(bad=frozenset({"http://provider-3"})), count=1, metrics_port=port
    )[0]
    vals[0].cfg.peers = [vals[1].url]
    vals[1].cfg.peers = [vals[0].url]
    try:
        run_all(vals, 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            text = r.read().decode()
        assert "oracle_epochs_total 1.0" in text
        assert 'oracle_challenges_total{result="ok"} 3.0' in text
        assert 'oracle_challenges_total{result="failed"} 1.0' in text
        assert "oracle_tx_gas_count" in text
    finally:
        for v in vals:
            v.stop()


def test_challenge_prober_against_real_provider_servers():
    from oracle.provider.server import ProviderServer
    from oracle.validator.prober import ChallengeProber

    bench = {"tflops": {"fp32": 2e-5, "bf16": 1e-5}, "mem_bandwidth_gbps": 20, "power_w": 65}
    prober = ChallengeProber(n=16, samples=4, target_s=0.1)

    def node(url, model="NVIDIA H100 80GB HBM3"):
        return NodeInfo("0x" + "11" * 20, b"\x01" * 32, model, 81559, url)

    with ProviderServer(inventory_fn=lambda: {"benchmark": bench}) as honest:
        r = prober.probe(node(honest.url), 1)
        assert r.ok, r.reason
        proven = 0.1 / (
            0.1 * 1.25 + 0.25
        )  # what a pass proves: work / deadline, the same for every validator
        assert r.figures.fp32 == pytest.approx(2e-5 * proven, rel=0.02)
        assert r.figures.bf16 == pytest.approx(1e-5 * proven, rel=0.02) and r.figures.tf32 == 0.0
        assert r.figures.mem_bandwidth_gbps == 0  # not challenged: not attested
        assert r.figures.power_w == 65  # reported, within what an H100 at this proven load can draw
        assert set(r.report["challenges"]) == {"fp32", "bf16"}
    with ProviderServer(inventory_fn=lambda: {}) as no_bench:  # held to the H100's published peaks
        r = prober.probe(node(no_bench.url), 1)
        # it cannot meet an H100's deadline: answered late, not at all, or it gave up on its own
        # when its deadline passed (which of the three depends on the machine's load)
        assert not r.ok and r.reachable
        assert any(why in r.reason for why in ("late", "no answer", "past the challenge's deadline")), (
            r.reason
        )
    with ProviderServer(behaviour="wrong", inventory_fn=lambda: {"benchmark": bench}) as wrong:
        r = prober.probe(node(wrong.url), 1)
        assert not r.ok and r.reachable
    r = prober.probe(node("http://127.0.0.1:9"), 1)
    assert not r.ok and not r.reachable
    r = prober.probe(node("ipfs://whatever"), 1)
    assert not r.ok and not r.reachable


def test_challenge_prober_fails_a_node_whose_inventory_lists_another_gpu():
    from oracle.inventory import node_id as node_id_of
    from oracle.inventory import synthetic_uuid
    from oracle.provider.server import ProviderServer
    from oracle.validator.prober import ChallengeProber

    mine, other = synthetic_uuid("the registered card"), synthetic_uuid("another card")
    bench = {"tflops": {"fp32": 2e-5}}
    prober = ChallengeProber(n=16, samples=4, target_s=0.1)
    gpus = [{"index": 0, "uuid": other}, {"index": 1, "uuid": mine}]  # a two-GPU server: one is the node's
    with ProviderServer(inventory_fn=lambda: {"benchmark": bench, "gpus": gpus}) as server:
        node = NodeInfo("0x" + "11" * 20, node_id_of(mine), "NVIDIA H100 80GB HBM3", 81559, server.url)
        assert prober.probe(node, 1).ok
    with ProviderServer(inventory_fn=lambda: {"benchmark": bench, "gpus": gpus[:1]}) as server:
        node = NodeInfo("0x" + "11" * 20, node_id_of(mine), "NVIDIA H100 80GB HBM3", 81559, server.url)
        r = prober.probe(node, 1)
    assert not r.ok and r.reachable  # a failed verdict (a fault), not an unreachable node
    assert r.reason == (
        f"its inventory lists 1 GPU(s) ({other}) and none has a UUID whose keccak256 is the node id "
        f"0x{node_id_of(mine).hex()}: the GPU answering is not the one registered"
    )
    assert r.report == {"inventory_gpus": gpus[:1]} and r.figures is None  # no challenge was sent


def test_challenge_prober_shares_b_per_epoch_and_draws_a_fresh_one_each_epoch():
    from oracle.provider.server import ProviderServer
    from oracle.validator.prober import ChallengeProber

    prober = ChallengeProber(n=16, samples=4, target_s=0.1)
    b1 = prober.epoch_b_seed(1)
    assert prober.epoch_b_seed(1) == b1 and len(b1) == 32
    b2, b3 = prober.epoch_b_seed(2), prober.epoch_b_seed(3)
    assert len({b1, b2, b3}) == 3
    assert prober.epoch_b_seed(3) == b3 and 1 not in prober._b_seeds  # only the two newest kept

    seen = []
    with ProviderServer(inventory_fn=lambda: {"benchmark": {"tflops": {"fp32": 2e-5}}}) as server:
        original = server.commit_fn
        server.commit_fn = lambda challenge, **kw: (
            seen.append(challenge.to_json()),
            original(challenge, **kw),
        )[1]
        node = NodeInfo("0x" + "11" * 20, b"\x01" * 32, "NVIDIA H100 80GB HBM3", 81559, server.url)
        assert all(prober.probe(node, 7).ok for _ in range(3))
        assert prober.probe(node, 8).ok
    assert len({body["seed"] for body in seen}) == 4  # a fresh A for every challenge
    assert [body["b_seed"] for body in seen[:3]] == ["0x" + prober.epoch_b_seed(7).hex()] * 3
    assert seen[3]["b_seed"] == "0x" + prober.epoch_b_seed(8).hex() != seen[0]["b_seed"]


def test_run_once_processes_the_current_epoch(net):
    vals = make_validators(net, StubProber())
    try:
        import threading

        threads = [threading.Thread(target=v.run, kwargs={"once": True}) for v in vals]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        registry = net["contracts"]["AttestationRegistry"]
        assert all(registry.recordOf(n).epoch == vals[0].current_epoch() == 1 for n in net["nodes"])
    finally:
        for v in vals:
            v.stop()


def test_oracle_cli_run_and_keys_report_operational_errors(tmp_path, capsys):
    from oracle.cli import main

    assert main(["run", "--deployment", str(tmp_path / "missing.json")]) == 3
    assert "deployment file" in capsys.readouterr().err
    assert main(["keys", "--keystore-dir", str(tmp_path), "show", "0x" + "12" * 20]) == 3
    assert "no keystore" in capsys.readouterr().err


def test_attested_power_is_the_reported_reading_bounded_by_what_the_card_can_draw():
    from oracle.validator.figures import attestable_power

    h100 = "NVIDIA H100 80GB HBM3"  # 700 W board power, 66.9 TFLOPS fp32 peak
    assert attestable_power(650, h100, {"fp32": 60.0}) == 650  # plausible: attested as reported
    assert attestable_power(900, h100, {"fp32": 60.0}) == 700  # more than the card can draw
    # an understated reading: at 60 of 66.9 TFLOPS the card needs >= 700 x 60 / 66.9 W at its
    # spec-sheet efficiency, so perf/W is never attested above the spec sheet's
    assert attestable_power(100, h100, {"fp32": 60.0, "bf16": 400.0}) == round(700 * 60 / 66.9)
    assert attestable_power(100, h100, {"fp32": 6.0}) == 100
    assert attestable_power(0, h100, {"fp32": 60.0}) == 0  # no reading: none attested
    assert attestable_power(120, "CPU AMD EPYC", {"fp32": 0.04}) == 0  # no published board power
