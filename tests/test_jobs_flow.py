"""A real AI batch job on anvil: the requester posts the demo model on held-out digits, the
provider's agent accepts by policy, runs ONNX Runtime, submits the outputs' Merkle root; the client
fetches and checks the outputs (16 items re-run as one batch) and approves; royalty and fee paid.
Bad input is refused before any money moves; wrong outputs are caught and disputed with evidence."""

from __future__ import annotations

import json
import urllib.request

import onnx
import pytest

from oracle.energy import EnergyPolicy
from oracle.work import blobs
from oracle.work.content import sha256
from oracle.work.errors import InputError, ManifestError, ProofError
from oracle.work.escrow import Status
from oracle.work.manifest import parse_manifest
from tests.conftest import CORE_PARAMS
from tests.support.core import BPS, ETHER
from tests.support.gpu import MeterNvml
from tests.support.jobs import ROYALTY_BPS, WrongLabelAgent, build_world
from tests.support.work import demo_bytes, digits

BUDGET = 360 * ETHER


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    w = build_world(accounts, networks, tmp_path_factory.mktemp("jobs"))
    yield w
    w.stop()


@pytest.fixture
def client(world):
    c = world.client()
    yield c
    c.stop()
    world.stop()


def deadline(client, seconds=3600):
    return client.escrow.chain.block_timestamp() + seconds


def test_job_runs_end_to_end_and_the_check_passes(world, client, monkeypatch):
    monkeypatch.setattr(blobs, "BACKGROUND_BYTES", 0)  # every copy by the writer thread, as a large file's
    x, y = digits(360)
    token = world.contracts["ComputeToken"]
    creator_before = token.balanceOf(world.creator)
    posted = client.post(demo_bytes(), x, BUDGET, deadline(client))
    assert client.status(posted.job_id)["status"] == "open"
    steps = []
    agent = world.agent(client=client, on_step=lambda s, j, i: steps.append(s))
    agent.poll_once()
    assert [s for s in steps if s != "progress"] == [
        "offer",
        "accept-signed",
        "accept-mined",
        "computed",
        "submit-signed",
        "submitted",
    ]
    assert steps.count("progress") == 6  # 360 items in chunks of 64
    agent.fetcher.flush()  # the inputs' copy was handed to the writer once the job was submitted
    inputs = parse_manifest(client.store.get(client.escrow.posted(posted.job_id)["specHash"])).inputs
    assert agent.store.get(inputs.blob.digest) == client.store.get(inputs.blob.digest)
    status = client.status(posted.job_id)
    assert status["status"] == "submitted" and status["provider"] == world.providers[0].address
    labels, logits = client.outputs(posted.job_id)
    assert (labels == y).mean() >= 0.95 and logits.shape == (360, 10)
    report = client.check(posted.job_id, samples=16)
    assert report.ok and len(report.indices) == 16 and report.tolerance_used == 0.0
    gas = client.approve(posted.job_id)
    assert gas > 0 and client.escrow.job(posted.job_id).status == Status.CLOSED
    assert token.balanceOf(world.creator) - creator_before == BUDGET * ROYALTY_BPS // BPS
    agent.poll_once()
    assert agent.records.get(posted.job_id).step == "done"
    energy = agent.records.get(posted.job_id).energy  # a CPU node: the estimate, labelled as one
    assert energy["source"] == "cpu-estimate" and energy["estimate"] is True and energy["items"] == 360
    assert energy["mj_per_item"] > 0 and "CPU s x 15 W per busy core" in energy["note"]


def test_post_refuses_unminted_model_and_infeasible_deadline_before_money_moves(world, client):
    proto = onnx.load_model_from_string(demo_bytes())
    proto.doc_string = "a retrained copy"
    other = proto.SerializeToString()
    x, _ = digits(16)
    token = world.contracts["ComputeToken"]
    before = token.balanceOf(world.requester)
    with pytest.raises(ManifestError, match="is not minted as a ModelNFT"):
        client.post(other, x, BUDGET, deadline(client))
    with pytest.raises(ManifestError, match="cannot finish by its deadline"):
        client.post(demo_bytes(), x, BUDGET, deadline(client, 10))
    with pytest.raises(InputError, match="must be float32"):
        client.post(demo_bytes(), x.astype("float64"), BUDGET, deadline(client))
    assert token.balanceOf(world.requester) == before and client.escrow.job_count() == 0


def test_policy_declines_and_says_why(world, client):
    x, _ = digits(32)
    posted = client.post(demo_bytes(), x, 32 * 10**9, deadline(client))  # 1 gwei per item
    agent = world.agent(client=client, on_step=None, min_price_per_item=10**12, models=("0x" + "ab" * 32,))
    rec = agent.poll_once()[0]
    assert rec.step == "declined"
    assert "is not in jobs.models" in rec.reason and "below jobs.min_price_per_item" in rec.reason
    assert client.escrow.job(posted.job_id).status == Status.OPEN  # nothing locked


def test_a_wrong_output_fails_the_check_and_is_disputed_with_evidence(world, client):
    x, _ = digits(40)
    posted = client.post(demo_bytes(), x, BUDGET, deadline(client))
    agent = world.agent(client=client, cls=WrongLabelAgent)
    agent.poll_once()
    client.fetch(posted.job_id)  # the outputs match the root the cheat committed
    report = client.check(posted.job_id, samples=40)
    assert report.bad == [7]
    evidence_hash, digest, gas = client.dispute(posted.job_id, report)
    assert client.escrow.job(posted.job_id).status == Status.DISPUTED
    disputed = client.escrow.events("JobDisputed", posted.job_id)[-1]["args"]
    assert list(disputed["items"]) == [7] and bytes(disputed["evidenceHash"]) == evidence_hash
    evidence = parse_evidence(client.store.get(digest))
    assert digest == sha256(client.store.get(digest)) and evidence["items"] == [7]
    assert parse_manifest(client.store.get(bytes.fromhex(evidence["spec_hash"][2:]))).inputs.count == 40


def parse_evidence(data: bytes) -> dict:
    return json.loads(data)


def test_outputs_that_do_not_match_the_root_are_refused(world, client):
    x, _ = digits(24)
    posted = client.post(demo_bytes(), x, BUDGET, deadline(client))
    agent = world.agent(client=client, on_step=None)
    agent.poll_once()
    rec = agent.records.get(posted.job_id)
    data = bytearray(agent.store.get(bytes.fromhex(rec.outputs[2:])))
    data[-1] ^= 0x40
    # the provider now serves other outputs (a new blob) under the job
    agent.records.put(rec, outputs="0x" + agent.store.put(bytes(data)).hex())
    agent._trees.clear()
    with pytest.raises(ProofError, match="hash to root .* the provider submitted"):
        client.fetch(posted.job_id)
    assert CORE_PARAMS["fee_bps"] == 250


def test_a_job_whose_manifest_cannot_be_fetched_waits_without_blocking_others(world, client):
    x, _ = digits(16)
    first = client.post(demo_bytes(), x, BUDGET, deadline(client))
    blind = world.agent(client=None, state="blind", on_step=None)  # no manifest source at all
    assert [r.step for r in blind.poll_once()] == ["seen"]
    blind.stop()
    world.agents.clear()
    second = client.post(demo_bytes(), x, BUDGET, deadline(client))
    agent = world.agent(client=client, state="blind", on_step=None, max_active_jobs=4)
    agent.poll_once()
    assert agent.records.get(first.job_id).step == "submitted"
    assert agent.records.get(second.job_id).step == "submitted"


def test_energy_is_metered_per_item_and_the_next_acceptance_honours_the_jobs_terms(world, client):
    """A GPU's energy counter (an NVML stand-in: 1 J over the first 32-item run, then 0.5 J):
    mJ per item in the record and at /jobs/<id>; the next jobs' caps and perf/W floor are held
    against that measurement and the node's perf/W (here from its config: no attestation)."""
    x, _ = digits(32)
    nvml = MeterNvml([1_000, 2_000, 3_000, 3_500])
    said = []
    agent = world.agent(
        client=client,
        on_step=lambda s, j, i: said.append((s, i)),
        meter_args={"nvml": nvml},
        gflops_per_watt=50,
    )
    first = client.post(demo_bytes(), x, BUDGET, deadline(client))
    agent.poll_once()
    rec = agent.records.get(first.job_id)
    assert rec.step == "submitted" and rec.energy["mj_per_item"] == 31.25
    assert rec.energy["source"] == "nvml-energy-counter" and rec.energy["estimate"] is False
    with urllib.request.urlopen(f"{agent.server.url}/jobs/{first.job_id}") as resp:
        assert json.loads(resp.read())["energy"]["mj_per_item"] == 31.25

    def post(**terms):
        return client.post(demo_bytes(), x, BUDGET, deadline(client), energy=EnergyPolicy(**terms)).job_id

    over, slow, fits = post(max_mj_per_item=31), post(min_gflops_per_watt=51), post(max_mj_per_item=32)
    agent.poll_once()
    declined = agent.records.get(over)
    assert declined.step == "declined"
    assert "31.2 mJ per item (measured) is above the job's cap of 31" in declined.reason
    assert "50.0 GFLOP/s per W is below the job's minimum 51" in agent.records.get(slow).reason
    assert client.escrow.job(over).status == client.escrow.job(slow).status == Status.OPEN
    logged = [i["reason"] for s, i in said if s == "declined"]  # the agent's log says why
    assert len(logged) == 2 and "energy terms: 31.2 mJ per item (measured)" in logged[0]
    accepted = agent.records.get(fits)
    assert accepted.step == "submitted" and accepted.energy["mj_per_item"] == 15.625
    assert agent.records.model_energy(first.manifest.model_id)["mj_per_item"] == 15.625
