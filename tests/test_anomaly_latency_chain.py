"""Latency flags end to end, on a real anvil with the real contracts and real provider servers: three
validators (threshold 2) challenge eight nodes of one GPU model (the fewest a validator flags
with: MIN_PEERS) whose devices run at their claimed speed (the paced stand-in of
oracle.provider.hardware), one of them ``outsourced`` (correct answers in time, each
held back by a jittered 1.5-2.5 x its compute time). Each validator classifies its own timings and
signs a zero-slash latency flag; k of them put it on chain (no stake moves), and the next epoch's
signed multiplier of that node carries the ``latency_inconsistent`` reason. Honest nodes get none."""

from __future__ import annotations

import json
import urllib.request

import pytest
from eth_account import Account
from eth_utils import keccak

from oracle.provider.hardware import Hardware
from oracle.provider.server import ProviderServer
from oracle.validator.anomaly_model import MIN_PEERS
from oracle.validator.history import cutoff_block, epoch_start, evidence_from_chain
from oracle.validator.latency_flags import FLAG_FINDER, REASON_HASHES
from tests.support.oracle import STAKE, deploy_with_registry, epoch_validators, node_id, register_node

SPEED = 2e7  # FLOP/s of every stand-in device, and what each node claims for every precision
BENCH = {"tflops": {p: SPEED / 1e12 for p in ("fp32", "tf32", "fp16", "bf16")}, "power_w": 65}
EPOCH_S = 3600


@pytest.fixture(scope="module")
def net(accounts, chain, networks, tmp_path_factory):
    owner = accounts[0]
    oracles = sorted(
        (Account.from_key(accounts[i].private_key) for i in (5, 6, 7)), key=lambda a: int(a.address, 16)
    )
    contracts = deploy_with_registry(owner, accounts[9], [a.address for a in oracles], 2)
    behaviours = ["honest"] * (MIN_PEERS - 1) + ["outsourced"]
    servers = [
        ProviderServer(
            behaviour=b, hardware=Hardware(SPEED), inventory_fn=lambda: {"benchmark": BENCH}
        ).start()
        for b in behaviours
    ]
    providers = [accounts[(1, 2, 3, 4, 8)[i % 5]] for i in range(len(behaviours))]  # some run two nodes
    nodes = []
    for i, (srv, prov) in enumerate(zip(servers, providers, strict=True)):
        nid = node_id(f"latency-node-{i}")
        register_node(contracts, owner, prov, f"latency-node-{i}", uri=srv.url)
        nodes.append(nid)
    vals, genesis = epoch_validators(
        chain,
        networks.provider.uri,
        contracts,
        tmp_path_factory.mktemp("latency"),
        oracles,
        epoch_seconds=EPOCH_S,
        challenge_n=16,
        samples=4,
        challenge_target_s=0.5,  # round trips small against the work: this machine is shared
        challenge_allowance_s=1.2,
        collect_timeout=20,
        failover_s=60,
        poll_s=0.05,
    )
    summaries = {}
    for epoch in (1, 2):
        if epoch == 2:
            chain.mine(1, timestamp=genesis + EPOCH_S + 1)
        # One at a time (less noise on a shared machine): the two followers sign and serve, the
        # leader (lowest address) then gathers k = 2 and posts.
        for v in vals[1:]:
            v.cfg.collect_timeout = 0.2
            v.run_epoch(epoch)
        vals[0].cfg.collect_timeout = 20
        summaries[epoch] = vals[0].run_epoch(epoch)
    yield {
        "contracts": contracts,
        "nodes": nodes,
        "providers": providers,
        "vals": vals,
        "genesis": genesis,
        "summaries": summaries,
        "chain": chain,
    }
    for v in vals:
        v.stop()
    for s in servers:
        s.stop()


def _flags(net) -> list:
    registry = net["contracts"]["AttestationRegistry"]
    return list(registry.FaultReported.range(0, net["chain"].blocks.height + 1))


def test_the_outsourced_node_gets_a_latency_flag_from_k_validators_and_is_not_slashed(net):
    registry, staking = net["contracts"]["AttestationRegistry"], net["contracts"]["ComputeStaking"]
    *honest, outsourced = net["nodes"]
    logs = _flags(net)
    assert {bytes(log.nodeId) for log in logs} == {outsourced}, [log.nodeId.hex() for log in logs]
    assert sorted(int(log.epoch) for log in logs) == [1, 2]  # flagged in each epoch it was timed
    for log in logs:
        assert bytes(log.reasonHash) == REASON_HASHES["latency_inconsistent"]
        assert log.slashAmount == 0 and log.slashed == 0 and log.finder == FLAG_FINDER
    for prov in set(net["providers"]):
        assert staking.providerInfo(prov)[0] == STAKE * net["providers"].count(prov)  # nobody slashed
    assert registry.recordOf(outsourced).epoch == 2  # its challenges passed: still attested
    assert keccak(text="oracle.latency.inconsistent") == REASON_HASHES["latency_inconsistent"]


def test_the_next_epochs_signed_multiplier_carries_the_latency_reason(net):
    registry = net["contracts"]["AttestationRegistry"]
    *honest, outsourced = net["nodes"]
    full = registry.recordOf(honest[0]).score
    assert all(registry.recordOf(n).score == full and registry.recordOf(n).epoch == 2 for n in honest)
    assert registry.recordOf(outsourced).score == full * 500_000 // 1_000_000  # latency_inconsistent: x0.5
    docs = []
    for v in net["vals"]:
        with urllib.request.urlopen(f"{v.url}/anomaly/2", timeout=5) as r:
            docs.append(json.loads(r.read()))
    assert len({d["evidence_digest"] for d in docs}) == 1  # every validator read the same flags
    by_node = {n["nodeId"]: n for n in docs[0]["nodes"]}
    flagged = by_node["0x" + outsourced.hex()]
    assert flagged["multiplier_ppm"] == 500_000
    [reason] = [r for r in flagged["reasons"] if r["kind"] == "latency_inconsistent"]
    assert "epoch(s) 1" in reason["detail"]
    for n in honest:
        kinds = {r["kind"] for r in by_node["0x" + n.hex()]["reasons"]}
        assert by_node["0x" + n.hex()]["multiplier_ppm"] == 1_000_000 and "no_latency" in kinds


def test_flags_are_read_as_latency_evidence_not_as_faults(net):
    chain = net["vals"][0].chain
    ev = evidence_from_chain(chain, 2, cutoff_block(chain, epoch_start(net["genesis"], EPOCH_S, 2)))
    assert ev.faults == ()  # the fault-based signals never see a flag
    assert [(bytes(f.node_id), f.epoch, f.kind) for f in ev.flags] == [
        (net["nodes"][-1], 1, "latency_inconsistent")
    ]
