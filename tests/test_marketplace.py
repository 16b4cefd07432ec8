"""ModelMarketplace: list / updatePrice / cancel / buy, every revert path, events, exact splits."""

import ape
import pytest

from tests.support.reverts import reverts

FEE_BPS = 250  # 2.5 %
ROYALTY_BPS = 500  # 5 %
PRICE = 1_234_567_891_234_567_891  # odd on purpose: every split rounds
TOKEN_ID = 7
UINT96_MAX = 2**96 - 1


@pytest.fixture(scope="module")
def token(project, deployer):
    """A fresh token for this module: voting power and balances must not depend on what session
    fixtures of other modules (e.g. conftest's `protocol`) transferred."""
    return deployer.deploy(project.ComputeToken, deployer, 100_000_000 * 10**18)


@pytest.fixture(scope="module")
def seller(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def buyer(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def creator(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def fee_sink(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def market(project, deployer, token, fee_sink):
    return deployer.deploy(project.ModelMarketplace, token, fee_sink, FEE_BPS, deployer)


@pytest.fixture(scope="module")
def nft(project, deployer, seller, creator, market):
    collection = deployer.deploy(project.ReferenceRoyaltyNFT)
    collection.mint(seller, TOKEN_ID, creator, ROYALTY_BPS, sender=seller)
    collection.approve(market, TOKEN_ID, sender=seller)
    return collection


@pytest.fixture(scope="module")
def funded_buyer(token, deployer, buyer, market):
    token.transfer(buyer, 10 * PRICE, sender=deployer)
    token.approve(market, 10 * PRICE, sender=buyer)
    return buyer


@pytest.fixture(scope="module")
def model_nft(project, deployer):
    return deployer.deploy(project.ModelNFT, 1_000, "ipfs://models/")


@pytest.fixture(scope="module", autouse=True)
def _module_contracts(market, nft, model_nft, funded_buyer):
    """Build every module-scoped contract before the first test, inside the module's snapshot (a
    module fixture first built inside a test's isolation snapshot can be rolled back with it)."""


@pytest.fixture
def listed(market, nft, seller):
    market.list(nft, TOKEN_ID, PRICE, sender=seller)
    return nft


def split(price, royalty_bps=ROYALTY_BPS, fee_bps=FEE_BPS):
    royalty = price * royalty_bps // 10_000
    fee = price * fee_bps // 10_000
    return royalty, fee, price - royalty - fee


# ---------------------------------------------------------------- list


def test_list_stores_listing_and_emits_listed(market, nft, seller):
    tx = market.list(nft, TOKEN_ID, PRICE, sender=seller)
    assert market.getListing(nft, TOKEN_ID) == (seller.address, PRICE)
    assert market.isListingValid(nft, TOKEN_ID)
    (ev,) = tx.events.filter(market.Listed)
    assert (ev.nft, ev.tokenId, ev.seller, ev.price) == (nft.address, TOKEN_ID, seller.address, PRICE)


def test_operator_approval_is_refused_for_an_nft_without_a_transfer_nonce(market, nft, seller):
    """An operator approval survives transfers, so with an NFT that does not count them a listing
    could come back to life with the token; only its per-token approval (cleared by ERC-721 on every
    transfer) lists it."""
    nft.approve(ape.utils.ZERO_ADDRESS, TOKEN_ID, sender=seller)
    nft.setApprovalForAll(market, True, sender=seller)
    with reverts(market.ModelMarketplaceNotApproved, nft.address, TOKEN_ID, seller.address):
        market.list(nft, TOKEN_ID, PRICE, sender=seller)


def test_operator_approval_lists_a_model_nft(market, model_nft, seller):
    weights = b"\x42" * 32
    model_nft.mint(seller, weights, "ipfs://m", seller, 100, sender=seller)
    model_id = int.from_bytes(weights, "big")
    model_nft.setApprovalForAll(market, True, sender=seller)
    tx = market.list(model_nft, model_id, PRICE, sender=seller)
    assert market.isListingValid(model_nft, model_id)
    (ev,) = tx.events.filter(market.ListingTerms)
    assert (ev.expiry, ev.transferNonce, ev.nonceBound) == (0, 0, True)


def test_list_zero_price_reverts(market, nft, seller):
    with reverts(market.ModelMarketplaceZeroPrice, nft.address, TOKEN_ID):
        market.list(nft, TOKEN_ID, 0, sender=seller)


def test_list_price_above_uint96_reverts(market, nft, seller):
    with reverts(market.ModelMarketplacePriceTooHigh, UINT96_MAX + 1, UINT96_MAX):
        market.list(nft, TOKEN_ID, UINT96_MAX + 1, sender=seller)


def test_list_by_non_owner_reverts(market, nft, seller, buyer):
    with reverts(market.ModelMarketplaceNotOwner, nft.address, TOKEN_ID, buyer.address, seller.address):
        market.list(nft, TOKEN_ID, PRICE, sender=buyer)


def test_list_without_approval_reverts(market, nft, seller):
    nft.approve(ape.utils.ZERO_ADDRESS, TOKEN_ID, sender=seller)
    with reverts(market.ModelMarketplaceNotApproved, nft.address, TOKEN_ID, seller.address):
        market.list(nft, TOKEN_ID, PRICE, sender=seller)


def test_list_collection_without_erc2981_reverts(project, deployer, market, seller):
    plain = deployer.deploy(project.ReferencePlainNFT)
    plain.mint(seller, 1, sender=seller)
    plain.approve(market, 1, sender=seller)
    with reverts(market.ModelMarketplaceNotERC2981, plain.address):
        market.list(plain, 1, PRICE, sender=seller)


def test_new_owner_relists_over_stale_listing(market, listed, seller, buyer):
    listed.transferFrom(seller, buyer, TOKEN_ID, sender=seller)
    assert not market.isListingValid(listed, TOKEN_ID)
    listed.approve(market, TOKEN_ID, sender=buyer)
    market.list(listed, TOKEN_ID, 5, sender=buyer)
    assert market.getListing(listed, TOKEN_ID) == (buyer.address, 5)


# ---------------------------------------------------------------- updatePrice / cancel


def test_update_price_changes_price_and_emits(market, listed, seller):
    tx = market.updatePrice(listed, TOKEN_ID, PRICE * 2, sender=seller)
    assert market.getListing(listed, TOKEN_ID) == (seller.address, PRICE * 2)
    (ev,) = tx.events.filter(market.PriceUpdated)
    assert (ev.nft, ev.tokenId, ev.oldPrice, ev.newPrice) == (listed.address, TOKEN_ID, PRICE, PRICE * 2)


def test_update_price_by_other_reverts(market, listed, seller, buyer):
    with reverts(market.ModelMarketplaceNotSeller, listed.address, TOKEN_ID, seller.address, buyer.address):
        market.updatePrice(listed, TOKEN_ID, 1, sender=buyer)


def test_update_price_to_zero_reverts(market, listed, seller):
    with reverts(market.ModelMarketplaceZeroPrice, listed.address, TOKEN_ID):
        market.updatePrice(listed, TOKEN_ID, 0, sender=seller)


def test_update_price_above_uint96_reverts(market, listed, seller):
    with reverts(market.ModelMarketplacePriceTooHigh, UINT96_MAX + 1, UINT96_MAX):
        market.updatePrice(listed, TOKEN_ID, UINT96_MAX + 1, sender=seller)


def test_update_price_of_unlisted_reverts(market, nft, seller):
    with reverts(market.ModelMarketplaceNotListed, nft.address, TOKEN_ID):
        market.updatePrice(nft, TOKEN_ID, 1, sender=seller)


def test_cancel_removes_listing_and_emits(market, listed, seller):
    tx = market.cancel(listed, TOKEN_ID, sender=seller)
    assert market.getListing(listed, TOKEN_ID) == (ape.utils.ZERO_ADDRESS, 0)
    (ev,) = tx.events.filter(market.Cancelled)
    assert (ev.nft, ev.tokenId, ev.seller) == (listed.address, TOKEN_ID, seller.address)


def test_cancel_by_other_reverts(market, listed, seller, buyer):
    with reverts(market.ModelMarketplaceNotSeller, listed.address, TOKEN_ID, seller.address, buyer.address):
        market.cancel(listed, TOKEN_ID, sender=buyer)


def test_cancel_of_unlisted_reverts(market, nft, seller):
    with reverts(market.ModelMarketplaceNotListed, nft.address, TOKEN_ID):
        market.cancel(nft, TOKEN_ID, sender=seller)


# ---------------------------------------------------------------- buy


def test_buy_pays_royalty_fee_and_seller_to_the_wei(
    market, listed, token, seller, funded_buyer, creator, fee_sink
):
    royalty, fee, to_seller = split(PRICE)
    before = {a: token.balanceOf(a) for a in (seller, funded_buyer, creator, fee_sink)}
    assert market.quote(listed, TOKEN_ID, PRICE) == (creator.address, royalty, fee, to_seller)

    tx = market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)

    assert token.balanceOf(creator) - before[creator] == royalty
    assert token.balanceOf(fee_sink) - before[fee_sink] == fee
    assert token.balanceOf(seller) - before[seller] == to_seller
    assert before[funded_buyer] - token.balanceOf(funded_buyer) == PRICE
    assert listed.ownerOf(TOKEN_ID) == funded_buyer.address
    assert market.getListing(listed, TOKEN_ID) == (ape.utils.ZERO_ADDRESS, 0)
    (ev,) = tx.events.filter(market.Sold)
    assert (ev.nft, ev.tokenId, ev.buyer, ev.seller) == (
        listed.address,
        TOKEN_ID,
        funded_buyer.address,
        seller.address,
    )
    assert (ev.price, ev.royaltyReceiver, ev.royalty, ev.fee) == (PRICE, creator.address, royalty, fee)


def test_buy_by_the_creator_pays_royalty_in_the_seller_transfer(
    project, deployer, market, token, funded_buyer, creator, fee_sink
):
    own = deployer.deploy(project.ReferenceRoyaltyNFT)
    own.mint(creator, 1, creator, ROYALTY_BPS, sender=creator)
    own.approve(market, 1, sender=creator)
    market.list(own, 1, PRICE, sender=creator)
    before = token.balanceOf(creator), token.balanceOf(fee_sink)
    tx = market.buy(own, 1, PRICE, sender=funded_buyer)
    _, fee, _ = split(PRICE)
    assert token.balanceOf(creator) - before[0] == PRICE - fee
    assert token.balanceOf(fee_sink) - before[1] == fee
    assert len(tx.events.filter(token.Transfer)) == 2  # fee + seller (royalty merged)


def test_buy_with_zero_fee_skips_the_treasury_transfer(
    market, listed, token, funded_buyer, deployer, fee_sink
):
    market.setFeeBps(0, sender=deployer)
    before = token.balanceOf(fee_sink)
    tx = market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)
    assert token.balanceOf(fee_sink) == before
    assert tx.events.filter(market.Sold)[0].fee == 0


def test_buy_sold_listing_reverts_not_listed(market, listed, funded_buyer, accounts):
    market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)
    with reverts(market.ModelMarketplaceNotListed, listed.address, TOKEN_ID):
        market.buy(listed, TOKEN_ID, PRICE, sender=accounts[6])


def test_buy_with_stale_expected_price_reverts(market, listed, seller, funded_buyer):
    market.updatePrice(listed, TOKEN_ID, PRICE + 1, sender=seller)
    with reverts(market.ModelMarketplacePriceChanged, listed.address, TOKEN_ID, PRICE, PRICE + 1):
        market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)


def test_self_buy_reverts(market, listed, seller):
    with reverts(market.ModelMarketplaceSelfBuy, listed.address, TOKEN_ID, seller.address):
        market.buy(listed, TOKEN_ID, PRICE, sender=seller)


def test_buy_after_seller_transferred_the_nft_reverts(market, listed, seller, funded_buyer, accounts):
    other = accounts[7]
    listed.transferFrom(seller, other, TOKEN_ID, sender=seller)
    with reverts(market.ModelMarketplaceNotOwner, listed.address, TOKEN_ID, seller.address, other.address):
        market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)


def test_buy_after_approval_revoked_reverts(market, listed, seller, funded_buyer):
    listed.approve(ape.utils.ZERO_ADDRESS, TOKEN_ID, sender=seller)
    assert not market.isListingValid(listed, TOKEN_ID)
    with reverts(market.ModelMarketplaceNotApproved, listed.address, TOKEN_ID, seller.address):
        market.buy(listed, TOKEN_ID, PRICE, sender=funded_buyer)


def test_buy_when_royalty_plus_fee_exceed_price_reverts(
    project, deployer, market, seller, funded_buyer, creator
):
    greedy = deployer.deploy(project.ReferenceRoyaltyNFT)
    greedy.mint(seller, 1, creator, 9_900, sender=seller)  # 99 % royalty + 2.5 % fee > 100 %
    greedy.approve(market, 1, sender=seller)
    market.list(greedy, 1, 10_000, sender=seller)
    with reverts(market.ModelMarketplaceRoyaltyTooHigh, 9_900, 250, 10_000):
        market.buy(greedy, 1, 10_000, sender=funded_buyer)


def test_buy_without_token_allowance_reverts_and_keeps_everything(
    market, listed, token, deployer, accounts, seller
):
    poor = accounts[8]
    token.transfer(poor, PRICE, sender=deployer)
    royalty, _, _ = split(PRICE)  # the first of the three payments pulled is the royalty
    with reverts(token.ERC20InsufficientAllowance, market.address, 0, royalty):
        market.buy(listed, TOKEN_ID, PRICE, sender=poor)
    assert listed.ownerOf(TOKEN_ID) == seller.address
    assert market.getListing(listed, TOKEN_ID) == (seller.address, PRICE)


def test_reentrant_buy_from_the_nft_is_blocked(project, deployer, market, token, seller, funded_buyer):
    evil = deployer.deploy(project.ReentrantRoyaltyNFT)
    for token_id in (1, 2):
        evil.mint(seller, token_id, sender=seller)
    for token_id in (1, 2):
        evil.approve(market, token_id, sender=seller)
    market.list(evil, 1, 100, sender=seller)
    market.list(evil, 2, 100, sender=seller)
    evil.arm(market, 2, 100, sender=seller)
    with reverts(market.ReentrancyGuardReentrantCall):
        market.buy(evil, 1, 100, sender=funded_buyer)
    assert market.getListing(evil, 1) == (seller.address, 100)
    assert evil.ownerOf(1) == seller.address


# ---------------------------------------------------------------- governance of the market


def test_set_fee_bps_emits_and_is_bounded(market, deployer):
    tx = market.setFeeBps(1_000, sender=deployer)
    assert market.feeBps() == 1_000
    (ev,) = tx.events.filter(market.FeeUpdated)
    assert (ev.oldFeeBps, ev.newFeeBps) == (FEE_BPS, 1_000)
    with reverts(market.ModelMarketplaceFeeTooHigh, 1_001, 1_000):
        market.setFeeBps(1_001, sender=deployer)


def test_set_treasury_emits_and_refuses_zero(market, deployer, fee_sink, accounts):
    tx = market.setTreasury(accounts[9], sender=deployer)
    assert market.treasury() == accounts[9].address
    (ev,) = tx.events.filter(market.TreasuryUpdated)
    assert (ev.oldTreasury, ev.newTreasury) == (fee_sink.address, accounts[9].address)
    with reverts(market.ModelMarketplaceZeroTreasury):
        market.setTreasury(ape.utils.ZERO_ADDRESS, sender=deployer)


def test_fee_and_treasury_setters_are_owner_only(market, buyer):
    with reverts(market.OwnableUnauthorizedAccount, buyer.address):
        market.setFeeBps(0, sender=buyer)
    with reverts(market.OwnableUnauthorizedAccount, buyer.address):
        market.setTreasury(buyer, sender=buyer)


# ---------------------------------------------------------------- gas target


def test_model_nft_secondary_sale_pays_its_royalty(
    market, model_nft, token, creator, seller, funded_buyer, fee_sink
):
    weights = b"\x42" * 32
    model_id = int.from_bytes(weights, "big")
    model_nft.mint(creator, weights, "ipfs://card", creator, ROYALTY_BPS, sender=creator)
    model_nft.transferFrom(creator, seller, model_id, sender=creator)
    model_nft.setApprovalForAll(market, True, sender=seller)
    market.list(model_nft, model_id, PRICE, sender=seller)
    royalty, fee, to_seller = split(PRICE)
    before = [token.balanceOf(a) for a in (creator, fee_sink, seller)]
    market.buy(model_nft, model_id, PRICE, sender=funded_buyer)
    after = [token.balanceOf(a) for a in (creator, fee_sink, seller)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [royalty, fee, to_seller]
    assert model_nft.ownerOf(model_id) == funded_buyer.address


def test_sale_gas_is_within_15_percent_of_the_bare_reference(
    project, deployer, token, market, model_nft, fee_sink, seller, buyer, creator
):
    """Same run, same token, same snapshot: a ModelNFT secondary sale vs the bare reference.

    A sale that pays a royalty and a fee makes three token payments (royalty receiver, treasury,
    seller), so the like-for-like reference is NFT transferFrom + 3 token transfers. The ratio
    against 2 transfers (fee and royalty merged into one payee) is reported by `make gas`."""
    from scripts.gas_dao import market_rows

    rows = market_rows(project, deployer, token, market, fee_sink, seller, buyer, creator, model_nft)
    by_name = {r.operation: r for r in rows}
    vs_three = by_name["market: buy (royalty + fee) vs ref 3 transfers"]
    assert vs_three.ratio <= 1.15, vs_three
