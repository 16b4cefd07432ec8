// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IERC721TransferNonce
/// @notice An ERC-721 that counts how often each token changed hands (declared through ERC-165). A
///         marketplace binds a listing to the count at listing time, so the listing ends the moment
///         the token leaves the seller, even if it later comes back.
interface IERC721TransferNonce {
    /// @notice How many times `tokenId` has been transferred since its mint (0 for a fresh token).
    function transferNonce(uint256 tokenId) external view returns (uint64);
}
