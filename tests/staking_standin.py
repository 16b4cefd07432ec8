"""A tiny stand-in for ComputeStaking (only nodeOwner and slash), used until the real staking
contract is merged. Compiled from source at test time; never deployed outside tests."""

STANDIN_SOURCE = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract StakingStandIn {
    mapping(bytes32 => address) public nodeOwner;
    address public lastProvider;
    uint256 public lastAmount;
    address public lastFinder;
    address public lastHarmed;
    uint256 public slashCount;

    function setNodeOwner(bytes32 nodeId, address owner) external {
        nodeOwner[nodeId] = owner;
    }

    function slash(address provider, uint256 amount, address finder, address harmed) external returns (uint256) {
        lastProvider = provider;
        lastAmount = amount;
        lastFinder = finder;
        lastHarmed = harmed;
        slashCount += 1;
        return amount;
    }
}
"""


def deploy_standin(deployer):
    """Compile the stand-in with the project's solc (standard JSON) and deploy it."""
    import os
    from pathlib import Path

    import solcx
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    binary = Path(os.environ.get("SOLCX_BINARY_PATH", ".solcx")) / "solc-v0.8.37"
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"StakingStandIn.sol": {"content": STANDIN_SOURCE}},
            "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
        },
        solc_binary=binary,
    )
    art = out["contracts"]["StakingStandIn.sol"]["StakingStandIn"]
    ctype = ContractType.model_validate(
        {
            "contractName": "StakingStandIn",
            "abi": art["abi"],
            "deploymentBytecode": {"bytecode": "0x" + art["evm"]["bytecode"]["object"]},
        }
    )
    return deployer.deploy(ContractContainer(ctype))
