// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IOracleQuorum
/// @notice A k-of-n signature check by the protocol's oracle set (the AttestationRegistry), for
///         other contracts that accept the oracles' signed word (the escrow's dispute verdicts).
interface IOracleQuorum {
    /// @notice Reverts unless `signatures` over `digest` are by at least the threshold of current
    ///         oracles, signers strictly ascending by address (so none counts twice), each 65 bytes.
    ///         The digest must already be domain-separated by the caller (its own EIP-712 domain).
    function verifyQuorum(bytes32 digest, bytes[] calldata signatures) external view;
}
