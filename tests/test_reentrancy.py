"""Reentrancy: a hostile token calling back into the escrow or staking during a transfer is stopped."""

import pytest

from scripts.deploy import deploy_protocol
from tests.conftest import CORE_PARAMS
from tests.support.core import ETHER, stake_and_register
from tests.support.reverts import reverts

BUDGET = 100 * ETHER


@pytest.fixture(scope="module")
def hostile(project, deployer, treasury, provider, requester):
    rtoken = deployer.deploy(project.ReentrantToken)
    contracts = deploy_protocol(deployer, treasury, CORE_PARAMS, token=rtoken)
    for who in (provider, requester):
        rtoken.transfer(who, 100_000 * ETHER, sender=deployer)
    node = stake_and_register(rtoken, contracts["ComputeStaking"], provider, 10_000 * ETHER, "GPU-hostile")
    return rtoken, contracts["ComputeStaking"], contracts["JobEscrow"], node


def _submitted_job(hostile, requester, provider, chain):
    rtoken, _, escrow, node = hostile
    rtoken.approve(escrow, BUDGET, sender=requester)
    tx = escrow.postJob(BUDGET, chain.pending_timestamp + 3600, 0, 0, b"\x01" * 32, sender=requester)
    job = tx.return_value
    escrow.acceptJob(job, node, b"", sender=provider)
    escrow.submitResult(job, b"\x02" * 32, sender=provider)
    return job


def test_settlement_cannot_be_reentered(hostile, requester, provider, chain):
    rtoken, _, escrow, _ = hostile
    job = _submitted_job(hostile, requester, provider, chain)
    data = escrow.approveResult.encode_input(job)
    rtoken.arm(escrow, data, sender=requester)
    with reverts(escrow.ReentrancyGuardReentrantCall):
        escrow.approveResult(job, sender=requester)
    assert escrow.statusOf(job) == 3  # still Submitted: the whole settlement reverted


def test_withdraw_cannot_be_reentered(hostile, provider, chain):
    rtoken, staking, _, _ = hostile
    staking.requestUnbond(ETHER, sender=provider)
    chain.pending_timestamp += CORE_PARAMS["unbonding_period"]
    rtoken.arm(staking, staking.withdraw.encode_input(), sender=provider)
    with reverts(staking.ReentrancyGuardReentrantCall):
        staking.withdraw(sender=provider)
    assert staking.providerInfo(provider)[2] == ETHER
