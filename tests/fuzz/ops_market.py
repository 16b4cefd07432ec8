"""Fuzzed operations on ModelNFT and ModelMarketplace: mint, list, buy, cancel, transfer."""

from __future__ import annotations

from eth_utils import keccak
from hypothesis import strategies as st

from tests.fuzz.base import STATS, MachineBase, op
from tests.fuzz.params import BPS, ETHER, ZERO


class MarketOps(MachineBase):
    @op(
        2,
        c=st.integers(0, 1),
        bps=st.sampled_from([0, 300, 1_000, 1_500]),
        receiver_other=st.booleans(),
        reuse=st.booleans(),
    )
    def mint(self, c, bps, receiver_other, reuse):
        creators = self.w.actors["holders"][:2]
        creator = creators[c]
        receiver = creators[1 - c] if receiver_other else creator
        if reuse and self.m.nfts:
            weights = sorted(self.m.nfts)[0].to_bytes(32, "big")
        else:
            self.minted += 1
            weights = keccak(text=f"fuzz-weights-{self.minted}")
        model_id = int.from_bytes(weights, "big")
        if bps > 1_000:
            expected = "ModelNFTRoyaltyTooHigh"
        elif model_id in self.m.nfts:
            expected = "ModelNFTAlreadyMinted"
        else:
            expected = None
        args = (creator, weights, "ipfs://fuzz", receiver, bps)
        if self.expect(expected, "ModelNFT", "mint", *args, sender=creator):
            self.m.nfts[model_id] = {
                "owner": creator,
                "receiver": receiver if bps else ZERO,
                "bps": bps,
                "nonce": 0,  # ModelNFT.transferNonce
            }

    @op(
        3,
        pre=lambda self: self.m.nfts,
        i=st.integers(0, 10**6),
        h=st.integers(0, 2),
        price=st.integers(0, 50_000 * ETHER),
        expiry=st.sampled_from([0, 0, 0, 600]),
    )
    def list_model(self, i, h, price, expiry):
        """List with `list`, or with `listUntil` ending `expiry` seconds from now."""
        model_id = sorted(self.m.nfts)[i % len(self.m.nfts)]
        nft = self.m.nfts[model_id]
        seller = nft["owner"] if i % 4 != 3 else self.w.actors["holders"][h]
        if price == 0:
            expected = "ModelMarketplaceZeroPrice"
        elif nft["owner"] != seller:
            expected = "ModelMarketplaceNotOwner"
        else:
            expected = None
        nft_addr = self.w.addr["ModelNFT"]
        ends = self.t + expiry if expiry else 0
        if expiry:
            ok = self.expect(
                expected, "ModelMarketplace", "listUntil", nft_addr, model_id, price, ends, sender=seller
            )
        else:
            ok = self.expect(expected, "ModelMarketplace", "list", nft_addr, model_id, price, sender=seller)
        if ok:
            self.m.listings[model_id] = (seller, price, nft["nonce"], ends)

    @op(3, pre=lambda self: self.m.nfts, i=st.integers(0, 10**6), h=st.integers(0, 2))
    def buy_model(self, i, h):
        listed = sorted(self.m.listings)
        aim = listed and i % 4 != 3
        model_id = listed[i % len(listed)] if aim else sorted(self.m.nfts)[i % len(self.m.nfts)]
        buyer = self.w.actors["holders"][h]
        listing = self.m.listings.get(model_id)
        nft = self.m.nfts[model_id]
        price = listing[1] if listing else 1
        if listing is None:
            expected = "ModelMarketplaceNotListed"
        elif buyer == listing[0]:
            expected = "ModelMarketplaceSelfBuy"
        elif listing[3] and self.t > listing[3]:
            expected = "ModelMarketplaceListingExpired"
        elif nft["nonce"] != listing[2]:
            expected = "ModelMarketplaceListingEnded"  # the token changed hands since it was listed
        elif self.m.balances[buyer] < price:
            expected = "ERC20InsufficientBalance"
        else:
            expected = None
        if self.expect(
            expected, "ModelMarketplace", "buy", self.w.addr["ModelNFT"], model_id, price, sender=buyer
        ):
            seller = listing[0]
            fee = price * self.w.params["market_fee_bps"] // BPS
            royalty = price * nft["bps"] // BPS if nft["bps"] else 0
            if royalty:
                self.move(buyer, nft["receiver"], royalty)
            self.move(buyer, self.w.timelock, fee)
            self.move(buyer, seller, price - fee - royalty)
            nft["owner"] = buyer
            nft["nonce"] += 1
            del self.m.listings[model_id]
            STATS["marketplace_sales"] += 1
        if expected == "ModelMarketplaceListingEnded":
            STATS["revived_listings_refused"] += 1

    @op(2, pre=lambda self: self.m.nfts, i=st.integers(0, 10**6), h=st.integers(0, 2))
    def transfer_model(self, i, h):
        """The owner moves the NFT to another holder (or back): its listing, if any, ends for good."""
        model_id = sorted(self.m.nfts)[i % len(self.m.nfts)]
        nft = self.m.nfts[model_id]
        owner, to = nft["owner"], self.w.actors["holders"][h]
        if self.expect(None, "ModelNFT", "transferFrom", owner, to, model_id, sender=owner):
            nft["owner"] = to
            nft["nonce"] += 1

    @op(1, pre=lambda self: self.m.nfts, i=st.integers(0, 10**6), h=st.integers(0, 2))
    def cancel_listing(self, i, h):
        model_id = sorted(self.m.nfts)[i % len(self.m.nfts)]
        seller = self.w.actors["holders"][h]
        listing = self.m.listings.get(model_id)
        if listing is None:
            expected = "ModelMarketplaceNotListed"
        elif listing[0] != seller:
            expected = "ModelMarketplaceNotSeller"
        else:
            expected = None
        if self.expect(
            expected, "ModelMarketplace", "cancel", self.w.addr["ModelNFT"], model_id, sender=seller
        ):
            del self.m.listings[model_id]
