"""ComputeGovernor + Treasury timelock: the full proposal lifecycle on a real chain with time travel."""

import pytest

from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.support.dao import (
    ACTIVE,
    AGAINST,
    DEFEATED,
    EXECUTED,
    FOR,
    PENDING,
    QUEUED,
    SUCCEEDED,
    TIMELOCK_READY,
    action,
    advance,
    end_voting,
    pass_proposal,
    propose,
    start_voting,
    state_bitmap,
)
from tests.support.oracle import ORACLES
from tests.support.reverts import ANY, reverts

M = 1_000_000 * 10**18
DELAY = DAO_DEVNET["timelock_delay"]


@pytest.fixture(scope="module")
def token(project, deployer):
    """A fresh token for this module: voting power and balances must not depend on what session
    fixtures of other modules (e.g. conftest's `protocol`) transferred."""
    return deployer.deploy(project.ComputeToken, deployer, 100_000_000 * 10**18)


@pytest.fixture(scope="module")
def voters(accounts, token, deployer, chain):
    """alice 3 M + bob 2 M = 5 M (quorum is 4 % of 100 M = 4 M); carol 1 M; dave 7 M."""
    alice, bob, carol, dave = accounts[1], accounts[2], accounts[3], accounts[4]
    for who, amount in ((alice, 3 * M), (bob, 2 * M), (carol, 1 * M), (dave, 7 * M)):
        token.transfer(who, amount, sender=deployer)
        token.invoke_transaction("delegate", who, sender=who)
    advance(chain, 1)
    return alice, bob, carol, dave


@pytest.fixture(scope="module")
def dao(deployer, token, voters):
    """The whole protocol, governed (oracle set: ORACLES[0..2], threshold 2)."""
    params = {**DAO_DEVNET, "oracles": ORACLES[:3], "oracle_threshold": 2}
    return deploy_governed_protocol(deployer, params, token=token)


@pytest.fixture(scope="module")
def governor(dao):
    return dao["ComputeGovernor"]


@pytest.fixture(scope="module")
def timelock(dao):
    return dao["Treasury"]


@pytest.fixture(scope="module")
def market(dao):
    return dao["ModelMarketplace"]


def test_deployment_uses_devnet_periods_and_the_timelock(governor, timelock, market, token):
    assert governor.votingDelay() == DAO_DEVNET["voting_delay"]
    assert governor.votingPeriod() == DAO_DEVNET["voting_period"]
    assert governor.proposalThreshold() == DAO_DEVNET["proposal_threshold"]
    assert governor.quorumNumerator() == DAO_DEVNET["quorum_percent"]
    assert governor.CLOCK_MODE() == "mode=timestamp"
    assert governor.timelock() == timelock.address
    assert timelock.getMinDelay() == DELAY
    assert market.owner() == timelock.address
    assert market.treasury() == timelock.address


def test_full_lifecycle_changes_the_marketplace_fee(governor, timelock, market, voters, chain):
    alice, bob, _, _ = voters
    p, _ = propose(governor, alice, [action(market, "setFeeBps", 500)], "Raise the market fee to 5 %")
    assert governor.state(p.id) == PENDING
    start_voting(governor, chain, p)
    assert governor.state(p.id) == ACTIVE
    tx = governor.castVote(p.id, FOR, sender=alice)
    assert tx.events.filter(governor.VoteCast)[0].weight == 3 * M
    governor.castVote(p.id, FOR, sender=bob)
    assert governor.proposalVotes(p.id) == (0, 5 * M, 0)
    end_voting(governor, chain, p)
    assert governor.state(p.id) == SUCCEEDED
    governor.queue(*p.args, sender=bob)
    assert governor.state(p.id) == QUEUED
    with reverts(timelock.TimelockUnexpectedOperationState, ANY, state_bitmap(TIMELOCK_READY)):
        governor.execute(*p.args, sender=bob)  # the timelock delay has not passed
    advance(chain, DELAY + 1)
    tx = governor.execute(*p.args, sender=bob)
    assert governor.state(p.id) == EXECUTED
    assert market.feeBps() == 500
    (ev,) = tx.events.filter(market.FeeUpdated)
    assert (ev.oldFeeBps, ev.newFeeBps) == (DAO_DEVNET["market_fee_bps"], 500)


def test_proposal_changes_the_escrow_fee(governor, dao, voters, chain):
    alice, bob, _, _ = voters
    escrow = dao["JobEscrow"]
    old = escrow.feeBps()
    p, txs = pass_proposal(
        governor, chain, alice, [alice, bob], [action(escrow, "setFeeBps", 400)], "Escrow fee to 4 %", DELAY
    )
    assert governor.state(p.id) == EXECUTED
    assert escrow.feeBps() == 400
    (ev,) = txs["execute"].events.filter(escrow.FeeBpsSet)
    assert (ev.oldValue, ev.newValue) == (old, 400)


def test_proposal_rotates_the_oracle_set(governor, dao, voters, chain):
    alice, bob, _, _ = voters
    registry = dao["AttestationRegistry"]
    incoming, outgoing = ORACLES[3], ORACLES[0]
    actions = [
        action(registry, "addOracle", incoming),
        action(registry, "removeOracle", outgoing),
        action(registry, "setThreshold", 3),
    ]
    _, txs = pass_proposal(
        governor, chain, alice, [alice, bob], actions, "Rotate oracle 0 -> 3, k = 3", DELAY
    )
    assert registry.isOracle(incoming) and not registry.isOracle(outgoing)
    assert all(registry.isOracle(o) for o in ORACLES[1:4])
    assert (registry.oracleCount(), registry.threshold()) == (3, 3)
    assert [e.oracle for e in txs["execute"].events.filter(registry.OracleAdded)] == [incoming]
    assert [e.oracle for e in txs["execute"].events.filter(registry.OracleRemoved)] == [outgoing]


def test_treasury_spends_tokens_only_through_a_passed_proposal(
    governor, timelock, token, deployer, voters, accounts, chain
):
    alice, bob, _, _ = voters
    grantee = accounts[8]
    token.transfer(timelock, 1_000 * 10**18, sender=deployer)
    before = token.balanceOf(grantee)
    with reverts(timelock.AccessControlUnauthorizedAccount, deployer.address, timelock.PROPOSER_ROLE()):
        timelock.schedule(
            *action(token, "transfer", grantee, 1), b"\x00" * 32, b"\x00" * 32, DELAY, sender=deployer
        )
    pass_proposal(
        governor,
        chain,
        alice,
        [alice, bob],
        [action(token, "transfer", grantee, 400 * 10**18)],
        "Grant 400 GPU to the grantee",
        DELAY,
    )
    assert token.balanceOf(grantee) - before == 400 * 10**18
    assert token.balanceOf(timelock) == 600 * 10**18


def test_treasury_holds_and_spends_eth(governor, timelock, deployer, voters, accounts, chain):
    alice, bob, _, _ = voters
    tx = deployer.transfer(timelock, 10**18)
    (ev,) = tx.events.filter(timelock.TreasuryReceived)
    assert (ev["from"], ev.amount) == (deployer.address, 10**18)
    grantee = accounts[9]
    before = grantee.balance
    pass_proposal(
        governor,
        chain,
        alice,
        [alice, bob],
        [(grantee.address, 3 * 10**17, b"")],
        "Send 0.3 ETH to the grantee",
        DELAY,
    )
    assert grantee.balance - before == 3 * 10**17
    assert timelock.balance == 7 * 10**17


def test_defeated_proposal_does_nothing(governor, market, voters, chain):
    alice, bob, _, dave = voters
    p, _ = propose(governor, alice, [action(market, "setFeeBps", 900)], "Fee to 9 %")
    start_voting(governor, chain, p)
    governor.castVote(p.id, FOR, sender=alice)
    governor.castVote(p.id, FOR, sender=bob)
    governor.castVote(p.id, AGAINST, sender=dave)  # 7 M against 5 M
    end_voting(governor, chain, p)
    assert governor.state(p.id) == DEFEATED
    with reverts(governor.GovernorUnexpectedProposalState, p.id, DEFEATED, state_bitmap(SUCCEEDED)):
        governor.queue(*p.args, sender=alice)
    executable = state_bitmap(SUCCEEDED, QUEUED)
    with reverts(governor.GovernorUnexpectedProposalState, p.id, DEFEATED, executable):
        governor.execute(*p.args, sender=alice)
    assert market.feeBps() == DAO_DEVNET["market_fee_bps"]


def test_proposal_without_quorum_does_nothing(governor, market, voters, chain):
    alice, _, carol, _ = voters
    p, _ = propose(governor, alice, [action(market, "setFeeBps", 0)], "Fee to zero")
    start_voting(governor, chain, p)
    governor.castVote(p.id, FOR, sender=carol)  # 1 M for, 0 against, quorum needs 4 M
    end_voting(governor, chain, p)
    assert governor.proposalVotes(p.id) == (0, 1 * M, 0)
    assert governor.quorum(governor.proposalSnapshot(p.id)) == 4 * M
    assert governor.state(p.id) == DEFEATED
    with reverts(governor.GovernorUnexpectedProposalState, p.id, DEFEATED, state_bitmap(SUCCEEDED)):
        governor.queue(*p.args, sender=alice)
    assert market.feeBps() == DAO_DEVNET["market_fee_bps"]


def test_proposer_below_threshold_is_refused(governor, market, accounts):
    nobody = accounts[7]
    with reverts(
        governor.GovernorInsufficientProposerVotes, nobody.address, 0, DAO_DEVNET["proposal_threshold"]
    ):
        propose(governor, nobody, [action(market, "setFeeBps", 1)], "No votes")


def test_votes_acquired_after_the_snapshot_do_not_count(
    governor, market, token, deployer, voters, accounts, chain
):
    alice = voters[0]
    p, _ = propose(governor, alice, [action(market, "setFeeBps", 1)], "Late whale")
    start_voting(governor, chain, p)
    late = accounts[6]
    token.transfer(late, 5 * M, sender=deployer)
    token.invoke_transaction("delegate", late, sender=late)
    tx = governor.castVote(p.id, FOR, sender=late)
    assert tx.events.filter(governor.VoteCast)[0].weight == 0


def test_governance_changes_its_own_settings(governor, voters, chain):
    alice, bob, _, _ = voters
    pass_proposal(
        governor,
        chain,
        alice,
        [alice, bob],
        [action(governor, "setVotingPeriod", 120), action(governor, "updateQuorumNumerator", 5)],
        "Longer votes, 5 % quorum",
        DELAY,
    )
    assert governor.votingPeriod() == 120
    assert governor.quorumNumerator() == 5
