// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IScoreOracle
/// @notice The hook the job escrow calls when a provider accepts a job with a minimum verified
///         score. Implemented by the attestation registry.
interface IScoreOracle {
    /// @notice Revert unless `nodeId` belongs to `provider` and carries an unexpired attestation
    ///         with score >= `minScore`.
    /// @param proof empty to use the node's latest stored attestation; otherwise an ABI-encoded
    ///        proof that an attestation is in a quorum-signed batch (format defined by the registry)
    /// @return score the verified score that was checked
    function checkScore(address provider, bytes32 nodeId, uint32 minScore, bytes calldata proof)
        external
        view
        returns (uint32 score);
}
