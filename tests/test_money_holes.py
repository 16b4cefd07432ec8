"""Regression tests for the four money holes of issue 11, each through the governed deployment
(`deploy_governed_protocol`: every contract owned by the timelock, 2-of-3 oracles):

1. a fault slash must not eat the collateral of another running job;
2. a requester cannot take the model royalty (a job names a minted model; terms snapshotted);
3. a listing ends when the token leaves the seller (and may expire);
4. the party at fault never earns the finder share of its own slash.

Each test fails on the contracts before the fix and passes after."""

import ape
import pytest
from eth_utils import keccak

from oracle.inventory import synthetic_uuid
from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.support.dao import action, advance, pass_proposal
from tests.support.oracle import ORACLES
from tests.support.reverts import reverts as reverts_with

BPS = 10_000
ETHER = 10**18
GPU_UUID = synthetic_uuid("GPU-money-holes-node")
NODE = keccak(text=GPU_UUID)
ZERO = "0x0000000000000000000000000000000000000000"
BUDGET = 1_000 * ETHER
ROYALTY_BPS = 700


@pytest.fixture(scope="module")
def actors(accounts):
    names = ("provider", "requester", "creator", "collector", "keeper", "voter", "other")
    return dict(zip(names, accounts[1:8], strict=True))


@pytest.fixture(scope="module")
def protocol(deployer, actors, chain):
    params = {**DAO_DEVNET, "oracles": ORACLES[:3], "oracle_threshold": 2, "challenge_window": 600}
    c = deploy_governed_protocol(deployer, params)
    token, staking = c["ComputeToken"], c["ComputeStaking"]
    for who in actors.values():
        token.transfer(who, 1_000_000 * ETHER, sender=deployer)
    voter = actors["voter"]
    token.transfer(voter, 5_000_000 * ETHER, sender=deployer)  # above the 4 % quorum
    token.invoke_transaction("delegate", voter, sender=voter)
    provider = actors["provider"]
    # Stake = one GPU's reserve + room for two jobs' collateral and a little more.
    stake = staking.minStakePerGpu() + 3 * collateral_of(c, BUDGET)
    token.approve(staking, stake, sender=provider)
    staking.stake(stake, sender=provider)
    staking.registerNode(GPU_UUID, "NVIDIA H100 80GB HBM3", 81_559, "", sender=provider)
    advance(chain, 1)
    return c


def collateral_of(c, budget: int) -> int:
    return budget * c["JobEscrow"].collateralBps() // BPS


def post(c, requester, chain, model_id: int = 0, duration: int = 3_600) -> int:
    escrow = c["JobEscrow"]
    c["ComputeToken"].approve(escrow, BUDGET, sender=requester)
    escrow.postJob(BUDGET, chain.pending_timestamp + duration, 0, model_id, b"\x01" * 32, sender=requester)
    return escrow.jobCount()


def accepted(c, actors, chain, model_id: int = 0) -> int:
    job = post(c, actors["requester"], chain, model_id)
    c["JobEscrow"].acceptJob(job, NODE, b"", sender=actors["provider"])
    return job


def governance_slash(c, actors, chain, amount: int, finder: str = ZERO, harmed: str = ZERO):
    _, txs = pass_proposal(
        c["ComputeGovernor"],
        chain,
        actors["voter"],
        [actors["voter"]],
        [action(c["ComputeStaking"], "slash", actors["provider"], amount, finder, harmed)],
        "Slash the provider for a proven fault",
        DAO_DEVNET["timelock_delay"],
    )
    return txs["execute"]


def leave(c, actors, chain) -> None:
    """The provider walks away with everything it may take: deregisters, unbonds, withdraws."""
    staking, provider = c["ComputeStaking"], actors["provider"]
    staking.deregisterNode(NODE, sender=provider)
    free = staking.freeStake(provider)
    if free:
        staking.requestUnbond(free, sender=provider)
    _, _, unbonding, release, _ = staking.providerInfo(provider)
    if unbonding:
        advance(chain, release - chain.pending_timestamp + 1)
        staking.withdraw(sender=provider)


def time_out(c, actors, chain, job: int, caller):
    escrow = c["JobEscrow"]
    deadline = escrow.getJob(job).deadline
    if chain.pending_timestamp <= deadline:
        advance(chain, deadline - chain.pending_timestamp + 1)
    return escrow.claimTimeout(job, sender=caller)


def settle(c, actors, job: int) -> None:
    escrow = c["JobEscrow"]
    escrow.submitResult(job, b"\x02" * 32, sender=actors["provider"])
    escrow.approveResult(job, sender=actors["requester"])


# ---------------------------------------------------------------- 1. collateral of a running job


@pytest.mark.parametrize("order", ["slash-settle-leave", "settle-slash-leave", "unbond-slash-settle"])
def test_a_fault_slash_never_takes_a_running_jobs_collateral(protocol, actors, chain, order):
    """Jobs A and B run; a fault slash, A's settlement and the provider's exit come in `order`;
    B's collateral stays locked, and B's timeout pays its requester the whole harmed share."""
    c, provider, requester = protocol, actors["provider"], actors["requester"]
    staking, token = c["ComputeStaking"], c["ComputeToken"]
    job_a, job_b = accepted(c, actors, chain), accepted(c, actors, chain)
    collateral = collateral_of(c, BUDGET)
    fault = collateral  # larger than the free stake: before the fix it ate into the locks
    steps = {
        "slash": lambda: governance_slash(c, actors, chain, fault),
        "settle": lambda: settle(c, actors, job_a),
        "leave": lambda: leave(c, actors, chain),
        "unbond": lambda: staking.requestUnbond(staking.freeStake(provider), sender=provider),
    }
    for step in order.split("-"):
        steps[step]()
    assert staking.providerInfo(provider).locked >= collateral  # B's lock is whole
    if "leave" not in order:
        leave(c, actors, chain)
    assert staking.providerInfo(provider).locked == collateral
    before = token.balanceOf(requester)
    tx = time_out(c, actors, chain, job_b, actors["keeper"])
    harmed = collateral * staking.harmedShareBps() // BPS
    assert token.balanceOf(requester) - before == BUDGET + harmed
    (ev,) = tx.events.filter(staking.Slashed)
    assert (ev.requested, ev.slashed, ev.harmedAmount) == (collateral, collateral, harmed)
    assert staking.providerInfo(provider).locked == 0


def test_a_fault_slash_takes_free_then_unbonding_stake_and_reports_the_shortfall(protocol, actors, chain):
    c, provider = protocol, actors["provider"]
    staking = c["ComputeStaking"]
    accepted(c, actors, chain)
    staked, locked, _, _, _ = staking.providerInfo(provider)
    tx = governance_slash(c, actors, chain, staked)  # asks for everything
    (ev,) = tx.events.filter(staking.Slashed)
    assert (ev.requested, ev.slashed) == (staked, staked - locked)
    assert staking.providerInfo(provider)[:2] == (locked, locked)


# ---------------------------------------------------------------- 2. the model royalty


def test_a_job_cannot_name_an_unminted_model(protocol, actors, chain):
    c, requester = protocol, actors["requester"]
    escrow = c["JobEscrow"]
    unminted = int.from_bytes(keccak(text="weights nobody minted"), "big")
    c["ComputeToken"].approve(escrow, BUDGET, sender=requester)
    with reverts_with(escrow.JobEscrowUnknownModel, unminted):
        escrow.postJob(BUDGET, chain.pending_timestamp + 3_600, 0, unminted, b"\x01" * 32, sender=requester)


def test_the_provider_is_paid_under_the_royalty_terms_it_saw_at_accept(protocol, actors, chain):
    """The terms are snapshotted at post time: the model changing hands (and with it, for an
    implicit receiver, nothing) or the governed maximum changing cannot alter a job already posted."""
    c, provider, creator = protocol, actors["provider"], actors["creator"]
    escrow, nft, token = c["JobEscrow"], c["ModelNFT"], c["ComputeToken"]
    weights = keccak(text="money-holes model")
    nft.mint(creator, weights, "ipfs://card", creator, ROYALTY_BPS, sender=creator)
    model_id = int.from_bytes(weights, "big")
    job = post(c, actors["requester"], chain, model_id)
    assert escrow.royaltyTermsOf(job) == (creator.address, ROYALTY_BPS)
    seen = escrow.royaltyTermsOf(job)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    before = (token.balanceOf(provider), token.balanceOf(creator))
    settle(c, actors, job)
    royalty = BUDGET * ROYALTY_BPS // BPS
    fee = BUDGET * escrow.feeBps() // BPS
    assert token.balanceOf(creator) - before[1] == royalty
    assert token.balanceOf(provider) - before[0] == BUDGET - fee - royalty
    assert seen.receiver == creator.address
    assert escrow.royaltyTermsOf(job) == (ZERO, 0)  # closed


def test_posting_emits_the_royalty_terms(protocol, actors, chain):
    c, creator, requester = protocol, actors["creator"], actors["requester"]
    escrow, nft = c["JobEscrow"], c["ModelNFT"]
    weights = keccak(text="money-holes model 2")
    nft.mint(creator, weights, "ipfs://card", actors["collector"], ROYALTY_BPS, sender=creator)
    model_id = int.from_bytes(weights, "big")
    c["ComputeToken"].approve(escrow, BUDGET, sender=requester)
    tx = escrow.postJob(BUDGET, chain.pending_timestamp + 3_600, 0, model_id, b"\x01" * 32, sender=requester)
    (ev,) = tx.events.filter(escrow.JobPosted)
    assert (ev.jobId, ev.modelId, ev.royaltyReceiver, ev.royaltyBps) == (
        escrow.jobCount(),
        model_id,
        actors["collector"].address,
        ROYALTY_BPS,
    )


# ---------------------------------------------------------------- 3. listings


@pytest.fixture
def listed_model(protocol, actors):
    c, creator = protocol, actors["creator"]
    nft, market = c["ModelNFT"], c["ModelMarketplace"]
    weights = keccak(text="money-holes listed model")
    nft.mint(creator, weights, "ipfs://card", creator, ROYALTY_BPS, sender=creator)
    model_id = int.from_bytes(weights, "big")
    nft.setApprovalForAll(market, True, sender=creator)
    market.list(nft, model_id, 100 * ETHER, sender=creator)
    return model_id


def test_a_listing_does_not_come_back_with_the_token(protocol, actors, listed_model):
    c, creator, other, collector = protocol, actors["creator"], actors["other"], actors["collector"]
    nft, market = c["ModelNFT"], c["ModelMarketplace"]
    nft.transferFrom(creator, other, listed_model, sender=creator)
    nft.transferFrom(other, creator, listed_model, sender=other)
    assert not market.isListingValid(nft, listed_model)
    c["ComputeToken"].approve(market, 100 * ETHER, sender=collector)
    with reverts_with(market.ModelMarketplaceListingEnded, nft.address, listed_model, 0, 2):
        market.buy(nft, listed_model, 100 * ETHER, sender=collector)


def test_a_listing_expires_when_its_seller_said(protocol, actors, chain, listed_model):
    c, creator, collector = protocol, actors["creator"], actors["collector"]
    nft, market = c["ModelNFT"], c["ModelMarketplace"]
    expiry = chain.pending_timestamp + 100
    market.listUntil(nft, listed_model, 100 * ETHER, expiry, sender=creator)
    assert market.listingOf(nft, listed_model).expiry == expiry
    advance(chain, 200)
    assert not market.isListingValid(nft, listed_model)
    c["ComputeToken"].approve(market, 100 * ETHER, sender=collector)
    with ape.reverts(
        market.ModelMarketplaceListingExpired, nft=nft.address, tokenId=listed_model, expiry=expiry
    ):
        market.buy(nft, listed_model, 100 * ETHER, sender=collector)


# ---------------------------------------------------------------- 4. the finder share


def test_a_provider_claiming_its_own_timeout_earns_no_finder_share(protocol, actors, chain):
    c, provider, requester = protocol, actors["provider"], actors["requester"]
    staking, token = c["ComputeStaking"], c["ComputeToken"]
    job = accepted(c, actors, chain)
    collateral = collateral_of(c, BUDGET)
    before = (token.balanceOf(provider), token.balanceOf(requester))
    tx = time_out(c, actors, chain, job, provider)
    finder = collateral * staking.finderShareBps() // BPS
    harmed = collateral * staking.harmedShareBps() // BPS
    assert token.balanceOf(provider) == before[0]
    assert token.balanceOf(requester) - before[1] == BUDGET + finder + harmed
    (ev,) = tx.events.filter(staking.Slashed)
    assert (ev.finder, ev.finderAmount) == (requester.address, finder)


def test_a_governance_slash_naming_the_provider_as_finder_pays_it_nothing(protocol, actors, chain):
    c, provider = protocol, actors["provider"]
    staking, token, treasury = c["ComputeStaking"], c["ComputeToken"], c["Treasury"]
    before = (token.balanceOf(provider), token.balanceOf(treasury))
    governance_slash(c, actors, chain, 10 * ETHER, finder=provider.address)
    assert token.balanceOf(provider) == before[0]
    assert token.balanceOf(treasury) - before[1] == 10 * ETHER
    assert staking.providerInfo(provider).staked > 0
