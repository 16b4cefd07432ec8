// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Treasury
/// @notice The DAO's timelock AND the protocol treasury. Every protocol fee is paid to this address
///         (job settlement fees, marketplace fees, the treasury share of slashes); it holds ERC-20
///         tokens, ETH and (via TimelockController's receiver hooks) ERC-721/1155 tokens. It owns
///         every protocol contract, so parameter changes and spending happen only as operations
///         that a passed ComputeGovernor proposal queued here and that waited `getMinDelay()`.
/// @dev Roles after deployment (see scripts/deploy_dao.py): PROPOSER_ROLE and CANCELLER_ROLE = the
///      governor only, EXECUTOR_ROLE = the governor only, DEFAULT_ADMIN_ROLE = this contract only
///      (the deployer renounces it), so no externally owned account keeps any power. Spending is a
///      proposal whose action is `token.transfer(to, amount)` (or a call with ETH value) executed by
///      this contract. No storage beyond TimelockController's.
contract Treasury is TimelockController {
    /// @notice ETH arrived (a fee paid in ETH, or a donation).
    event TreasuryReceived(address indexed from, uint256 amount);

    /// @param minDelay seconds a queued operation must wait (0 at deploy time for the ownership
    ///        hand-over, then raised to the network's delay by a self-call)
    /// @param proposers accounts granted PROPOSER_ROLE and CANCELLER_ROLE
    /// @param executors accounts granted EXECUTOR_ROLE (address(0) = anyone)
    /// @param admin optional temporary admin for the deployment wiring (address(0) for none); it
    ///        must renounce DEFAULT_ADMIN_ROLE once the roles are set
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}

    /// @notice Accept ETH and log it.
    receive() external payable override {
        emit TreasuryReceived(msg.sender, msg.value);
    }
}
