"""ModelNFT: content-addressed mint, ERC-2981 royalties, transfers, governance, gas target."""

import ape
import pytest

from tests.support.core import MODEL_URI, as_int, events, weights_hash
from tests.support.reverts import reverts

ZERO = ape.utils.ZERO_ADDRESS


@pytest.fixture
def minted(model_nft, creator):
    """A model minted by `creator` to itself with a 5% royalty to itself (the common path)."""
    wh = weights_hash("llama")
    model_nft.mint(creator, wh, MODEL_URI, creator, 500, sender=creator)
    return as_int(wh)


def test_mint_uses_the_weights_hash_as_id_and_emits_the_card(model_nft, creator):
    wh = weights_hash("mistral")
    tx = model_nft.mint(creator, wh, MODEL_URI, creator, 500, sender=creator)
    model_id = as_int(wh)
    assert tx.return_value == model_id
    assert model_nft.ownerOf(model_id) == creator
    assert model_nft.balanceOf(creator) == 1
    assert model_nft.exists(model_id)
    assert events(tx, model_nft.ModelMinted) == [
        {"weightsHash": wh, "creator": creator, "metadataURI": MODEL_URI}
    ]
    assert events(tx, model_nft.Transfer) == [{"from": ZERO, "to": creator, "tokenId": model_id}]


def test_creator_may_mint_to_someone_else(model_nft, creator, requester):
    wh = weights_hash("gift")
    tx = model_nft.mint(requester, wh, MODEL_URI, creator, 300, sender=creator)
    assert model_nft.ownerOf(as_int(wh)) == requester
    assert events(tx, model_nft.ModelMinted)[0]["creator"] == creator
    assert model_nft.royaltyInfo(as_int(wh), 10_000) == (creator, 300)


def test_the_same_weights_cannot_be_minted_twice(model_nft, creator, requester, minted):
    with reverts(model_nft.ModelNFTAlreadyMinted, minted, creator):
        model_nft.mint(requester, minted.to_bytes(32, "big"), "other", requester, 0, sender=requester)


def test_mint_rejects_a_zero_weights_hash(model_nft, creator):
    with reverts(model_nft.ModelNFTZeroWeightsHash, creator):
        model_nft.mint(creator, b"\x00" * 32, MODEL_URI, creator, 0, sender=creator)


def test_mint_rejects_the_zero_owner(model_nft, creator):
    with reverts(model_nft.ERC721InvalidReceiver, ZERO):
        model_nft.mint(ZERO, weights_hash("x"), MODEL_URI, creator, 0, sender=creator)


def test_royalty_above_the_governed_max_reverts(model_nft, creator):
    with reverts(model_nft.ModelNFTRoyaltyTooHigh, 1_001, 1_000):
        model_nft.mint(creator, weights_hash("greedy"), MODEL_URI, creator, 1_001, sender=creator)


def test_royalty_between_floor_and_max_is_checked_against_the_max(model_nft, creator, deployer):
    model_nft.mint(creator, weights_hash("a"), MODEL_URI, creator, 800, sender=creator)
    model_nft.setMaxRoyaltyBps(600, sender=deployer)
    with reverts(model_nft.ModelNFTRoyaltyTooHigh, 800, 600):
        model_nft.mint(creator, weights_hash("b"), MODEL_URI, creator, 800, sender=creator)
    model_nft.mint(creator, weights_hash("c"), MODEL_URI, creator, 500, sender=creator)  # floor: always ok


def test_royalty_to_a_zero_receiver_reverts(model_nft, creator):
    with reverts(model_nft.ModelNFTZeroRoyaltyReceiver, 500):
        model_nft.mint(creator, weights_hash("x"), MODEL_URI, ZERO, 500, sender=creator)


def test_zero_royalty_needs_no_receiver(model_nft, creator):
    wh = weights_hash("free")
    model_nft.mint(creator, wh, MODEL_URI, ZERO, 0, sender=creator)
    assert model_nft.royaltyInfo(as_int(wh), 10**18) == (ZERO, 0)
    assert model_nft.royaltyOf(as_int(wh)) == (ZERO, 0)


def test_royalty_info_follows_erc2981(model_nft, creator, minted):
    assert model_nft.royaltyInfo(minted, 10**18) == (creator, 5 * 10**16)
    assert model_nft.royaltyInfo(minted, 199) == (creator, 9)  # rounds down
    assert model_nft.royaltyOf(minted) == (creator, 500)


def test_royalty_info_of_an_unknown_model_is_zero(model_nft):
    assert model_nft.royaltyInfo(12345, 10**18) == (ZERO, 0)


def test_royalty_stays_with_the_creator_after_sales(model_nft, creator, requester, outsider, minted):
    model_nft.transferFrom(creator, requester, minted, sender=creator)
    assert model_nft.ownerOf(minted) == requester
    assert model_nft.royaltyInfo(minted, 10_000) == (creator, 500)
    model_nft.transferFrom(requester, outsider, minted, sender=requester)
    assert model_nft.royaltyInfo(minted, 10_000) == (creator, 500)
    assert model_nft.balanceOf(creator) == 0
    assert model_nft.balanceOf(requester) == 0
    assert model_nft.balanceOf(outsider) == 1


def test_a_separate_receiver_is_kept_through_transfers(model_nft, creator, requester, outsider):
    wh = weights_hash("split")
    model_nft.mint(creator, wh, MODEL_URI, outsider, 700, sender=creator)
    model_nft.transferFrom(creator, requester, as_int(wh), sender=creator)
    assert model_nft.royaltyInfo(as_int(wh), 10_000) == (outsider, 700)


def test_approved_operator_transfers_and_approval_is_cleared(model_nft, creator, requester, outsider, minted):
    tx = model_nft.approve(outsider, minted, sender=creator)
    assert events(tx, model_nft.Approval) == [{"owner": creator, "approved": outsider, "tokenId": minted}]
    model_nft.transferFrom(creator, requester, minted, sender=outsider)
    assert model_nft.getApproved(minted) == ZERO


def test_transfer_by_a_stranger_reverts(model_nft, creator, outsider, minted):
    with reverts(model_nft.ERC721InsufficientApproval, outsider, minted):
        model_nft.transferFrom(creator, outsider, minted, sender=outsider)


def test_transfer_from_the_wrong_owner_reverts(model_nft, creator, requester, minted):
    with reverts(model_nft.ERC721IncorrectOwner, requester, minted, creator):
        model_nft.transferFrom(requester, creator, minted, sender=creator)


def test_safe_transfer_to_an_account(model_nft, creator, requester, minted):
    model_nft.safeTransferFrom(creator, requester, minted, sender=creator)
    assert model_nft.ownerOf(minted) == requester


def test_balance_of_zero_reverts(model_nft):
    with reverts(model_nft.ERC721InvalidOwner, ZERO):
        model_nft.balanceOf(ZERO)


def test_owner_of_an_unknown_model_reverts(model_nft):
    with reverts(model_nft.ERC721NonexistentToken, 7):
        model_nft.ownerOf(7)


def test_token_uri_is_base_plus_hex_id(model_nft, minted):
    assert model_nft.tokenURI(minted) == "ipfs://models/0x" + minted.to_bytes(32, "big").hex()


def test_token_uri_is_empty_without_base(model_nft, deployer, minted):
    tx = model_nft.setBaseURI("", sender=deployer)
    assert events(tx, model_nft.BaseURISet) == [{"baseURI": ""}]
    assert model_nft.tokenURI(minted) == ""


def test_token_uri_of_unknown_model_reverts(model_nft):
    with reverts(model_nft.ERC721NonexistentToken, 99):
        model_nft.tokenURI(99)


def test_supports_erc721_metadata_and_erc2981(model_nft):
    for interface_id in ("0x80ac58cd", "0x5b5e139f", "0x2a55205a", "0x01ffc9a7"):
        assert model_nft.supportsInterface(interface_id)
    assert not model_nft.supportsInterface("0xffffffff")


def test_max_royalty_setter_is_bounded_and_emits(model_nft, deployer):
    tx = model_nft.setMaxRoyaltyBps(2_000, sender=deployer)
    assert events(tx, model_nft.MaxRoyaltyBpsSet) == [{"oldValue": 1_000, "newValue": 2_000}]
    with reverts(model_nft.ModelNFTValueOutOfBounds, "maxRoyaltyBps", 499, 500, 5_000):
        model_nft.setMaxRoyaltyBps(499, sender=deployer)
    with reverts(model_nft.ModelNFTValueOutOfBounds, "maxRoyaltyBps", 5_001, 500, 5_000):
        model_nft.setMaxRoyaltyBps(5_001, sender=deployer)


def test_base_uri_setter_is_bounded(model_nft, deployer):
    with reverts(model_nft.ModelNFTValueOutOfBounds, "baseURI.length", 257, 0, 256):
        model_nft.setBaseURI("u" * 257, sender=deployer)


@pytest.mark.parametrize("call", [("setMaxRoyaltyBps", 600), ("setBaseURI", "x")])
def test_governance_setters_are_owner_only(model_nft, creator, call):
    name, arg = call
    with reverts(model_nft.OwnableUnauthorizedAccount, creator):
        getattr(model_nft, name)(arg, sender=creator)


@pytest.mark.parametrize("holder_has_tokens", [False, True])
def test_mint_gas_is_within_ten_percent_of_a_bare_erc721_mint(
    project, deployer, model_nft, creator, holder_has_tokens
):
    bare = deployer.deploy(project.BareERC721)
    if holder_has_tokens:
        bare.mint(creator, 1, sender=creator)
        model_nft.mint(creator, weights_hash("first"), MODEL_URI, creator, 500, sender=creator)
    wh = weights_hash("measured")
    reference = bare.mint(creator, as_int(wh), sender=creator).gas_used
    gas = model_nft.mint(creator, wh, MODEL_URI, creator, 500, sender=creator).gas_used
    assert gas <= reference * 1.10, f"mint {gas} vs bare {reference}: {gas / reference:.3f}"
