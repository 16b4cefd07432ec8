// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IERC721TransferNonce} from "../interfaces/IERC721TransferNonce.sol";

/// @title ModelNFT
/// @notice One ERC-721 token per AI model, with an ERC-2981 royalty its creator sets at mint time
///         (bounded by a governed maximum). The job escrow pays the royalty on every job that uses
///         the model.
/// @dev Content-addressed ids: `modelId == uint256(weightsHash)`. The id *is* the commitment to the
///      weights, so the same weights cannot be minted twice, and nothing else has to be stored to
///      remember the hash. The metadata URI and the creator are emitted in {ModelMinted} (the page
///      reads them from logs); {tokenURI} is the governed base URI + the id in hex.
///
///      Storage layout (the point: a mint writes exactly the slots a bare OpenZeppelin `_mint` writes,
///      i.e. the owner slot and the holder's balance, so its gas stays within a few % of it):
///      - `_records[id]`: ONE slot per token, replacing OpenZeppelin's private `_owners[id]`:
///            bits   0..159  current owner
///            bits 160..175  royalty rate (bps) chosen by the creator
///            bit  176       RECEIVER_STORED: the royalty receiver lives in `_royaltyReceivers[id]`
///            bits 192..255  transfer nonce: how many times the token changed hands (written in the
///                           same slot write as the owner, so counting costs no extra storage); the
///                           marketplace binds a listing to it, so a listing dies with any transfer
///        When the creator mints to the royalty receiver itself (the common case), the receiver is
///        implicit: it is the current owner, who has not changed since the mint. The first transfer
///        of such a token copies the receiver (the previous owner) into `_royaltyReceivers` and sets
///        RECEIVER_STORED, so the royalty keeps going to the creator's receiver after a sale. That
///        one extra slot is paid once, on the first transfer, off the mint path. A mint whose
///        receiver differs from `to` stores it at once.
///      - `_balances[account]`: the ERC-721 balance (OpenZeppelin's own is private, so `_update`,
///        `_ownerOf`, `balanceOf` and `_increaseBalance` are overridden to use these two mappings;
///        approvals, safe-transfer checks and errors remain OpenZeppelin's).
contract ModelNFT is ERC721, IERC2981, IModelRegistry, IERC721TransferNonce, Ownable2Step {
    using Strings for uint256;

    /// @notice Basis-point denominator (100%).
    uint16 public constant BPS = 10_000;
    /// @notice Hard ceiling for the governed royalty maximum (50%).
    uint16 public constant ROYALTY_CAP_BPS = 5_000;
    /// @notice Floor of the governed royalty maximum (5%). Because governance can never set the
    ///         maximum below it, a mint at or below this rate is within the maximum without reading
    ///         it (saves a cold SLOAD on the common path).
    uint16 public constant ROYALTY_FLOOR_BPS = 500;
    /// @notice Longest base URI governance may set (bytes).
    uint256 public constant MAX_BASE_URI_LENGTH = 256;

    uint256 private constant OWNER_MASK = (1 << 160) - 1;
    uint256 private constant BPS_SHIFT = 160;
    uint256 private constant RECEIVER_STORED = 1 << 176;
    uint256 private constant NONCE_SHIFT = 192;

    mapping(uint256 modelId => uint256 record) private _records;
    mapping(address account => uint256 count) private _balances;
    mapping(uint256 modelId => address receiver) private _royaltyReceivers;

    /// @notice The highest royalty rate a creator may choose (bps), set by governance.
    uint16 public maxRoyaltyBps;
    string private _base;

    /// @notice `creator` minted the model whose weights hash to `weightsHash` (its token id is
    ///         uint256(weightsHash)), described at `metadataURI`. Indexed by the hash (a model page
    ///         looks its card up by id); `creator` is data (a topic costs 119 gas more per mint, and
    ///         the first owner is indexed in the mint's Transfer event anyway).
    event ModelMinted(bytes32 indexed weightsHash, address creator, string metadataURI);
    /// @notice Governance changed the highest royalty rate creators may choose.
    event MaxRoyaltyBpsSet(uint16 oldValue, uint16 newValue);
    /// @notice Governance changed the base of every token URI.
    event BaseURISet(string baseURI);

    /// @notice `creator` gave a zero weights hash (no model can commit to it; id 0 means "no model").
    error ModelNFTZeroWeightsHash(address creator);
    /// @notice A model with these weights exists already (token `modelId`, owned by `owner`).
    error ModelNFTAlreadyMinted(uint256 modelId, address owner);
    /// @notice The royalty rate `bps` is above the governed maximum `maxBps`.
    error ModelNFTRoyaltyTooHigh(uint16 bps, uint16 maxBps);
    /// @notice A non-zero royalty rate needs a non-zero receiver.
    error ModelNFTZeroRoyaltyReceiver(uint16 bps);
    /// @notice A governed value was outside its bounds [min, max].
    error ModelNFTValueOutOfBounds(string parameter, uint256 value, uint256 min, uint256 max);

    /// @param maxRoyaltyBps_ initial royalty ceiling for creators (<= ROYALTY_CAP_BPS)
    /// @param baseURI_ initial base of token URIs (id appended as 0x-prefixed 64-digit hex)
    constructor(uint16 maxRoyaltyBps_, string memory baseURI_) ERC721("Compute Model", "MODEL") Ownable(msg.sender) {
        setMaxRoyaltyBps(maxRoyaltyBps_);
        setBaseURI(baseURI_);
    }

    /// @notice Mint the model whose weights hash to `weightsHash` to `to`. Anyone may mint; the
    ///         caller is recorded as creator in {ModelMinted}.
    /// @param to the first owner
    /// @param weightsHash commitment to the model weights (e.g. sha256/keccak256 of the weight file);
    ///        becomes the token id
    /// @param metadataURI where the model card lives (emitted, not stored; its length is paid for by
    ///        the caller in calldata and log data only, so it needs no bound)
    /// @param royaltyReceiver who receives the royalty (ignored when `royaltyBps` is 0)
    /// @param royaltyBps royalty rate in bps, at most `maxRoyaltyBps` (rates up to ROYALTY_FLOOR_BPS
    ///        are always allowed and cost one cold storage read less)
    /// @return modelId the new token id, uint256(weightsHash)
    function mint(
        address to,
        bytes32 weightsHash,
        string calldata metadataURI,
        address royaltyReceiver,
        uint16 royaltyBps
    ) external returns (uint256 modelId) {
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        // maxRoyaltyBps >= ROYALTY_FLOOR_BPS always (setter bound), so rates up to the floor skip the read.
        if (royaltyBps > ROYALTY_FLOOR_BPS && royaltyBps > maxRoyaltyBps) {
            revert ModelNFTRoyaltyTooHigh(royaltyBps, maxRoyaltyBps);
        }
        modelId = uint256(weightsHash);
        uint256 record = _records[modelId];
        if (record != 0) revert ModelNFTAlreadyMinted(modelId, address(uint160(record)));
        if (modelId == 0) revert ModelNFTZeroWeightsHash(msg.sender);

        record = uint256(uint160(to)) | (uint256(royaltyBps) << BPS_SHIFT);
        if (royaltyBps != 0 && royaltyReceiver != to) {
            // Off the common path: the receiver is not the first owner, so it must be stored now.
            if (royaltyReceiver == address(0)) revert ModelNFTZeroRoyaltyReceiver(royaltyBps);
            record |= RECEIVER_STORED;
            _royaltyReceivers[modelId] = royaltyReceiver;
        }
        unchecked {
            // A balance counts distinct token ids held; it cannot reach 2^256.
            _balances[to] += 1;
        }
        _records[modelId] = record;
        emit Transfer(address(0), to, modelId);
        emit ModelMinted(weightsHash, msg.sender, metadataURI);
    }

    /// @notice ERC-2981: the royalty for a sale (or a job) of `salePrice` using model `tokenId`.
    ///         Unknown ids and zero-rate models return (address(0), 0).
    function royaltyInfo(uint256 tokenId, uint256 salePrice)
        external
        view
        returns (address receiver, uint256 royaltyAmount)
    {
        uint256 record = _records[tokenId];
        uint256 bps = uint16(record >> BPS_SHIFT);
        if (bps == 0) return (address(0), 0);
        receiver = record & RECEIVER_STORED != 0 ? _royaltyReceivers[tokenId] : address(uint160(record));
        royaltyAmount = (salePrice * bps) / BPS;
    }

    /// @notice The royalty receiver and rate (bps) of `modelId` ((address(0), 0) when none).
    function royaltyOf(uint256 modelId) external view returns (address receiver, uint16 bps) {
        uint256 record = _records[modelId];
        bps = uint16(record >> BPS_SHIFT);
        if (bps == 0) return (address(0), 0);
        receiver = record & RECEIVER_STORED != 0 ? _royaltyReceivers[modelId] : address(uint160(record));
    }

    /// @inheritdoc IERC721TransferNonce
    function transferNonce(uint256 tokenId) external view returns (uint64) {
        return uint64(_records[tokenId] >> NONCE_SHIFT);
    }

    /// @notice Whether model `modelId` has been minted.
    function exists(uint256 modelId) external view returns (bool) {
        return _records[modelId] != 0;
    }

    /// @notice ERC-721 balance of `owner`.
    function balanceOf(address owner) public view override returns (uint256) {
        if (owner == address(0)) revert ERC721InvalidOwner(address(0));
        return _balances[owner];
    }

    /// @notice Governed base URI + the id as 0x-prefixed 64-digit hex (the weights hash); empty if
    ///         no base is set.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        string memory base = _base;
        return bytes(base).length > 0 ? string.concat(base, tokenId.toHexString(32)) : "";
    }

    /// @notice ERC-165: ERC-721, ERC-721 metadata, ERC-2981, IERC721TransferNonce.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, IERC165) returns (bool) {
        return interfaceId == type(IERC2981).interfaceId || interfaceId == type(IERC721TransferNonce).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the highest royalty rate creators may choose (ROYALTY_FLOOR_BPS .. ROYALTY_CAP_BPS).
    ///         Existing tokens keep their rate.
    function setMaxRoyaltyBps(uint16 value) public onlyOwner {
        if (value < ROYALTY_FLOOR_BPS || value > ROYALTY_CAP_BPS) {
            revert ModelNFTValueOutOfBounds("maxRoyaltyBps", value, ROYALTY_FLOOR_BPS, ROYALTY_CAP_BPS);
        }
        emit MaxRoyaltyBpsSet(maxRoyaltyBps, value);
        maxRoyaltyBps = value;
    }

    /// @notice Set the base of every token URI (e.g. "ipfs://<dir>/" or an indexer's HTTP endpoint).
    function setBaseURI(string memory baseURI) public onlyOwner {
        if (bytes(baseURI).length > MAX_BASE_URI_LENGTH) {
            revert ModelNFTValueOutOfBounds("baseURI.length", bytes(baseURI).length, 0, MAX_BASE_URI_LENGTH);
        }
        _base = baseURI;
        emit BaseURISet(baseURI);
    }

    // ------------------------------------------------------------------ ERC-721 storage overrides

    /// @dev The owner is the low 160 bits of the packed record.
    function _ownerOf(uint256 tokenId) internal view override returns (address) {
        return address(uint160(_records[tokenId]));
    }

    /// @dev Same behaviour as OpenZeppelin's `_update` on the packed record; additionally moves an
    ///      implicit royalty receiver into storage on a token's first transfer (see the layout above).
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        uint256 record = _records[tokenId];
        from = address(uint160(record));
        if (auth != address(0)) _checkAuthorized(from, auth, tokenId);
        if (from != address(0)) {
            _approve(address(0), tokenId, address(0), false);
            unchecked {
                // `from` owns this token, so its balance is at least 1.
                _balances[from] -= 1;
            }
            if (record & RECEIVER_STORED == 0 && uint16(record >> BPS_SHIFT) != 0) {
                // Implicit receiver == the owner since the mint == `from`: store it before it changes.
                _royaltyReceivers[tokenId] = from;
                record |= RECEIVER_STORED;
            }
            unchecked {
                // The nonce occupies the top 64 bits; 2^64 transfers of one token cannot happen.
                record += 1 << NONCE_SHIFT;
            }
        }
        if (to != address(0)) {
            unchecked {
                // A balance counts distinct token ids held; it cannot reach 2^256.
                _balances[to] += 1;
            }
        }
        _records[tokenId] = (record & ~OWNER_MASK) | uint256(uint160(to));
        emit Transfer(from, to, tokenId);
    }

    /// @dev Kept consistent with the overridden balance storage (unused by this contract).
    function _increaseBalance(address account, uint128 value) internal override {
        unchecked {
            // Same contract as OpenZeppelin's: bounded increments cannot overflow a uint256 balance.
            _balances[account] += value;
        }
    }
}
