// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IComputeStaking
/// @notice What other protocol contracts need from compute staking: collateral locks for running
///         jobs (the escrow), slashing for proven faults (the escrow, the attestation registry,
///         governance), and who owns a node.
interface IComputeStaking {
    /// @notice Lock `amount` of `provider`'s free stake as collateral. Only authorised lockers.
    function lockStake(address provider, uint256 amount) external;

    /// @notice Release `amount` of `provider`'s locked collateral. Only authorised lockers.
    function unlockStake(address provider, uint256 amount) external;

    /// @notice Slash up to `amount` of `provider`'s stake that is not locked (free stake and node
    ///         reserve first, then unbonding stake), paying the governed shares to `finder`, `harmed`
    ///         and the treasury. Locked collateral is never taken: it answers for the running jobs.
    ///         The provider earns nothing as `finder` (that share goes to `harmed`) or as `harmed`
    ///         (that share goes to the treasury). Only
    ///         authorised slashers (and the owner, i.e. governance).
    /// @return slashed the amount actually taken (may be less than `amount` if stake is short)
    function slash(address provider, uint256 amount, address finder, address harmed) external returns (uint256 slashed);

    /// @notice Slash exactly `amount` of `provider`'s locked collateral (a job's, which the caller
    ///         locked) and pay the governed shares as `slash` does. Only authorised lockers.
    function slashLocked(address provider, uint256 amount, address finder, address harmed) external;

    /// @notice Stake of `provider` that is neither locked nor unbonding, above what its registered
    ///         nodes require.
    function freeStake(address provider) external view returns (uint256);

    /// @notice The provider that registered `nodeId` (address(0) if none).
    function nodeOwner(bytes32 nodeId) external view returns (address);
}
