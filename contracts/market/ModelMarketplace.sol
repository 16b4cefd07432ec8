// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC721TransferNonce} from "../interfaces/IERC721TransferNonce.sol";

/// @title ModelMarketplace
/// @notice Fixed-price sales of model NFTs (ERC-721 + ERC-2981) for the protocol token. A sale pays,
///         in the same transaction, the NFT's ERC-2981 royalty to its receiver, the governed protocol
///         fee to the treasury and the rest to the seller, then moves the NFT: royalties cannot be
///         skipped on this market. Listings are non-custodial: the seller keeps the NFT and approves
///         this contract; a listing is only valid while the seller still owns the NFT and the
///         approval stands, which `buy` checks and reports with a clear error. A listing ends when the
///         token leaves the seller, even if it comes back later: for an NFT that counts its transfers
///         (IERC721TransferNonce, as ModelNFT does) the listing is bound to the count at listing time;
///         any other NFT can only be listed with its per-token approval, which ERC-721 clears on every
///         transfer (an operator approval survives transfers, so it is refused for such NFTs). A seller
///         may also give a listing an expiry.
/// @dev Storage layout (deliberate packing):
///      slot 0: Ownable._owner
///      slot 1: Ownable2Step._pendingOwner
///      slot 2: treasury (20 bytes) | feeBps (2 bytes)   -- read together by every sale (1 SLOAD)
///      slot 3: listings mapping root; each listing is two slots:
///              seller (20 bytes) | price (uint96)
///              expiry (uint64, 0: none) | transferNonce (uint64) | nonceBound (bool)
///      The reentrancy lock lives in transient storage (EIP-1153), costing no persistent slot.
///      uint96 prices reach 7.9e28 wei, far above the token's 1e26 total supply.
contract ModelMarketplace is Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice One listing, packed in two storage slots.
    struct Listing {
        address seller;
        uint96 price;
        uint64 expiry;
        uint64 transferNonce;
        bool nonceBound;
    }

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Upper bound on the protocol fee (10 %), checked by `setFeeBps`.
    uint16 public constant MAX_FEE_BPS = 1_000;

    /// @notice The protocol token every sale is paid in.
    IERC20 public immutable paymentToken;

    /// @notice Receives the protocol fee of every sale (the DAO treasury / timelock).
    address public treasury;
    /// @notice Protocol fee in basis points of the sale price (governed, <= MAX_FEE_BPS).
    uint16 public feeBps;

    mapping(address nft => mapping(uint256 tokenId => Listing)) private _listings;

    /// @notice `nft` `tokenId` was listed (or re-listed) by `seller` at `price`.
    event Listed(address indexed nft, uint256 indexed tokenId, address indexed seller, uint256 price);
    /// @notice The listing just made carries terms beyond its price: it ends at `expiry` (0: never) and,
    ///         when `nonceBound`, at the token's next transfer (its nonce at listing: `transferNonce`).
    event ListingTerms(
        address indexed nft, uint256 indexed tokenId, uint64 expiry, uint64 transferNonce, bool nonceBound
    );
    /// @notice The seller changed a listing's price.
    event PriceUpdated(address indexed nft, uint256 indexed tokenId, uint256 oldPrice, uint256 newPrice);
    /// @notice The seller withdrew a listing.
    event Cancelled(address indexed nft, uint256 indexed tokenId, address indexed seller);
    /// @notice A sale: `buyer` paid `price`; `royalty` went to `royaltyReceiver`, `fee` to the
    ///         treasury and `price - royalty - fee` to `seller`.
    event Sold(
        address indexed nft,
        uint256 indexed tokenId,
        address indexed buyer,
        address seller,
        uint256 price,
        address royaltyReceiver,
        uint256 royalty,
        uint256 fee
    );
    /// @notice Governance changed the protocol fee.
    event FeeUpdated(uint16 oldFeeBps, uint16 newFeeBps);
    /// @notice Governance changed the fee recipient.
    event TreasuryUpdated(address oldTreasury, address newTreasury);

    /// @notice `account` is not the owner of the NFT (`owner` is). At `buy`: the listing is stale.
    error ModelMarketplaceNotOwner(address nft, uint256 tokenId, address account, address owner);
    /// @notice `owner` has not approved this marketplace for the NFT (approve or setApprovalForAll).
    error ModelMarketplaceNotApproved(address nft, uint256 tokenId, address owner);
    /// @notice The buyer expected `expected` but the listing's price is `price`.
    error ModelMarketplacePriceChanged(address nft, uint256 tokenId, uint256 expected, uint256 price);
    /// @notice The listing ended: the token has changed hands since (nonce `listedNonce` then, `nonce` now).
    error ModelMarketplaceListingEnded(address nft, uint256 tokenId, uint64 listedNonce, uint64 nonce);
    /// @notice The listing expired at `expiry`; it is now `nowTime`.
    error ModelMarketplaceListingExpired(address nft, uint256 tokenId, uint64 expiry, uint256 nowTime);
    /// @notice The expiry `expiry` is not in the future (now: `nowTime`).
    error ModelMarketplaceInvalidExpiry(uint256 expiry, uint256 nowTime);
    /// @notice No active listing (never listed, cancelled or already sold).
    error ModelMarketplaceNotListed(address nft, uint256 tokenId);
    /// @notice The seller cannot buy their own listing.
    error ModelMarketplaceSelfBuy(address nft, uint256 tokenId, address buyer);
    /// @notice A price of zero is not allowed.
    error ModelMarketplaceZeroPrice(address nft, uint256 tokenId);
    /// @notice The price does not fit the packed listing (max `max`).
    error ModelMarketplacePriceTooHigh(uint256 price, uint256 max);
    /// @notice Only the listing's seller may change or cancel it.
    error ModelMarketplaceNotSeller(address nft, uint256 tokenId, address seller, address caller);
    /// @notice The NFT contract does not implement ERC-2981, so royalties could not be honoured.
    error ModelMarketplaceNotERC2981(address nft);
    /// @notice Royalty plus protocol fee exceed the price.
    error ModelMarketplaceRoyaltyTooHigh(uint256 royalty, uint256 fee, uint256 price);
    /// @notice Fee above the bound.
    error ModelMarketplaceFeeTooHigh(uint256 feeBps, uint256 max);
    /// @notice The treasury cannot be the zero address.
    error ModelMarketplaceZeroTreasury();

    /// @param paymentToken_ the protocol token
    /// @param treasury_ fee recipient (the DAO timelock once deployed)
    /// @param feeBps_ protocol fee in basis points (<= MAX_FEE_BPS)
    /// @param initialOwner owner until the deploy script hands ownership to the timelock
    constructor(IERC20 paymentToken_, address treasury_, uint16 feeBps_, address initialOwner)
        Ownable(initialOwner)
    {
        paymentToken = paymentToken_;
        _setTreasury(treasury_);
        _setFeeBps(feeBps_);
    }

    // ------------------------------------------------------------------ seller actions

    /// @notice List `tokenId` of `nft` for `price` tokens, without expiry. The caller must own it and
    ///         have approved this contract. Re-listing (e.g. by a new owner over a stale listing)
    ///         overwrites. The listing ends when the token leaves the caller (see the contract notice).
    function list(address nft, uint256 tokenId, uint256 price) external {
        _list(nft, tokenId, price, 0);
    }

    /// @notice Like `list`, ending at `expiry` (unix time, in the future).
    function listUntil(address nft, uint256 tokenId, uint256 price, uint64 expiry) external {
        if (expiry <= block.timestamp) revert ModelMarketplaceInvalidExpiry(expiry, block.timestamp);
        _list(nft, tokenId, price, expiry);
    }

    /// @notice Change the price of the caller's listing.
    function updatePrice(address nft, uint256 tokenId, uint256 newPrice) external {
        Listing storage listing = _sellersListing(nft, tokenId);
        if (newPrice == 0) revert ModelMarketplaceZeroPrice(nft, tokenId);
        if (newPrice > type(uint96).max) revert ModelMarketplacePriceTooHigh(newPrice, type(uint96).max);
        uint256 oldPrice = listing.price;
        listing.price = uint96(newPrice);
        emit PriceUpdated(nft, tokenId, oldPrice, newPrice);
    }

    /// @notice Withdraw the caller's listing.
    function cancel(address nft, uint256 tokenId) external {
        _sellersListing(nft, tokenId);
        delete _listings[nft][tokenId];
        emit Cancelled(nft, tokenId, msg.sender);
    }

    // ------------------------------------------------------------------ buyer action

    /// @notice Buy `tokenId` of `nft` at its listed price, which must equal `expectedPrice` (so a
    ///         seller cannot front-run a buyer with a price rise). The buyer must have approved
    ///         this contract for `expectedPrice` tokens. Pays royalty, fee and seller, then moves the
    ///         NFT (plain `transferFrom`: the buyer chose to receive it).
    function buy(address nft, uint256 tokenId, uint256 expectedPrice) external nonReentrant {
        Listing memory listing = _listings[nft][tokenId];
        address seller = listing.seller;
        uint256 price = listing.price;
        // ---- checks
        if (seller == address(0)) revert ModelMarketplaceNotListed(nft, tokenId);
        if (price != expectedPrice) revert ModelMarketplacePriceChanged(nft, tokenId, expectedPrice, price);
        if (msg.sender == seller) revert ModelMarketplaceSelfBuy(nft, tokenId, msg.sender);
        _checkLive(nft, tokenId, listing);
        (address royaltyReceiver, uint256 royalty) = IERC2981(nft).royaltyInfo(tokenId, price);
        if (royaltyReceiver == address(0)) royalty = 0;
        address treasury_ = treasury;
        // feeBps <= MAX_FEE_BPS < BPS, so fee <= price and `price - fee` cannot underflow.
        uint256 fee = (price * feeBps) / BPS;
        if (royalty > price - fee) revert ModelMarketplaceRoyaltyTooHigh(royalty, fee, price);
        uint256 toSeller;
        unchecked {
            // royalty <= price - fee was checked just above.
            toSeller = price - fee - royalty;
        }
        // ---- effects
        delete _listings[nft][tokenId];
        emit Sold(nft, tokenId, msg.sender, seller, price, royaltyReceiver, royalty, fee);
        // ---- interactions (all reverting as one; the lock blocks re-entry through token hooks)
        if (royaltyReceiver == seller) {
            // the creator sells: one transfer instead of two
            unchecked {
                // toSeller + royalty == price - fee, no overflow
                toSeller += royalty;
            }
        } else if (royalty != 0) {
            paymentToken.safeTransferFrom(msg.sender, royaltyReceiver, royalty);
        }
        if (fee != 0) paymentToken.safeTransferFrom(msg.sender, treasury_, fee);
        if (toSeller != 0) paymentToken.safeTransferFrom(msg.sender, seller, toSeller);
        // ERC-721, not ERC-20 (same selector); `seller` is the listing's seller, checked above to be
        // the current owner who approved this contract.
        // slither-disable-next-line arbitrary-send-erc20
        IERC721(nft).transferFrom(seller, msg.sender, tokenId);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the protocol fee (owner = DAO timelock). Bounded by MAX_FEE_BPS.
    function setFeeBps(uint16 newFeeBps) external onlyOwner {
        _setFeeBps(newFeeBps);
    }

    /// @notice Set the fee recipient (owner = DAO timelock). Must be non-zero.
    function setTreasury(address newTreasury) external onlyOwner {
        _setTreasury(newTreasury);
    }

    // ------------------------------------------------------------------ views

    /// @notice The stored listing (seller == address(0) when none). It may be stale: see
    ///         `isListingValid`.
    function getListing(address nft, uint256 tokenId) external view returns (address seller, uint256 price) {
        Listing memory listing = _listings[nft][tokenId];
        return (listing.seller, listing.price);
    }

    /// @notice The whole stored listing, its expiry and transfer binding included.
    function listingOf(address nft, uint256 tokenId) external view returns (Listing memory) {
        return _listings[nft][tokenId];
    }

    /// @notice True when the listing exists, has not expired, the token has not changed hands since it
    ///         was listed, and its seller still owns and has approved the NFT (what `buy` checks).
    function isListingValid(address nft, uint256 tokenId) external view returns (bool) {
        Listing memory listing = _listings[nft][tokenId];
        address seller = listing.seller;
        if (seller == address(0)) return false;
        if (listing.expiry != 0 && block.timestamp > listing.expiry) return false;
        if (listing.nonceBound && IERC721TransferNonce(nft).transferNonce(tokenId) != listing.transferNonce) {
            return false;
        }
        if (IERC721(nft).ownerOf(tokenId) != seller) return false;
        return _isApproved(nft, tokenId, seller, listing.nonceBound);
    }

    /// @notice The split of a sale at `price`: (royalty receiver, royalty, protocol fee, to seller).
    function quote(address nft, uint256 tokenId, uint256 price)
        external
        view
        returns (address royaltyReceiver, uint256 royalty, uint256 fee, uint256 toSeller)
    {
        (royaltyReceiver, royalty) = IERC2981(nft).royaltyInfo(tokenId, price);
        if (royaltyReceiver == address(0)) royalty = 0;
        fee = (price * feeBps) / BPS;
        if (royalty > price - fee) revert ModelMarketplaceRoyaltyTooHigh(royalty, fee, price);
        toSeller = price - fee - royalty;
    }

    // ------------------------------------------------------------------ internals

    function _sellersListing(address nft, uint256 tokenId) private view returns (Listing storage listing) {
        listing = _listings[nft][tokenId];
        address seller = listing.seller;
        if (seller == address(0)) revert ModelMarketplaceNotListed(nft, tokenId);
        if (seller != msg.sender) revert ModelMarketplaceNotSeller(nft, tokenId, seller, msg.sender);
    }

    function _list(address nft, uint256 tokenId, uint256 price, uint64 expiry) private {
        if (price == 0) revert ModelMarketplaceZeroPrice(nft, tokenId);
        if (price > type(uint96).max) revert ModelMarketplacePriceTooHigh(price, type(uint96).max);
        if (!_supports(nft, type(IERC2981).interfaceId)) revert ModelMarketplaceNotERC2981(nft);
        address owner = IERC721(nft).ownerOf(tokenId);
        if (owner != msg.sender) revert ModelMarketplaceNotOwner(nft, tokenId, msg.sender, owner);
        bool nonceBound = _supports(nft, type(IERC721TransferNonce).interfaceId);
        if (!_isApproved(nft, tokenId, owner, nonceBound)) revert ModelMarketplaceNotApproved(nft, tokenId, owner);
        uint64 nonce = nonceBound ? IERC721TransferNonce(nft).transferNonce(tokenId) : 0;
        // the uint96 cast is safe: price <= type(uint96).max was checked above
        _listings[nft][tokenId] = Listing({
            seller: msg.sender, price: uint96(price), expiry: expiry, transferNonce: nonce, nonceBound: nonceBound
        });
        emit Listed(nft, tokenId, msg.sender, price);
        emit ListingTerms(nft, tokenId, expiry, nonce, nonceBound);
    }

    /// @dev Reverts unless `listing` can still be bought: not expired, the token has not changed hands
    ///      since it was listed, and its seller owns and has approved it.
    function _checkLive(address nft, uint256 tokenId, Listing memory listing) private view {
        if (listing.expiry != 0 && block.timestamp > listing.expiry) {
            revert ModelMarketplaceListingExpired(nft, tokenId, listing.expiry, block.timestamp);
        }
        if (listing.nonceBound) {
            uint64 nonce = IERC721TransferNonce(nft).transferNonce(tokenId);
            if (nonce != listing.transferNonce) {
                revert ModelMarketplaceListingEnded(nft, tokenId, listing.transferNonce, nonce);
            }
        }
        address seller = listing.seller;
        address owner = IERC721(nft).ownerOf(tokenId);
        if (owner != seller) revert ModelMarketplaceNotOwner(nft, tokenId, seller, owner);
        if (!_isApproved(nft, tokenId, seller, listing.nonceBound)) {
            revert ModelMarketplaceNotApproved(nft, tokenId, seller);
        }
    }

    /// @dev The per-token approval always counts; an operator approval only where the listing is bound
    ///      to the token's transfer nonce (it survives transfers, so alone it could revive a listing).
    function _isApproved(address nft, uint256 tokenId, address owner, bool operatorAllowed)
        private
        view
        returns (bool)
    {
        if (IERC721(nft).getApproved(tokenId) == address(this)) return true;
        return operatorAllowed && IERC721(nft).isApprovedForAll(owner, address(this));
    }

    function _supports(address nft, bytes4 interfaceId) private view returns (bool) {
        try IERC165(nft).supportsInterface(interfaceId) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    function _setFeeBps(uint16 newFeeBps) private {
        if (newFeeBps > MAX_FEE_BPS) revert ModelMarketplaceFeeTooHigh(newFeeBps, MAX_FEE_BPS);
        emit FeeUpdated(feeBps, newFeeBps);
        feeBps = newFeeBps;
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert ModelMarketplaceZeroTreasury();
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }
}
