"""The devnet demo's real job (oracle.client.demo_job) on a fresh deployment: the demo model is
minted, a job on 360 held-out digits runs on the provider's agent, the outputs come back and are
checked, accuracy and the royalty are reported."""

from __future__ import annotations

import pytest

from oracle.client.demo_job import DEMO_ROYALTY_BPS, run_demo_job
from tests.support.core import BPS, ETHER


@pytest.fixture(scope="module")
def deployment(accounts, tmp_path_factory):
    from scripts.deploy import deploy_protocol, write_deployment
    from tests.conftest import CORE_PARAMS

    contracts = deploy_protocol(accounts[0], accounts[9], CORE_PARAMS)
    token = contracts["ComputeToken"]
    for who in (accounts[1], accounts[2]):
        token.transfer(who, 100_000 * ETHER, sender=accounts[0])
    return str(write_deployment(contracts, tmp_path_factory.mktemp("demo") / "deployment.json", 0))


def test_demo_job_runs_real_inference_and_pays_the_royalty(accounts, networks, deployment, tmp_path):
    lines: list[str] = []
    result = run_demo_job(
        deployment,
        networks.provider.uri,
        accounts[2].private_key,
        accounts[1].private_key,
        accounts[3].private_key,
        state_dir=tmp_path,
        say=lines.append,
    )
    assert result.check_ok and result.accuracy >= 0.95 and result.items == 360
    assert (
        result.royalty == 100 * ETHER * DEMO_ROYALTY_BPS // BPS
        and result.royalty_receiver == accounts[3].address
    )
    assert result.fee + result.royalty + result.provider_amount == 100 * ETHER
    assert all(v > 0 for v in result.gas.values())
    assert any("accuracy" in line for line in lines) and any("royalty" in line for line in lines)
