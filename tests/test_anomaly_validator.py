"""The anomaly multiplier in the validator daemon, on a real anvil with the real contracts: two
validators (threshold 2) read the agreed evidence from the chain's logs, lower the score of a node
that claims more than its card can do, and serve every node's anomaly and reasons as JSON."""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass

import pytest
from eth_account import Account

from oracle.provider.jobs_energy import attested_figures, node_energy
from oracle.score import score_of
from oracle.validator.anomaly import assess_network
from oracle.validator.figures import Figures
from oracle.validator.history import cutoff_block, epoch_start, evidence_from_chain
from oracle.validator.nodes import NodeInfo
from oracle.validator.prober import ProbeResult, SequentialGroups
from tests.support.oracle import deploy_with_registry, epoch_validators, gpu_uuid, node_id, register_node

HONEST = Figures(fp32=50.0, tf32=370.0, fp16=740.0, bf16=740.0, mem_bandwidth_gbps=2700.0, power_w=700.0)
OVER = Figures(fp32=80.0, tf32=370.0, fp16=740.0, bf16=740.0, mem_bandwidth_gbps=2700.0, power_w=700.0)
"""fp32 80 TFLOPS on an H100 SXM, whose published peak is 66.9."""


@dataclass
class FixedProber(SequentialGroups):
    """Stands in for the GPU only: the figures each endpoint reports, every challenge passed."""

    over: str

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        return ProbeResult(True, "ok", OVER if node.endpoint == self.over else HONEST)


@pytest.fixture(scope="module")
def net(accounts, chain, networks, tmp_path_factory):
    owner = accounts[0]
    oracles = [Account.from_key(accounts[i].private_key) for i in (5, 6)]
    contracts = deploy_with_registry(owner, accounts[1], [a.address for a in oracles], 2)
    nodes = []
    for i in range(3):
        nid = node_id(f"anomaly-node-{i}")
        register_node(
            contracts, owner, accounts[2 + i], f"anomaly-node-{i}", uri=f"http://anomaly-provider-{i}"
        )
        nodes.append(nid)
    vals, genesis = epoch_validators(
        chain,
        networks.provider.uri,
        contracts,
        tmp_path_factory.mktemp("anomaly"),
        oracles,
        FixedProber(over="http://anomaly-provider-2"),
        collect_timeout=20,
        failover_s=5,
        poll_s=0.05,
    )
    threads = [threading.Thread(target=v.run_epoch, args=(1,)) for v in vals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    yield {"contracts": contracts, "nodes": nodes, "vals": vals, "genesis": genesis}
    for v in vals:
        v.stop()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_a_claim_above_the_published_peak_is_attested_with_a_lowered_score(net):
    registry = net["contracts"]["AttestationRegistry"]
    honest, _, over = net["nodes"]
    assert registry.recordOf(honest).score == score_of(HONEST.gflops(), HONEST.mem_bandwidth_gbps)
    full = score_of(OVER.gflops(), OVER.mem_bandwidth_gbps)
    assert registry.recordOf(over).epoch == 1
    assert registry.recordOf(over).score == full * 100_000 // 1_000_000  # above_peak: x0.1


def test_every_validator_serves_the_same_anomaly_document(net):
    docs = [_get(f"{v.url}/anomaly/1") for v in net["vals"]]
    assert docs[0]["evidence_digest"] == docs[1]["evidence_digest"]
    assert [d["nodes"] for d in docs[0:1]] == [d["nodes"] for d in docs[1:2]]
    by_node = {n["nodeId"]: n for n in docs[0]["nodes"]}
    over = by_node["0x" + net["nodes"][2].hex()]
    assert over["multiplier_ppm"] == 100_000
    assert any(r["kind"] == "above_peak" and "fp32 80.00 TFLOPS" in r["detail"] for r in over["reasons"])
    honest = by_node["0x" + net["nodes"][0].hex()]
    assert honest["multiplier_ppm"] == 1_000_000 and {r["kind"] for r in honest["reasons"]} >= {"few_peers"}
    assert _get(f"{net['vals'][0].url}/anomaly")["epoch"] == 1  # the latest epoch


def test_evidence_is_the_chain_logs_before_the_epoch(net):
    chain = net["vals"][0].chain
    first = evidence_from_chain(chain, 1, cutoff_block(chain, epoch_start(net["genesis"], 3600, 1)))
    assert len(first.registrations) >= 3 and first.observations == ()
    uuids = {r.node_id: r.gpu_uuid for r in first.registrations}  # the UUID NodeRegistered carries
    assert all(uuids[n] == gpu_uuid(f"anomaly-node-{i}") for i, n in enumerate(net["nodes"]))
    report = assess_network(first)  # on chain the UUID signals cannot fire: defence in depth only
    kinds = {r.kind for a in report.nodes.values() for r in a.reasons}
    assert set(report.nodes) >= {"0x" + n.hex() for n in net["nodes"]}
    assert not kinds & {"duplicate_uuid", "uuid_mismatch"}
    second = evidence_from_chain(chain, 2, cutoff_block(chain, epoch_start(net["genesis"], 3600, 2)))
    ours = {o.node_id for o in second.observations} & set(net["nodes"])
    assert ours == set(net["nodes"])  # epoch 1's attestations, read back from AttestationRecorded
    assert {o.fp32 for o in second.observations if o.node_id == net["nodes"][2]} == {8000}


def test_a_job_agent_reads_its_nodes_perf_per_watt_from_its_latest_attestation(net):
    """The energy terms' perf/W (oracle/provider/jobs_energy.py): fp32 and powerW of the node's
    AttestationRecorded event for its record's epoch, read once per epoch."""
    chain, honest = net["vals"][0].chain, net["nodes"][0]
    epoch, figures = attested_figures(chain, honest, (0, None))
    assert epoch == 1 and figures == (5000, 700)  # 50 TFLOPS x 100, 700 W
    node = node_energy(figures, 0.0, {"mj_per_item": 2.5, "estimate": False})
    assert node.gflops_per_watt == 71.0 and node.mj_per_item == 2.5 and not node.mj_is_estimate
    assert attested_figures(chain, honest, (1, (1, 1))) == (1, (1, 1))  # same epoch: not read again
    assert attested_figures(chain, node_id("never-attested"), (0, None)) == (0, None)
    assert node_energy(None, 40.0, None).gflops_per_watt == 40.0  # no attestation: the config's figure
