// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";

/// @title ReferenceRoyaltyNFT
/// @notice Test/reference collection: a bare ERC-721 + ERC-2981 with open minting and any royalty
///         (up to 100 %), used to exercise marketplace paths the protocol's ModelNFT bounds away
///         (e.g. royalty + fee above the price). Not deployed by the protocol.
contract ReferenceRoyaltyNFT is ERC721, ERC2981 {
    constructor() ERC721("Reference Royalty NFT", "RRN") {}

    /// @notice Mint `tokenId` to `to` with a per-token royalty of `royaltyBps` to `receiver`.
    function mint(address to, uint256 tokenId, address receiver, uint96 royaltyBps) external {
        _mint(to, tokenId);
        if (receiver != address(0)) _setTokenRoyalty(tokenId, receiver, royaltyBps);
    }

    /// @notice ERC-165: ERC-721 and ERC-2981.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, ERC2981) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}

/// @title ReferencePlainNFT
/// @notice Test/reference collection without ERC-2981 (the marketplace must refuse it).
contract ReferencePlainNFT is ERC721 {
    constructor() ERC721("Reference Plain NFT", "RPN") {}

    /// @notice Mint `tokenId` to `to`.
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
