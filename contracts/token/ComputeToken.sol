// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title ComputeToken (GPU)
/// @notice The protocol token: pays for jobs, is staked by providers and carries governance votes.
/// @dev ERC-20 + EIP-2612 permit + ERC20Votes (timestamp clock, so governance periods are in seconds
///      and behave the same on L2s whose block numbers do not track time). Fixed supply minted once.
contract ComputeToken is ERC20, ERC20Permit, ERC20Votes {
    /// @param initialHolder receives the whole fixed supply
    /// @param supply total supply in wei (18 decimals)
    constructor(address initialHolder, uint256 supply) ERC20("GPU Compute Token", "GPU") ERC20Permit("GPU Compute Token") {
        _mint(initialHolder, supply);
    }

    /// @notice Votes are checkpointed by timestamp (EIP-6372).
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice Machine-readable description of the clock (EIP-6372).
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
