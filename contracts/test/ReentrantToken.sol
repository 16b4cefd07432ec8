// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Test double: an ERC-20 that, once armed, calls back into a target during its next
///         transfer, to prove that the escrow and staking guards stop reentrancy.
contract ReentrantToken is ERC20 {
    /// @notice Contract called back during the next transfer.
    address public target;
    /// @notice Calldata of that call.
    bytes public payload;
    /// @notice Whether the next transfer calls back.
    bool public armed;

    /// @notice The callback is set up for the next transfer.
    event Armed(address indexed target, bytes payload);

    constructor() ERC20("Reentrant", "RE") {
        _mint(msg.sender, 1e27);
    }

    /// @notice Call `target` with `data` during the next transfer (once).
    function arm(address target_, bytes calldata data) external {
        target = target_;
        payload = data;
        armed = true;
        emit Armed(target_, data);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed) {
            armed = false;
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
