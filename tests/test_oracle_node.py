"""`oracle node ...`: an operator stakes, registers a GPU, unbonds and withdraws from the command
line against a real chain, with clear refusals before any transaction; and the config file /
environment / flag precedence every command shares."""

import json

import pytest

from oracle.cli import main
from oracle.inventory import node_id
from tests.support.oracle import ORACLES, deploy_with_registry

UUID = "GPU-c11e57a1-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def dep(accounts, tmp_path_factory):
    from scripts.deploy import write_deployment

    owner = accounts[0]
    contracts = deploy_with_registry(owner, accounts[1], ORACLES[:3], 2)
    operator = accounts[6]
    contracts["ComputeToken"].transfer(operator, 5_000 * 10**18, sender=owner)
    path = write_deployment(contracts, tmp_path_factory.mktemp("dep") / "deployment.json", 0)
    return path, contracts, operator


def oracle_json(capsys, *argv):
    code = main(["--json", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def node_args(dep, networks, *extra):
    path, _, operator = dep
    return [
        "--rpc",
        networks.provider.uri,
        "--deployment",
        str(path),
        "--private-key",
        operator.private_key,
        *extra,
    ]


def test_stake_register_status_unbond_withdraw_from_the_cli(dep, networks, capsys, chain):
    _, contracts, operator = dep
    code, out, err = oracle_json(capsys, "node", "stake", "2500", *node_args(dep, networks))
    assert code == 0, err
    assert out["staked"] == "2500" and "approve" in out and out["stake"]["gas_used"] > 0
    endpoint = "http://127.0.0.1:8600"
    code, out, err = oracle_json(
        capsys,
        "node",
        "register",
        *node_args(dep, networks, "--uuid", UUID, "--model", "NVIDIA H100 80GB HBM3", "--vram-mib", "81559"),
        "--endpoint",
        endpoint,
    )
    assert code == 0, err
    assert out["node_id"] == "0x" + node_id(UUID).hex()
    assert contracts["ComputeStaking"].nodeOwner(node_id(UUID)) == operator.address
    code, out, err = oracle_json(capsys, "node", "status", *node_args(dep, networks))
    assert code == 0, err
    assert out["nodes"] == 1 and out["node_list"][0]["endpoint"] == endpoint
    assert out["node_list"][0]["attested_score"] is None
    assert out["earnings"]["jobs_settled"] == 0
    free = contracts["ComputeStaking"].freeStake(operator)
    code, out, err = oracle_json(capsys, "node", "unbond", str(free // 10**18), *node_args(dep, networks))
    assert code == 0, err
    code, out, err = oracle_json(capsys, "node", "withdraw", *node_args(dep, networks))
    assert code == 3 and "unbond at chain time" in err and "withdraw after that" in err
    chain.pending_timestamp += 8 * 24 * 3600
    chain.mine()
    code, out, err = oracle_json(capsys, "node", "withdraw", *node_args(dep, networks))
    assert code == 0, err
    assert int(out["amount"]) == free // 10**18


def test_refusals_say_what_to_do_before_sending(dep, networks, capsys):
    code, _, err = oracle_json(capsys, "node", "stake", "1000000000", *node_args(dep, networks))
    assert code == 3 and "less than the 1000000000 to stake" in err
    code, _, err = oracle_json(capsys, "node", "stake", "1.0000000000000000001", *node_args(dep, networks))
    assert code == 3 and "more than 18 decimals" in err
    code, _, err = oracle_json(
        capsys,
        "node",
        "register",
        *node_args(dep, networks, "--uuid", UUID, "--model", "m", "--vram-mib", "1"),
        "--endpoint",
        "127.0.0.1:8600",
    )
    assert code == 3 and "must be the URL validators reach" in err
    code, _, err = oracle_json(
        capsys,
        "node",
        "register",
        *node_args(dep, networks, "--uuid", UUID.upper(), "--model", "m", "--vram-mib", "1"),
        "--endpoint",
        "http://127.0.0.1:8600",
    )
    assert code == 3 and f"GPU UUID {UUID.upper()!r}: character 5 is 'C'" in err
    assert "exactly as `oracle inventory` or `nvidia-smi -L` prints it" in err


def test_config_file_then_environment_then_flags(dep, networks, tmp_path, capsys, monkeypatch):
    path, _, operator = dep
    config = tmp_path / "oracle.toml"
    config.write_text(
        f'[chain]\nrpc = "{networks.provider.uri}"\ndeployment = "{path}"\n'
        f'[keys]\nprivate-key = "{operator.private_key}"\n'
    )
    code, out, err = oracle_json(capsys, "--config", str(config), "node", "status")
    assert code == 0, err and out["provider"] == operator.address
    monkeypatch.setenv("ORACLE_DEPLOYMENT", str(tmp_path / "missing.json"))
    code, _, err = oracle_json(capsys, "--config", str(config), "node", "status")
    assert code == 3 and "missing.json" in err
    code, out, err = oracle_json(capsys, "--config", str(config), "node", "status", "--deployment", str(path))
    assert code == 0, err


def test_config_mistakes_are_one_line_usage_errors(tmp_path, capsys, monkeypatch):
    config = tmp_path / "oracle.toml"
    config.write_text("[serve]\nprot = 8600\n")
    code, _, err = oracle_json(capsys, "--config", str(config), "inventory")
    assert code == 2 and "[serve] has no key `prot` (did you mean `port`?)" in err
    config.write_text("[servr]\nport = 8600\n")
    code, _, err = oracle_json(capsys, "--config", str(config), "inventory")
    assert code == 2 and "unknown table [servr]" in err
    config.write_text("[serve]\nport = 'x'\n")
    code, _, err = oracle_json(capsys, "--config", str(config), "inventory")
    assert code == 2 and "`port`" in err
    monkeypatch.setenv("ORACLE_CONFIG", str(tmp_path / "absent.toml"))
    code, _, err = oracle_json(capsys, "inventory")
    assert code == 2 and "does not exist" in err and "oracle.example.toml" in err
