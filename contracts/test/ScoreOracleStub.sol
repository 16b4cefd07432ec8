// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IScoreOracle} from "../interfaces/IScoreOracle.sol";

/// @title ScoreOracleStub
/// @notice Test double for the attestation registry's IScoreOracle hook, used by the escrow tests
///         until the real registry is merged: scores are set directly instead of attested.
contract ScoreOracleStub is IScoreOracle {
    /// @notice Score recorded for a (provider, node) pair.
    mapping(address provider => mapping(bytes32 nodeId => uint32)) public scores;

    /// @notice A score was set directly (test set-up).
    event ScoreSet(address indexed provider, bytes32 indexed nodeId, uint32 score);

    /// @notice `provider`'s node `nodeId` scores `score`, below `minScore`.
    error ScoreOracleStubScoreTooLow(address provider, bytes32 nodeId, uint32 score, uint32 minScore);

    /// @notice Record `score` for `provider`'s `nodeId`.
    function setScore(address provider, bytes32 nodeId, uint32 score) external {
        scores[provider][nodeId] = score;
        emit ScoreSet(provider, nodeId, score);
    }

    /// @inheritdoc IScoreOracle
    function checkScore(address provider, bytes32 nodeId, uint32 minScore, bytes calldata)
        external
        view
        returns (uint32 score)
    {
        score = scores[provider][nodeId];
        if (score < minScore) revert ScoreOracleStubScoreTooLow(provider, nodeId, score, minScore);
    }
}
