// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title PlainEscrow
/// @notice Gas reference only (scripts/gas_compare.py): the plainest competent ERC-20 escrow. A
///         depositor locks tokens for a payee and later releases them to the payee: no fees, no
///         stake, no deadline, no dispute. One deposit = one storage slot (depositor 160 bits +
///         amount 96 bits) plus one slot for the payee. Not deployed by the protocol.
contract PlainEscrow {
    using SafeERC20 for IERC20;

    /// @dev Slot 0: depositor | amount (uint96 holds 7.9e28, above any supply used here);
    ///      slot 1: payee.
    struct Deposit {
        address depositor;
        uint96 amount;
        address payee;
    }

    /// @notice The escrowed token.
    IERC20 public immutable token;
    /// @notice Number of deposits made (the id of the last one).
    uint256 public count;
    mapping(uint256 id => Deposit) private _deposits;

    /// @notice Emitted when `depositor` locks `amount` for `payee` under `id`.
    event Deposited(uint256 indexed id, address indexed depositor, address indexed payee, uint256 amount);
    /// @notice Emitted when deposit `id` is paid out to its payee.
    event Released(uint256 indexed id);

    /// @notice The caller is not the depositor of `id` (or `id` does not exist / was released).
    error PlainEscrowNotDepositor(uint256 id, address caller);
    /// @notice The amount does not fit in 96 bits.
    error PlainEscrowAmountTooLarge(uint256 amount);

    constructor(IERC20 token_) {
        token = token_;
    }

    /// @notice Lock `amount` tokens (approved beforehand) for `payee`; returns the deposit id.
    function deposit(address payee, uint256 amount) external returns (uint256 id) {
        if (amount > type(uint96).max) revert PlainEscrowAmountTooLarge(amount);
        id = ++count;
        _deposits[id] = Deposit(msg.sender, uint96(amount), payee);
        emit Deposited(id, msg.sender, payee, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Pay deposit `id` out to its payee (depositor only); the record is deleted.
    function release(uint256 id) external {
        Deposit memory d = _deposits[id];
        if (d.depositor != msg.sender) revert PlainEscrowNotDepositor(id, msg.sender);
        delete _deposits[id];
        emit Released(id);
        token.safeTransfer(d.payee, d.amount);
    }
}
