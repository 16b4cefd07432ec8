"""The command lines of pay per use: `compute pay ...` (oracle/client/pay_cli.py) against a running
paid endpoint, and `oracle paid status` reading the provider's journal."""

import json

import pytest
from eth_account import Account

from oracle.cli import main as oracle_main
from oracle.client.pay_cli import main as pay_main
from tests.paid_helpers import PRICE, build_world, demo_endpoint_model


@pytest.fixture(scope="module")
def world(deployer, treasury, provider, requester, outsider, creator, token, networks, tmp_path_factory):
    return build_world(
        deployer,
        treasury,
        provider,
        [requester, outsider],
        creator,
        token,
        networks,
        tmp_path_factory.mktemp("cli"),
    )


@pytest.fixture
def service(world, tmp_path):
    svc = world.service(demo_endpoint_model(), tmp_path / "journal.db").start()
    yield svc
    svc.stop(redeem=False)


def _args(world, networks, tmp_path, *rest):
    return [
        *rest,
        "--rpc",
        networks.provider.uri,
        "--deployment",
        str(world.deployment_path),
        "--state-dir",
        str(tmp_path / "state"),
        "--private-key",
        Account.from_key(world.user_keys[0]).key.to_0x_hex(),
        "--json",
    ]


def test_compute_pay_request_opens_pays_and_reports(world, service, networks, tmp_path, capsys):
    assert (
        pay_main(_args(world, networks, tmp_path, "pay", "request", service.url, "--demo-digits", "3")) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert len(out["answers"]) == 3 and all(len(a["label"]) == 1 for a in out["answers"])
    assert out["cumulativeAmount"] == str(3 * PRICE) and out["price"] == str(PRICE)
    assert (tmp_path / "state" / "pay" / "session-key").stat().st_mode & 0o777 == 0o600
    assert pay_main(_args(world, networks, tmp_path, "pay", "status", service.url)) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["status"], status["signed"], status["redeemed"]) == ("Open", str(3 * PRICE), "0")
    assert oracle_main(["paid", "status", "--journal", str(service.ledger.path), "--json"]) == 0
    journal = json.loads(capsys.readouterr().out)
    assert journal["served"] == 3 and journal["earned"] == 3 * PRICE


def test_compute_pay_errors_are_one_line(world, networks, tmp_path, capsys):
    code = pay_main(_args(world, networks, tmp_path, "pay", "status", "http://127.0.0.1:9/infer"))
    err = capsys.readouterr().err.strip()
    assert code == 3 and err.count("\n") == 0
    assert err.startswith("compute: error: no channel to http://127.0.0.1:9/infer is known here")
