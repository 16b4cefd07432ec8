// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title BareERC721
/// @notice Gas reference only: a plain OpenZeppelin ERC-721 whose public mint is OpenZeppelin's
///         `_mint`. The gas report compares ModelNFT.mint against it in the same run.
contract BareERC721 is ERC721 {
    constructor() ERC721("Bare", "BARE") {}

    /// @notice Mint `tokenId` to `to` (no access control: a measuring stick, never deployed for use).
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
