"""scripts/deploy.py: wiring, parameters, deployment file."""

import json

import pytest

from scripts.deploy import DeployError, ProtocolParams, deploy_protocol
from scripts.deployment_file import deployment_document
from tests.conftest import CORE_PARAMS
from tests.support.reverts import reverts_on_deploy

ZERO = "0x0000000000000000000000000000000000000000"


def test_fixture_deployment_is_wired(protocol, token, deployer, treasury):
    staking, nft, escrow = protocol["ComputeStaking"], protocol["ModelNFT"], protocol["JobEscrow"]
    assert protocol["ComputeToken"] == token  # reused, not redeployed
    assert staking.token() == token
    assert staking.isLocker(escrow) and staking.isSlasher(escrow)
    assert escrow.token() == token and escrow.staking() == staking and escrow.modelNFT() == nft
    assert escrow.treasury() == treasury and staking.treasury() == treasury
    for contract in (staking, nft, escrow):
        assert contract.owner() == deployer


def test_parameters_reach_the_contracts(protocol):
    staking, nft, escrow = protocol["ComputeStaking"], protocol["ModelNFT"], protocol["JobEscrow"]
    assert staking.minStakePerGpu() == CORE_PARAMS["min_stake_per_gpu"]
    assert staking.unbondingPeriod() == CORE_PARAMS["unbonding_period"]
    assert staking.finderShareBps() == CORE_PARAMS["finder_share_bps"]
    assert staking.harmedShareBps() == CORE_PARAMS["harmed_share_bps"]
    assert escrow.feeBps() == CORE_PARAMS["fee_bps"]
    assert escrow.collateralBps() == CORE_PARAMS["collateral_bps"]
    assert escrow.challengeWindow() == CORE_PARAMS["challenge_window"]
    assert nft.maxRoyaltyBps() == CORE_PARAMS["max_royalty_bps"]


def test_fresh_deployment_writes_the_deployment_file(accounts, chain, tmp_path):
    deployer = accounts[8]
    path = tmp_path / "devnet" / "deployment.json"
    start = chain.blocks.height + 1
    contracts = deploy_protocol(deployer, params={"arbiters": [str(accounts[7])]}, write_to=path)
    doc = json.loads(path.read_text())
    assert doc["chainId"] == chain.chain_id
    assert doc["deployBlock"] == start
    assert set(doc["contracts"]) == {
        "ComputeToken",
        "ComputeStaking",
        "ModelNFT",
        "JobEscrow",
        "PaymentChannels",
    }
    for name, contract in contracts.items():
        entry = doc["contracts"][name]
        assert entry["address"] == contract.address
        assert any(item.get("name") == "owner" or item.get("name") == "name" for item in entry["abi"])
    events = {i["name"] for i in doc["contracts"]["ComputeStaking"]["abi"] if i["type"] == "event"}
    assert "NodeRegistered" in events
    assert contracts["ComputeToken"].balanceOf(deployer) == ProtocolParams().token_supply
    assert contracts["JobEscrow"].treasury() == deployer  # defaults to the deployer
    assert contracts["JobEscrow"].isArbiter(accounts[7])
    assert doc == deployment_document(contracts, start)


def test_unknown_parameters_are_refused(deployer):
    with pytest.raises(DeployError, match="fee_bsp"):
        deploy_protocol(deployer, params={"fee_bsp": 1})


def test_staking_constructor_rejects_a_zero_token(project, deployer, treasury):
    with reverts_on_deploy(project.ComputeStaking.ComputeStakingZeroAddress, "token"):
        deployer.deploy(project.ComputeStaking, ZERO, treasury, 0, 3600, 0, 0)


def test_escrow_constructor_rejects_zero_token_and_staking(project, deployer, token, treasury):
    with reverts_on_deploy(project.JobEscrow.JobEscrowZeroAddress, "token"):
        deployer.deploy(project.JobEscrow, ZERO, token, ZERO, treasury, 0, 0, 3600)
    with reverts_on_deploy(project.JobEscrow.JobEscrowZeroAddress, "staking"):
        deployer.deploy(project.JobEscrow, token, ZERO, ZERO, treasury, 0, 0, 3600)


def test_constructors_bound_check_their_parameters(project, deployer, token, treasury):
    with reverts_on_deploy(
        project.ComputeStaking.ComputeStakingValueOutOfBounds, "unbondingPeriod", 1, 3600, 90 * 86400
    ):
        deployer.deploy(project.ComputeStaking, token, treasury, 0, 1, 0, 0)
    with reverts_on_deploy(project.ModelNFT.ModelNFTValueOutOfBounds, "maxRoyaltyBps", 6_000, 500, 5_000):
        deployer.deploy(project.ModelNFT, 6_000, "")
    with reverts_on_deploy(project.JobEscrow.JobEscrowValueOutOfBounds, "feeBps", 2_000, 0, 1_000):
        deployer.deploy(project.JobEscrow, token, token, ZERO, treasury, 2_000, 0, 3600)
