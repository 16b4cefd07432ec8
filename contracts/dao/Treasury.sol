// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Treasury
/// @notice The DAO's timelock AND the protocol treasury. Every protocol fee is paid to this address
///         (job settlement fees, marketplace fees, the treasury share of slashes); it holds ERC-20
///         tokens, ETH and (via TimelockController's receiver hooks) ERC-721/1155 tokens. It owns
///         every protocol contract, so parameter changes and spending happen only as operations
///         that a passed ComputeGovernor proposal queued here and that waited `getMinDelay()`.
///
///         Optional balance ceiling (off by default, like Livepeer's treasury ceiling): once the
///         treasury holds more than `balanceCeiling` of `surplusToken`, a governed share
///         (`surplusShareBps`) of every fee that arrives ABOVE the ceiling is routed to
///         `stakerRewards` (a staker reward distributor), so an over-funded treasury stops hoarding.
/// @dev Roles after deployment (see scripts/deploy_dao.py): PROPOSER_ROLE and CANCELLER_ROLE = the
///      governor only, EXECUTOR_ROLE = the governor only, DEFAULT_ADMIN_ROLE = this contract only
///      (the deployer renounces it), so no externally owned account keeps any power. Spending is a
///      proposal whose action is `token.transfer(to, amount)` (or a call with ETH value) executed by
///      this contract.
///
///      Surplus accounting. Fees are pushed by other contracts (plain ERC-20 transfers), so the
///      treasury cannot see them one by one. It keeps `accountedBalance`, the balance it has already
///      accounted for; anything above it is new inflow ("fees"). `routeSurplus` (anyone may call it)
///      routes `share * min(inflow, balance - ceiling)` and records the rest as accounted. Outflows
///      only happen through timelock operations: `_execute` first routes the inflow that arrived
///      before the operation, then runs it, then re-syncs `accountedBalance` to the balance, so
///      governance's own spending (or deposits) is never mistaken for fees. Inside `_execute` the
///      routing is best-effort (`balanceOf` in try/catch, `trySafeTransfer`): a misbehaving token
///      can never block governance, which can then switch routing off. Cost when routing is off:
///      one cold SLOAD per executed call (~2.1k gas).
///
///      Storage after TimelockController's (`_timestamps`, `_minDelay`, AccessControl roles):
///      slot a: surplusToken (20 bytes) | surplusShareBps (2 bytes)  -- read first by every hook
///      slot b: stakerRewards (20 bytes)
///      slot c: balanceCeiling (uint256), slot d: accountedBalance (uint256) -- full words so no
///      token balance can overflow a cast inside `_execute`.
contract Treasury is TimelockController {
    using SafeERC20 for IERC20;

    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;

    /// @notice The token whose balance the ceiling applies to (address(0): routing off).
    IERC20 public surplusToken;
    /// @notice Share, in bps, of above-ceiling inflow routed to `stakerRewards` (0: routing off).
    uint16 public surplusShareBps;
    /// @notice Receives the routed share (a staker reward distributor).
    address public stakerRewards;
    /// @notice Balance of `surplusToken` above which inflow is shared with stakers.
    uint256 public balanceCeiling;
    /// @notice Balance of `surplusToken` already accounted for (inflow is measured above it).
    uint256 public accountedBalance;

    /// @notice ETH arrived (a fee paid in ETH, or a donation).
    event TreasuryReceived(address indexed from, uint256 amount);
    /// @notice Governance configured the balance ceiling and surplus routing.
    event SurplusRoutingSet(address indexed token, address indexed stakerRewards, uint256 ceiling, uint16 shareBps);
    /// @notice `amount` of `token` above the ceiling went to `stakerRewards`.
    event SurplusRouted(address indexed token, address indexed stakerRewards, uint256 amount, uint256 balanceAfter);

    /// @notice The share is above 100 %.
    error TreasurySurplusShareTooHigh(uint256 shareBps, uint256 max);
    /// @notice Routing on (share > 0) needs a token and a rewards receiver.
    error TreasurySurplusRoutingIncomplete(address token, address stakerRewards);

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

    /// @notice Configure the balance ceiling. Only the timelock itself (a passed proposal), like
    ///         `updateDelay`. `shareBps = 0` switches routing off. Inflow is counted from now on.
    /// @param token the fee token the ceiling applies to (the protocol token)
    /// @param rewards receiver of the routed share (staker reward distributor)
    /// @param ceiling balance above which inflow is shared
    /// @param shareBps share of above-ceiling inflow routed, 0..10000
    function setSurplusRouting(IERC20 token, address rewards, uint256 ceiling, uint16 shareBps) external {
        if (msg.sender != address(this)) revert TimelockUnauthorizedCaller(msg.sender);
        if (shareBps > BPS) revert TreasurySurplusShareTooHigh(shareBps, BPS);
        if (shareBps != 0 && (address(token) == address(0) || rewards == address(0))) {
            revert TreasurySurplusRoutingIncomplete(address(token), rewards);
        }
        surplusToken = token;
        surplusShareBps = shareBps;
        stakerRewards = rewards;
        balanceCeiling = ceiling;
        accountedBalance = address(token) == address(0) ? 0 : token.balanceOf(address(this));
        emit SurplusRoutingSet(address(token), rewards, ceiling, shareBps);
    }

    /// @notice Route the staker share of the fees that arrived above the ceiling since the last
    ///         accounting. Anyone may call it (keepers, or the fee payers' own flows).
    /// @return routed the amount sent to `stakerRewards`
    function routeSurplus() external returns (uint256 routed) {
        return _routeSurplus(true);
    }

    /// @notice What `routeSurplus` would route now.
    function pendingSurplus() public view returns (uint256) {
        IERC20 token = surplusToken;
        uint256 share = surplusShareBps;
        if (address(token) == address(0) || share == 0) return 0;
        return _surplusOf(token.balanceOf(address(this)), share);
    }

    /// @dev Every executed operation call: route the inflow that came before it, run it, then
    ///      account for what the operation itself moved.
    function _execute(address target, uint256 value, bytes calldata data) internal override {
        bool routing = address(surplusToken) != address(0) && surplusShareBps != 0;
        if (routing) _routeSurplus(false);
        super._execute(target, value, data);
        IERC20 token = surplusToken; // the operation may have reconfigured routing
        if (address(token) != address(0)) {
            (bool ok, uint256 balance) = _tryBalance(token);
            if (ok) accountedBalance = balance;
        }
    }

    function _routeSurplus(bool strict) private returns (uint256 routed) {
        IERC20 token = surplusToken;
        uint256 share = surplusShareBps;
        if (address(token) == address(0) || share == 0) return 0;
        uint256 balance;
        if (strict) {
            balance = token.balanceOf(address(this));
        } else {
            bool ok;
            (ok, balance) = _tryBalance(token);
            if (!ok) return 0; // a broken token must not block governance (which can switch it off)
        }
        routed = _surplusOf(balance, share);
        // "Nothing to route" is exactly zero; a donation only makes `routed` positive, never blocks.
        // slither-disable-next-line incorrect-equality
        if (routed == 0) {
            if (balance != accountedBalance) accountedBalance = balance;
            return 0;
        }
        address rewards = stakerRewards;
        // routed <= inflow <= balance (see _surplusOf), so the subtraction cannot underflow.
        accountedBalance = balance - routed;
        if (strict) {
            token.safeTransfer(rewards, routed);
        } else if (!token.trySafeTransfer(rewards, routed)) {
            // Best effort inside governance execution; `_execute` re-syncs the accounting right after.
            return 0;
        }
        emit SurplusRouted(address(token), rewards, routed, balance - routed);
    }

    function _tryBalance(IERC20 token) private view returns (bool ok, uint256 balance) {
        try token.balanceOf(address(this)) returns (uint256 b) {
            return (true, b);
        } catch {
            return (false, 0);
        }
    }

    /// @dev share * min(inflow, balance - ceiling), 0 when the balance is at or below the ceiling or
    ///      nothing arrived since the last accounting.
    function _surplusOf(uint256 balance, uint256 share) private view returns (uint256) {
        uint256 accounted = accountedBalance;
        uint256 ceiling = balanceCeiling;
        if (balance <= accounted || balance <= ceiling) return 0;
        uint256 inflow = balance - accounted;
        uint256 above = balance - ceiling;
        return ((inflow < above ? inflow : above) * share) / BPS;
    }
}
