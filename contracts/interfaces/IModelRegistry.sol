// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IModelRegistry
/// @notice What the job escrow needs from the model registry (ModelNFT): whether a model is minted
///         and its royalty terms, which the escrow snapshots when a job is posted.
interface IModelRegistry {
    /// @notice True once `modelId` has been minted.
    function exists(uint256 modelId) external view returns (bool);

    /// @notice The royalty receiver and rate (bps) of `modelId` ((address(0), 0) when none).
    function royaltyOf(uint256 modelId) external view returns (address receiver, uint16 bps);
}
