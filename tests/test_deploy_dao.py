"""scripts/deploy_dao.py: parameter handling and the hand-over check."""

import pytest

from scripts.deploy import DeployError, RegistryParams, deploy_registry
from scripts.deploy_dao import (
    DAO_DEFAULTS,
    DAO_DEVNET,
    DaoDeploymentError,
    DaoParams,
    deploy_governed_protocol,
    deploy_treasury,
    split_params,
    verify_handover,
)


def test_real_network_defaults_are_days_and_four_percent():
    p = DaoParams.from_mapping(None)
    assert (p.voting_delay, p.voting_period, p.timelock_delay) == (86_400, 432_000, 172_800)
    assert (p.quorum_percent, p.market_fee_bps, p.surplus_share_bps) == (4, 250, 0)


def test_devnet_values_override_the_defaults():
    p = DaoParams.from_mapping(DAO_DEVNET)
    assert (p.voting_delay, p.voting_period, p.timelock_delay) == (1, 60, 10)


def test_split_params_routes_each_key_to_its_deployer():
    protocol, dao = split_params(
        {"fee_bps": 100, "voting_period": 30, "staker_rewards": "0x1", "oracles": ["0x2"]}
    )
    assert protocol == {"fee_bps": 100, "oracles": ["0x2"]}
    assert dao == {"voting_period": 30, "staker_rewards": "0x1"}


def test_one_set_of_registry_defaults_majority_threshold():
    registry = RegistryParams.from_mapping({"fee_bps": 100, "oracles": ["0x1", "0x2", "0x3"]})
    assert registry.oracles == ("0x1", "0x2", "0x3") and registry.threshold == 2
    assert registry.attestation_max_slash == 1_000 * 10**18
    assert RegistryParams.from_mapping({"oracles": ["0x1"], "oracle_threshold": 1}).threshold == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [({"voting_period": 0}, "voting_period"), ({"quorum_percent": 101}, "quorum_percent")],
)
def test_invalid_dao_params_are_refused_with_a_fix(override, message):
    with pytest.raises(DaoDeploymentError, match=message):
        DaoParams.from_mapping({**DAO_DEFAULTS, **override})


def test_registry_needs_an_oracle_set(deployer):
    with pytest.raises(DeployError, match="oracles"):
        deploy_registry(deployer, None, RegistryParams())
    with pytest.raises(DaoDeploymentError, match="oracles"):
        deploy_governed_protocol(deployer, DAO_DEVNET)


def test_verify_handover_names_what_is_still_held(project, deployer, token):
    timelock = deploy_treasury(deployer)
    market = deployer.deploy(project.ModelMarketplace, token, deployer, 250, deployer)
    governor = deployer.deploy(project.ComputeGovernor, token, timelock, 1, 60, 0, 4)
    with pytest.raises(DaoDeploymentError) as err:
        verify_handover(deployer, timelock, governor, [market], 10)
    text = str(err.value)
    assert "not the timelock" in text and "deployer still holds DEFAULT_ADMIN_ROLE" in text
    assert "governor lacks PROPOSER_ROLE" in text
