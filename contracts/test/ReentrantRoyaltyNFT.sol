// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";

interface IMarketBuy {
    function buy(address nft, uint256 tokenId, uint256 expectedPrice) external;
}

/// @title ReentrantRoyaltyNFT
/// @notice Test double: an ERC-721 + ERC-2981 collection whose `transferFrom`, once armed, calls back
///         into the marketplace's `buy` before moving the token, to prove the reentrancy lock holds.
contract ReentrantRoyaltyNFT is ERC721, ERC2981 {
    address private _market;
    uint256 private _targetId;
    uint256 private _targetPrice;

    constructor() ERC721("Reentrant NFT", "REN") {}

    /// @notice Mint `tokenId` to `to` (no royalty set).
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }

    /// @notice On the next transferFrom, try to buy `tokenId` at `price` on `market` first.
    function arm(address market, uint256 tokenId, uint256 price) external {
        _market = market;
        _targetId = tokenId;
        _targetPrice = price;
    }

    /// @notice ERC-721 transferFrom with the armed re-entry.
    function transferFrom(address from, address to, uint256 tokenId) public override {
        address market = _market;
        if (market != address(0)) {
            _market = address(0);
            IMarketBuy(market).buy(address(this), _targetId, _targetPrice);
        }
        super.transferFrom(from, to, tokenId);
    }

    /// @notice ERC-165: ERC-721 and ERC-2981.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, ERC2981) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
