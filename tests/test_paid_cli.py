"""The command lines of pay per use: `compute pay ...` (oracle/client/pay_cli.py) against a running
paid endpoint, and `oracle paid status` reading the provider's journal."""

import json

import pytest
from eth_account import Account

from oracle.cli import main as oracle_main
from oracle.client.pay_cli import main as pay_main
from tests.paid_helpers import PRICE, demo_endpoint_model, demo_rows, module_world

world = module_world("cli")


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
    # the default credit window: one voucher prepays 32 requests, the next two carry its tokens
    assert out["cumulativeAmount"] == str(32 * PRICE) and out["price"] == str(PRICE)
    assert out["creditLeft"] == 29
    assert (tmp_path / "state" / "pay" / "session-key").stat().st_mode & 0o777 == 0o600
    assert pay_main(_args(world, networks, tmp_path, "pay", "status", service.url)) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["status"], status["signed"], status["redeemed"]) == ("Open", str(32 * PRICE), "0")
    service.meter.flush()  # the journal gets the energy totals at most once a second (paid_energy.py)
    assert oracle_main(["paid", "status", "--journal", str(service.ledger.path), "--json"]) == 0
    journal = json.loads(capsys.readouterr().out)
    assert (journal["served"], journal["vouchers"], journal["earned"]) == (3, 1, 32 * PRICE)
    energy = journal["energy"]
    assert energy["requests"] == 3 and energy["estimate"] is True and energy["estimated_requests"] == 3
    assert energy["mj_per_request"] == pytest.approx(energy["mj"] / 3, abs=1e-3)
    assert oracle_main(["paid", "status", "--journal", str(service.ledger.path)]) == 0
    assert "mJ per request (estimate: 3 on the CPU)" in capsys.readouterr().out


def test_compute_pay_errors_are_one_line(world, networks, tmp_path, capsys):
    code = pay_main(_args(world, networks, tmp_path, "pay", "status", "http://127.0.0.1:9/infer"))
    err = capsys.readouterr().err.strip()
    assert code == 3 and err.count("\n") == 0
    assert err.startswith("compute: error: no channel to http://127.0.0.1:9/infer is known here")


def _serve(world, networks, journal, port, *extra):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "oracle", "paid", "serve", "--rpc", networks.provider.uri, *extra]
    cmd += ["--deployment", str(world.deployment_path), "--journal", str(journal), "--port", str(port)]
    cmd += ["--private-key", Account.from_key(world.provider_key).key.to_0x_hex(), "--price", "0.001"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_up(url, proc, timeout=60.0):
    import time
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read()
        try:
            with urllib.request.urlopen(url.replace("/infer", "/health"), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("oracle paid serve did not come up")


def test_oracle_paid_serve_killed_with_sigkill_keeps_every_voucher(world, networks, tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    journal, url = tmp_path / "journal.db", f"http://127.0.0.1:{port}/infer"
    # the weaker durability: answered once written, not yet fsynced -- a killed process loses nothing
    proc = _serve(world, networks, journal, port, "--journal-durability", "process")
    try:
        _wait_up(url, proc)
        payer = world.payer(1)
        answers = [payer.post(url, {"x": demo_rows(1)}) for _ in range(3)]
        assert [a.status for a in answers] == [200] * 3
    finally:
        proc.kill()  # SIGKILL: no shutdown, no redemption
        proc.wait(10)
    channels = world.contracts["PaymentChannels"]
    cid = payer.states.get(url).channel_id
    assert channels.getChannel(cid).redeemed == 0
    key = Account.from_key(world.provider_key).key.to_0x_hex()
    args = ["paid", "redeem", "--rpc", networks.provider.uri, "--deployment", str(world.deployment_path)]
    assert oracle_main([*args, "--journal", str(journal), "--private-key", key, "--json"]) == 0
    assert [r["outcome"] for r in json.loads(capsys.readouterr().out)] == ["redeemed"]
    assert channels.getChannel(cid).redeemed == 3 * PRICE
