"""A dispute settled by the validators' verdict on anvil: the requester's check finds a wrong item
and disputes it (bond paid); three validators fetch the provider's openings, re-run the item as one
batch, judge, sign the EIP-712 DisputeVerdict; two signatures settle it (refund + slash). A false
claim against an honest provider is judged the other way: the provider is paid and gets the bond."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.attest import aggregate
from oracle.validator.verdicts import escrow_domain, openings_from_provider, sign_verdict, verdict_for
from oracle.work.dispute import judge_from_sources
from oracle.work.escrow import Status
from tests.conftest import CORE_PARAMS
from tests.support.core import BPS, ETHER
from tests.support.jobs import WrongLabelAgent, build_world
from tests.support.oracle import ORACLE_KEYS, ORACLES
from tests.support.work import demo_bytes, digits

BUDGET = 40 * ETHER
BOND = 10 * ETHER


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    params = {"oracles": ORACLES[:3], "oracle_threshold": 2, "dispute_bond": BOND}
    w = build_world(accounts, networks, tmp_path_factory.mktemp("verdict"), params=params)
    yield w
    w.stop()


def settle_by_validators(world, client, job_id: int, items: list[int]):
    """What each of three validators does, then one aggregate settlement (k = 2)."""
    escrow = client.escrow
    manifest, root = client.manifest_of(job_id), escrow.result_hash(job_id)
    url = client.provider_url(job_id)
    judgements = [
        judge_from_sources(
            client.fetcher, manifest, root, items, openings_from_provider(url, job_id, items), "cpu"
        )
        for _ in ORACLE_KEYS[:3]
    ]
    assert len({j.provider_at_fault for j in judgements}) == 1  # the validators agree
    expiry = escrow.chain.block_timestamp() + 3600
    verdict = verdict_for(job_id, root, items, judgements[0], expiry)
    domain = escrow_domain(escrow.chain.deployment.chain_id, escrow.address)
    sigs = aggregate([sign_verdict(k, domain, verdict) for k in ORACLE_KEYS[:3]], 2, verdict.digest(domain))
    tx = escrow.settle_dispute(job_id, root, verdict.evidence_hash, verdict.provider_at_fault, expiry, sigs)
    return judgements[0], tx


def test_a_proven_wrong_result_is_refunded_and_slashed_by_the_verdict(world):
    client = world.client("client-cheat")
    try:
        token = world.contracts["ComputeToken"]
        x, _ = digits(40)
        posted = client.post(demo_bytes(), x, BUDGET, client.escrow.chain.block_timestamp() + 3600)
        world.agent(client=client, cls=WrongLabelAgent).poll_once()
        report = client.check(posted.job_id, samples=40, rng=np.random.default_rng(0))
        assert report.bad == [7]
        before = token.balanceOf(world.requester)
        client.dispute(posted.job_id, report)
        assert token.balanceOf(world.requester) == before - BOND
        judgement, tx = settle_by_validators(world, client, posted.job_id, [7])
        assert judgement.provider_at_fault and judgement.wrong == (7,)
        settled = client.escrow.events("DisputeSettled", posted.job_id)[-1]["args"]
        assert settled["providerAtFault"] and client.escrow.job(posted.job_id).status == Status.CLOSED
        # budget + bond back, plus the harmed and finder shares of the slashed collateral
        collateral = BUDGET * CORE_PARAMS["collateral_bps"] // BPS
        shares = collateral * (CORE_PARAMS["finder_share_bps"] + CORE_PARAMS["harmed_share_bps"]) // BPS
        assert token.balanceOf(world.requester) - before == BUDGET + shares
        assert tx.gas_used > 0
    finally:
        client.stop()
        world.stop()


def test_a_false_claim_pays_the_provider_and_costs_the_bond(world):
    client = world.client("client-false")
    try:
        token = world.contracts["ComputeToken"]
        x, _ = digits(40)
        posted = client.post(demo_bytes(), x, BUDGET, client.escrow.chain.block_timestamp() + 3600)
        world.agent(client=client).poll_once()
        report = client.check(posted.job_id, samples=8, rng=np.random.default_rng(1))
        assert report.ok
        report.bad = [report.indices[0]]  # a requester who claims a right item is wrong
        provider_before = token.balanceOf(world.providers[0])
        client.dispute(posted.job_id, report)
        judgement, _ = settle_by_validators(world, client, posted.job_id, report.bad)
        assert not judgement.provider_at_fault
        settled = client.escrow.events("DisputeSettled", posted.job_id)[-1]["args"]
        assert not settled["providerAtFault"]
        paid = client.escrow.events("JobSettled", posted.job_id)[-1]["args"]["providerAmount"]
        assert token.balanceOf(world.providers[0]) - provider_before == paid + BOND
    finally:
        client.stop()
        world.stop()
