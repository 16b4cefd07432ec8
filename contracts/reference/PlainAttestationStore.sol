// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title PlainAttestationStore
/// @notice Gas reference only (scripts/gas_compare.py): the one-signature-per-call way to attest.
///         Each oracle sends its own transaction `attest(nodeId, score, epoch)` (its signature is the
///         transaction's); the `threshold`-th agreeing call for a (node, epoch) stores the score.
///         Compared with AttestationRegistry.submit (one transaction carrying k signatures) and
///         submitBatch (one root for many nodes). Not deployed by the protocol.
contract PlainAttestationStore {
    /// @dev One slot per (node, epoch) round: score 32 | votes 8 | voted-oracle bitmap 216 bits.
    struct Round {
        uint32 score;
        uint8 votes;
        uint216 votedMask;
    }

    /// @dev One slot per node: the latest score reaching quorum and its epoch.
    struct Latest {
        uint32 score;
        uint64 epoch;
    }

    /// @notice Agreeing calls needed to store a score.
    uint8 public immutable threshold;
    /// @notice 1-based oracle index (0 = not an oracle).
    mapping(address oracle => uint8) public oracleIndex;
    mapping(bytes32 round => Round) private _rounds;
    mapping(bytes32 nodeId => Latest) private _latest;

    /// @notice Emitted when `nodeId`'s `score` for `epoch` reaches quorum.
    event Attested(bytes32 indexed nodeId, uint64 indexed epoch, uint32 score);

    /// @notice The caller is not an oracle.
    error PlainAttestationNotOracle(address caller);
    /// @notice The oracle already attested this round.
    error PlainAttestationAlreadyVoted(bytes32 nodeId, uint64 epoch, address oracle);
    /// @notice The score differs from the first one attested this round.
    error PlainAttestationScoreMismatch(bytes32 nodeId, uint64 epoch, uint32 score, uint32 expected);

    constructor(address[] memory oracles, uint8 threshold_) {
        threshold = threshold_;
        for (uint256 i = 0; i < oracles.length; ++i) {
            oracleIndex[oracles[i]] = uint8(i + 1);
        }
    }

    /// @notice Attest `score` for `nodeId` in `epoch` (one oracle, one call).
    function attest(bytes32 nodeId, uint32 score, uint64 epoch) external {
        uint256 index = oracleIndex[msg.sender];
        if (index == 0) revert PlainAttestationNotOracle(msg.sender);
        bytes32 key = keccak256(abi.encode(nodeId, epoch));
        Round memory r = _rounds[key];
        // index <= 216 (constructor), so the shift stays inside the bitmap.
        uint216 bit = uint216(1) << uint8(index - 1);
        if (r.votedMask & bit != 0) revert PlainAttestationAlreadyVoted(nodeId, epoch, msg.sender);
        if (r.votes == 0) r.score = score;
        else if (r.score != score) revert PlainAttestationScoreMismatch(nodeId, epoch, score, r.score);
        r.votedMask |= bit;
        r.votes += 1;
        _rounds[key] = r;
        if (r.votes == threshold) {
            _latest[nodeId] = Latest(score, epoch);
            emit Attested(nodeId, epoch, score);
        }
    }

    /// @notice The latest score that reached quorum for `nodeId`, and its epoch.
    function latest(bytes32 nodeId) external view returns (uint32 score, uint64 epoch) {
        Latest memory l = _latest[nodeId];
        return (l.score, l.epoch);
    }
}
