"""Treasury balance ceiling: above it, a governed share of incoming fees goes to the staker rewards
receiver; spending by governance is never mistaken for fees; only the timelock configures it."""

import pytest

from scripts.deploy_dao import DAO_DEVNET, ZERO_ADDRESS, deploy_governance
from tests.support.dao import action, advance, pass_proposal, propose, start_voting
from tests.support.reverts import reverts

G = 10**18
CEILING = 1_000 * G
SHARE = 5_000  # 50 %
DELAY = DAO_DEVNET["timelock_delay"]


@pytest.fixture(scope="module")
def token(project, deployer):
    """A fresh token for this module: voting power and balances must not depend on what session
    fixtures of other modules (e.g. conftest's `protocol`) transferred."""
    return deployer.deploy(project.ComputeToken, deployer, 100_000_000 * 10**18)


@pytest.fixture(scope="module")
def voter(accounts, token, deployer, chain):
    v = accounts[1]
    token.transfer(v, 10_000_000 * G, sender=deployer)
    token.invoke_transaction("delegate", v, sender=v)
    advance(chain, 1)
    return v


@pytest.fixture(scope="module")
def rewards(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def fee_payer(accounts, token, deployer):
    payer = accounts[3]
    token.transfer(payer, 100_000 * G, sender=deployer)
    return payer


@pytest.fixture(scope="module")
def dao(deployer, token, voter, rewards):
    params = {**DAO_DEVNET, "staker_rewards": rewards.address, "surplus_ceiling": CEILING}
    params["surplus_share_bps"] = SHARE
    return deploy_governance(deployer, token, params=params)


@pytest.fixture(scope="module")
def treasury(dao):
    return dao["Treasury"]


@pytest.fixture(scope="module", autouse=True)
def _module_state(dao, fee_payer):
    """Build the module's contracts and balances before the first test, in the module snapshot."""


def test_deployment_configures_the_ceiling_in_the_handover_batch(treasury, token, rewards):
    assert treasury.surplusToken() == token.address
    assert treasury.stakerRewards() == rewards.address
    assert (treasury.balanceCeiling(), treasury.surplusShareBps()) == (CEILING, SHARE)


def test_fees_below_the_ceiling_stay_in_the_treasury(treasury, token, fee_payer, rewards):
    token.transfer(treasury, 800 * G, sender=fee_payer)
    assert treasury.pendingSurplus() == 0
    before = token.balanceOf(rewards)
    treasury.routeSurplus(sender=fee_payer)
    assert token.balanceOf(rewards) == before
    assert treasury.accountedBalance() == 800 * G


def test_share_of_fees_above_the_ceiling_goes_to_stakers(treasury, token, fee_payer, rewards):
    token.transfer(treasury, 800 * G, sender=fee_payer)
    treasury.routeSurplus(sender=fee_payer)
    token.transfer(treasury, 600 * G + 3, sender=fee_payer)  # 1 400 G + 3: 400 G + 3 above the ceiling
    expected = (400 * G + 3) * SHARE // 10_000
    assert treasury.pendingSurplus() == expected
    before = token.balanceOf(rewards)
    tx = treasury.routeSurplus(sender=fee_payer)
    assert token.balanceOf(rewards) - before == expected
    assert token.balanceOf(treasury) == 1_400 * G + 3 - expected
    (ev,) = tx.events.filter(treasury.SurplusRouted)
    assert (ev.token, ev.stakerRewards, ev.amount) == (token.address, rewards.address, expected)
    # nothing new arrived: a second call routes nothing (the ceiling is not a drain)
    treasury.routeSurplus(sender=fee_payer)
    assert token.balanceOf(rewards) - before == expected


def test_spending_routes_earlier_fees_first_and_is_not_counted_as_fees(
    dao, treasury, token, fee_payer, rewards, voter, accounts, chain
):
    governor, grantee = dao["ComputeGovernor"], accounts[4]
    token.transfer(treasury, 1_200 * G, sender=fee_payer)
    treasury.routeSurplus(sender=fee_payer)  # routes 100 G (half of the 200 G above the ceiling)
    balance = token.balanceOf(treasury)
    assert balance == 1_100 * G
    p, _ = propose(governor, voter, [action(token, "transfer", grantee, 700 * G)], "Grant 700")
    start_voting(governor, chain, p)
    governor.castVote(p.id, 1, sender=voter)
    advance(chain, DAO_DEVNET["voting_period"] + 1)
    governor.queue(*p.args, sender=voter)
    token.transfer(treasury, 300 * G, sender=fee_payer)  # fees arrive while the proposal waits
    advance(chain, DELAY + 1)
    before = token.balanceOf(rewards)
    tx = governor.execute(*p.args, sender=voter)
    # the 300 G that arrived were all above the ceiling: half routed before the spending ran
    assert token.balanceOf(rewards) - before == 150 * G
    assert tx.events.filter(treasury.SurplusRouted)[0].amount == 150 * G
    assert token.balanceOf(treasury) == 1_100 * G + 300 * G - 150 * G - 700 * G
    assert treasury.accountedBalance() == token.balanceOf(treasury)
    assert treasury.pendingSurplus() == 0


def test_only_the_timelock_configures_routing(treasury, token, deployer, rewards):
    with reverts(treasury.TimelockUnauthorizedCaller, deployer.address):
        treasury.setSurplusRouting(token, rewards, 0, 1, sender=deployer)


def test_governance_switches_routing_off(dao, treasury, token, voter, fee_payer, rewards, chain):
    pass_proposal(
        dao["ComputeGovernor"],
        chain,
        voter,
        [voter],
        [action(treasury, "setSurplusRouting", ZERO_ADDRESS, ZERO_ADDRESS, 0, 0)],
        "Routing off",
        DELAY,
    )
    token.transfer(treasury, 5_000 * G, sender=fee_payer)
    before = token.balanceOf(rewards)
    treasury.routeSurplus(sender=fee_payer)
    assert token.balanceOf(rewards) == before
    assert treasury.pendingSurplus() == 0


def test_share_above_100_percent_is_refused(dao, treasury, token, voter, rewards, chain):
    governor = dao["ComputeGovernor"]
    p, _ = propose(
        governor, voter, [action(treasury, "setSurplusRouting", token, rewards, 0, 10_001)], "Too much"
    )
    start_voting(governor, chain, p)
    governor.castVote(p.id, 1, sender=voter)
    advance(chain, DAO_DEVNET["voting_period"] + 1)
    governor.queue(*p.args, sender=voter)
    advance(chain, DELAY + 1)
    with reverts(treasury.TreasurySurplusShareTooHigh, 10_001, 10_000):
        governor.execute(*p.args, sender=voter)


def test_routing_on_without_receiver_is_refused(dao, treasury, token, voter, chain):
    governor = dao["ComputeGovernor"]
    p, _ = propose(
        governor, voter, [action(treasury, "setSurplusRouting", token, ZERO_ADDRESS, 0, 1)], "No receiver"
    )
    start_voting(governor, chain, p)
    governor.castVote(p.id, 1, sender=voter)
    advance(chain, DAO_DEVNET["voting_period"] + 1)
    governor.queue(*p.args, sender=voter)
    advance(chain, DELAY + 1)
    with reverts(treasury.TreasurySurplusRoutingIncomplete, token.address, ZERO_ADDRESS):
        governor.execute(*p.args, sender=voter)
