"""The treasury receives exactly the fees it is owed: after a mix of settled, disputed, timed-out and
cancelled jobs, marketplace sales (secondary and primary) and a governance slash, the Treasury's token
balance equals the sum of the fees computed here from the published formulas, to the wei. The events
are cross-checked against the same numbers."""

import pytest
from eth_utils import keccak

from oracle.inventory import synthetic_uuid
from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.support.dao import action, advance, pass_proposal
from tests.support.oracle import ORACLES

BPS = 10_000
ETHER = 10**18
ROYALTY_BPS = 700
GPU_UUID = synthetic_uuid("GPU-fee-accounting-node")
NODE = keccak(text=GPU_UUID)
MODEL_URI = "ipfs://model-card"
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def actors(accounts):
    names = ("provider", "requester", "creator", "collector", "keeper", "arbiter", "voter")
    return dict(zip(names, accounts[1:8], strict=True))


@pytest.fixture(scope="module")
def protocol(deployer, actors, chain):
    params = {
        **DAO_DEVNET,
        "oracles": ORACLES[:3],
        "oracle_threshold": 2,
        "challenge_window": 600,
        "arbiters": [actors["arbiter"].address],
    }
    c = deploy_governed_protocol(deployer, params)
    token = c["ComputeToken"]
    for who in actors.values():
        token.transfer(who, 10_000_000 * ETHER, sender=deployer)
    voter = actors["voter"]
    token.invoke_transaction("delegate", voter, sender=voter)
    provider = actors["provider"]
    token.approve(c["ComputeStaking"], 1_000_000 * ETHER, sender=provider)
    c["ComputeStaking"].stake(1_000_000 * ETHER, sender=provider)
    c["ComputeStaking"].registerNode(GPU_UUID, "NVIDIA H100 80GB HBM3", 81_559, "", sender=provider)
    advance(chain, 1)
    return c


def model(protocol, creator, seed: str) -> int:
    weights = keccak(text=seed)
    protocol["ModelNFT"].mint(creator, weights, MODEL_URI, creator, ROYALTY_BPS, sender=creator)
    return int.from_bytes(weights, "big")


def post(protocol, requester, budget: int, model_id: int, chain, duration: int = 3_600) -> int:
    escrow = protocol["JobEscrow"]
    protocol["ComputeToken"].approve(escrow, budget, sender=requester)
    escrow.postJob(budget, chain.pending_timestamp + duration, 0, model_id, b"\x01" * 32, sender=requester)
    return escrow.jobCount()


def slash_treasury_share(protocol, slashed: int, finder: bool, harmed: bool) -> int:
    staking = protocol["ComputeStaking"]
    finder_amount = slashed * staking.finderShareBps() // BPS if finder else 0
    harmed_amount = slashed * staking.harmedShareBps() // BPS if harmed else 0
    return slashed - finder_amount - harmed_amount


def test_treasury_balance_equals_the_sum_of_fees_owed(protocol, actors, chain, deployer):
    token, escrow, market = protocol["ComputeToken"], protocol["JobEscrow"], protocol["ModelMarketplace"]
    nft, treasury, governor = protocol["ModelNFT"], protocol["Treasury"], protocol["ComputeGovernor"]
    provider, requester, creator = actors["provider"], actors["requester"], actors["creator"]
    collector, keeper, arbiter, voter = (
        actors["collector"],
        actors["keeper"],
        actors["arbiter"],
        actors["voter"],
    )
    fee_bps, market_bps = escrow.feeBps(), market.feeBps()
    collateral_bps = escrow.collateralBps()
    start = token.balanceOf(treasury)
    assert start == 0  # a fresh deployment: every wei below is a fee
    owed: list[tuple[str, int]] = []  # (what, amount) computed from the formulas
    emitted: list[int] = []  # the same amounts as the contracts reported them
    model_id = model(protocol, creator, "llama-fee-accounting")

    # 1. settled by the requester (odd budget: the fee rounds down)
    budget = 123_456_789_123_456_789_123
    job = post(protocol, requester, budget, model_id, chain)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    escrow.submitResult(job, b"\x02" * 32, sender=provider)
    tx = escrow.approveResult(job, sender=requester)
    owed.append(("approved job", budget * fee_bps // BPS))
    emitted += [e.fee for e in tx.events.filter(escrow.JobSettled)]

    # 2. settled by anyone after the challenge window
    budget = 77_777_777_777_777_777_777
    job = post(protocol, requester, budget, model_id, chain)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    escrow.submitResult(job, b"\x03" * 32, sender=provider)
    advance(chain, escrow.challengeWindow() + 1)
    tx = escrow.finalize(job, sender=keeper)
    owed.append(("finalized job", budget * fee_bps // BPS))
    emitted += [e.fee for e in tx.events.filter(escrow.JobSettled)]

    # 3. disputed, resolved: 61.23 % paid (fee on that part), a third of the collateral slashed
    budget = 99_999_999_999_999_999_999
    job = post(protocol, requester, budget, model_id, chain)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    escrow.submitResult(job, b"\x04" * 32, sender=provider)
    protocol["ComputeToken"].approve(escrow, escrow.disputeBond(), sender=requester)
    escrow.dispute(job, b"\x04" * 32, [2, 3], sender=requester)  # the bond comes back: provider share
    collateral = budget * collateral_bps // BPS
    slash = collateral // 3
    tx = escrow.resolveDispute(job, 6_123, slash, sender=arbiter)
    owed.append(("dispute fee", (budget * 6_123 // BPS) * fee_bps // BPS))
    owed.append(("dispute slash", slash_treasury_share(protocol, slash, finder=True, harmed=True)))
    emitted += [e.fee for e in tx.events.filter(escrow.JobSettled)]
    emitted += [e.treasuryAmount for e in tx.events.filter(protocol["ComputeStaking"].Slashed)]

    # 4. timed out: the budget is refunded, the collateral slashed (finder: keeper, harmed: requester)
    budget = 55_555_555_555_555_555_555
    job = post(protocol, requester, budget, model_id, chain, duration=100)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    advance(chain, 101)
    tx = escrow.claimTimeout(job, sender=keeper)
    collateral = budget * collateral_bps // BPS
    owed.append(("timeout slash", slash_treasury_share(protocol, collateral, finder=True, harmed=True)))
    emitted += [e.treasuryAmount for e in tx.events.filter(protocol["ComputeStaking"].Slashed)]

    # 5. cancelled before acceptance: no fee
    job = post(protocol, requester, 10 * ETHER, model_id, chain)
    escrow.cancelJob(job, sender=requester)

    # 6. primary sale by the creator (royalty merged with the proceeds) and a secondary sale
    price = 3_333_333_333_333_333_333
    nft.setApprovalForAll(market, True, sender=creator)
    market.list(nft, model_id, price, sender=creator)
    token.approve(market, price, sender=collector)
    tx = market.buy(nft, model_id, price, sender=collector)
    owed.append(("primary sale", price * market_bps // BPS))
    emitted += [e.fee for e in tx.events.filter(market.Sold)]
    price = 4_444_444_444_444_444_447
    nft.setApprovalForAll(market, True, sender=collector)
    market.list(nft, model_id, price, sender=collector)
    token.approve(market, price, sender=keeper)
    tx = market.buy(nft, model_id, price, sender=keeper)
    owed.append(("secondary sale", price * market_bps // BPS))
    emitted += [e.fee for e in tx.events.filter(market.Sold)]
    assert tx.events.filter(market.Sold)[0].royalty == price * ROYALTY_BPS // BPS

    # 7. a governance slash (no finder, no harmed party): all of it goes to the treasury
    slash = 1_234 * ETHER + 5
    _, txs = pass_proposal(
        governor,
        chain,
        voter,
        [voter],
        [action(protocol["ComputeStaking"], "slash", provider, slash, ZERO, ZERO)],
        "Slash the provider for a proven fault",
        DAO_DEVNET["timelock_delay"],
    )
    owed.append(("governance slash", slash_treasury_share(protocol, slash, finder=False, harmed=False)))
    emitted += [e.treasuryAmount for e in txs["execute"].events.filter(protocol["ComputeStaking"].Slashed)]

    assert sorted(emitted) == sorted(amount for _, amount in owed)
    assert token.balanceOf(treasury) - start == sum(amount for _, amount in owed), owed
