// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";

/// @title ReferenceSale
/// @notice Gas reference for ModelMarketplace.buy: the bare minimum a sale must do, with no checks,
///         no listing, no royalty lookup: move the NFT from `seller` to the caller and move tokens
///         from the caller to each payee. scripts/gas_dao.py measures it in the same run as a real
///         sale so the ratio compares like with like. Not deployed by the protocol.
contract ReferenceSale {
    /// @notice `transferFrom` the NFT to the caller and `transferFrom` `amounts[i]` tokens from the
    ///         caller to `payees[i]` (the caller approved this contract on both).
    function settle(
        IERC721 nft,
        uint256 tokenId,
        address seller,
        IERC20 token,
        address[] calldata payees,
        uint256[] calldata amounts
    ) external {
        for (uint256 i = 0; i < payees.length; ++i) {
            // ComputeToken reverts on failure and returns true otherwise; `require` keeps the
            // reference honest for any token without SafeERC20's extra code.
            require(token.transferFrom(msg.sender, payees[i], amounts[i]));
        }
        nft.transferFrom(seller, msg.sender, tokenId);
    }
}
