"""`oracle run` as an operator starts and stops it: a key outside the oracle set is refused at
start with what to do, SIGTERM stops it cleanly with a log line, and --log-file keeps the log."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.oracle import ORACLE_KEYS, ORACLES, deploy_with_registry


@pytest.fixture(scope="module")
def dep(accounts, tmp_path_factory):
    from scripts.deploy import write_deployment

    contracts = deploy_with_registry(accounts[0], accounts[1], ORACLES[:3], 2)
    return write_deployment(contracts, tmp_path_factory.mktemp("run") / "deployment.json", 0)


def oracle_run(dep, networks, key: bytes, tmp_path, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oracle",
            "run",
            "--rpc",
            networks.provider.uri,
            "--deployment",
            str(dep),
            "--private-key",
            "0x" + key.hex(),
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--epoch-seconds",
            "3600",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_a_key_outside_the_oracle_set_is_refused_at_start(dep, networks, tmp_path):
    outsider = ORACLE_KEYS[4]
    proc = oracle_run(dep, networks, outsider, tmp_path, "--once")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3
    assert f"{ORACLES[4]} is not in the AttestationRegistry's oracle set (3 oracles)" in err
    assert "ask governance" in err and "Traceback" not in err


def test_sigterm_stops_the_daemon_cleanly_with_a_log_line(dep, networks, tmp_path):
    log_file = tmp_path / "oracle.log"
    proc = oracle_run(dep, networks, ORACLE_KEYS[0], tmp_path, "--log-file", str(log_file))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and '"epoch_done"' not in (
        log_file.read_text() if log_file.exists() else ""
    ):
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert events[0] == "listening" and "epoch_done" in events
    assert events[-2:] == ["stopping", "stopped"]
    stopping = [json.loads(line) for line in log_file.read_text().splitlines()][-2]
    assert stopping["signal"] == "SIGTERM" and stopping["validator"] == ORACLES[0]
