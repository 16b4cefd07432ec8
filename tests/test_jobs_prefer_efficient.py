"""``prefer_efficient`` honoured at acceptance, on one real anvil chain with the real registry: two
attested nodes (the same fp32, one at half the power), the job agents rank the active attested
nodes from their AttestationRecorded figures and wait rank x step before accepting."""

from __future__ import annotations

import time

import pytest

from oracle.energy import EnergyPolicy
from oracle.provider.jobs_policy import JobPolicy, PolicyError
from oracle.provider.jobs_rank import AttestedFigures, active_attested, efficiency_wait
from oracle.work.escrow import Status
from tests.support.core import ETHER
from tests.support.jobs import build_world
from tests.support.oracle import ORACLES, domain_of, make_attestation, node_id, quorum_sigs
from tests.support.work import demo_bytes, digits

PREFER = EnergyPolicy(prefer_efficient=True)
POWER_W = (700, 350)
"""Node 0 draws 700 W, node 1 350 W for the same 67 TFLOPS: node 1 is the efficient one."""


@pytest.fixture(scope="module")
def world(accounts, networks, chain, tmp_path_factory):
    w = build_world(
        accounts,
        networks,
        tmp_path_factory.mktemp("prefer"),
        providers=2,
        params={"oracles": ORACLES[:3], "oracle_threshold": 3},
    )
    registry = w.contracts["AttestationRegistry"]
    domain = domain_of(registry, chain.chain_id)
    expiry = chain.pending_timestamp + 24 * 3600
    for provider, node, power in zip(w.providers, w.nodes, POWER_W, strict=True):
        att = make_attestation(provider.address, node, 1, expiry, powerW=power)
        registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    yield w
    w.stop()


@pytest.fixture
def client(world):
    c = world.client()
    yield c
    c.stop()
    world.stop()


def post(client, items=32):
    x, _ = digits(items)
    deadline = client.escrow.chain.block_timestamp() + 3600
    return client.post(demo_bytes(), x, 32 * ETHER, deadline, energy=PREFER).job_id


def test_the_efficient_node_takes_the_job_although_the_other_saw_it_first(world, client):
    said = []
    slow = world.agent(
        0, client=client, on_step=lambda s, j, i: said.append((s, j, i)), prefer_efficient_step_s=5
    )
    fast = world.agent(1, client=client, prefer_efficient_step_s=5)
    job = post(client)
    slow.poll_once()  # it sees the job first: rank 1 of 2, so it holds the job 5 s
    assert slow.records.get(job).step == "seen"
    [(_, _, wait)] = [x for x in said if x[0] == "efficiency-wait" and x[1] == job]
    assert wait["rank"] == "1/2" and wait["wait_s"] == 5
    assert "95 GFLOP/s per W" in wait["why"] and "rank 1 of 2 active attested nodes" in wait["why"]
    fast.poll_once()  # rank 0: no wait
    assert fast.records.get(job).step == "submitted"
    assert client.escrow.job(job).provider == world.providers[1].address
    slow.poll_once()  # taken meanwhile: it moves on
    rec = slow.records.get(job)
    assert rec.step == "declined" and "not open" in rec.reason


def test_with_the_efficient_node_absent_the_other_takes_the_job_after_its_wait(world, client):
    said = []
    slow = world.agent(
        0, client=client, on_step=lambda s, j, i: said.append((s, i)), prefer_efficient_step_s=0.2
    )
    job = post(client)
    t0 = time.monotonic()
    slow.poll_once()
    end = t0 + 10
    while slow.records.get(job).step == "seen" and time.monotonic() < end:
        slow.poll_once()
    assert slow.records.get(job).step == "submitted" and time.monotonic() - t0 >= 0.2
    assert client.escrow.job(job).status == Status.SUBMITTED
    assert client.escrow.job(job).provider == world.providers[0].address
    assert [i["wait_s"] for s, i in said if s == "efficiency-wait"] == [0.2]
    assert [s for s, _ in said].count("offer") == 1  # said once, not on every poll while held


def test_the_ranking_is_the_chains_and_the_wait_is_bounded(world, client):
    chain = client.escrow.chain
    ranked = dict(active_attested(chain))
    assert ranked["0x" + world.nodes[1].hex()].gflops_per_watt == 191.0  # 6700 x 10 // 350
    assert ranked["0x" + world.nodes[0].hex()].gflops_per_watt == 95.0
    stranger = efficiency_wait(chain, node_id("never-attested"), 30, 20)
    assert (stranger.rank, stranger.of, stranger.seconds) == (2, 2, 20)  # after every attested node, capped
    assert "not among the 2 active attested nodes" in stranger.reason
    assert efficiency_wait(chain, world.nodes[1], 2, 20).seconds == 0
    seen = AttestedFigures()  # kept between calls: the next scan reads only the new blocks
    assert dict(active_attested(chain, seen)) == ranked and seen.next_block == chain.w3.eth.block_number + 1
    seen.next_block += 100  # as after a devnet reset (the chain behind the scan): scanned afresh
    assert dict(active_attested(chain, seen)) == ranked


def test_bad_wait_settings_are_refused():
    with pytest.raises(PolicyError, match="jobs.prefer_efficient_step_s must be a number of seconds"):
        JobPolicy.from_mapping({"node_id": "0x" + "11" * 32, "prefer_efficient_step_s": -1})
    with pytest.raises(PolicyError, match="prefer_efficient_max_wait_s"):
        JobPolicy.from_mapping({"node_id": "0x" + "11" * 32, "prefer_efficient_max_wait_s": "soon"})
