"""`oracle run` as an operator starts and stops it: a key outside the oracle set is refused at
start with what to do, so are epochs other than the network's (the deployment file's, and the
chain's latest attestation), SIGTERM stops it cleanly with a log line, and --log-file keeps the log."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from oracle.chain import ChainClient
from oracle.deployment import load_deployment
from oracle.validator.epochs import EpochMismatchError, check_chain_epochs, resolve_epochs
from tests.support.oracle import (
    ORACLE_KEYS,
    ORACLES,
    deploy_with_registry,
    domain_of,
    make_attestation,
    node_id,
    quorum_sigs,
    register_node,
)


@pytest.fixture(scope="module")
def world(accounts, tmp_path_factory):
    from scripts.deploy import write_deployment

    contracts = deploy_with_registry(accounts[0], accounts[1], ORACLES[:3], 2)
    return contracts, write_deployment(contracts, tmp_path_factory.mktemp("run") / "deployment.json", 0)


@pytest.fixture(scope="module")
def dep(world):
    return world[1]


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


def test_epochs_come_from_the_deployment_file_and_a_contradicting_flag_is_refused(dep, networks, tmp_path):
    epochs = load_deployment(dep).epochs
    assert epochs is not None and epochs.epoch_seconds == 3600 and epochs.validity_seconds == 7200
    assert resolve_epochs(load_deployment(dep)) == epochs
    proc = oracle_run(dep, networks, ORACLE_KEYS[0], tmp_path, "--once", "--genesis", "5")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert f"--genesis 5 differs from the deployment file's epochs (genesis {epochs.genesis})" in err
    assert "drop --genesis" in err and "Traceback" not in err


def test_epochs_the_chain_contradicts_are_refused(world, accounts, chain, networks):
    """Last in the module: it records an attestation the other tests' daemons would refuse."""
    contracts, dep = world
    deployment = load_deployment(dep)
    client = ChainClient(networks.provider.web3, deployment)
    epochs = deployment.epochs
    check_chain_epochs(client, epochs)  # nothing attested yet: nothing to contradict
    with pytest.raises(EpochMismatchError, match="is 1000 s after the chain's time"):
        check_chain_epochs(client, replace(epochs, genesis=client.block_timestamp() + 1000))
    node = node_id("epoch-check")
    register_node(contracts, accounts[0], accounts[3], "epoch-check")
    registry = contracts["AttestationRegistry"]
    now = chain.pending_timestamp
    current = (now - epochs.genesis) // epochs.epoch_seconds + 1
    att = make_attestation(accounts[3].address, node, epoch=current, expiry=now + 3600)
    registry.submit(
        att.as_tuple(), quorum_sigs(domain_of(registry, chain.chain_id), att, k=2), sender=accounts[9]
    )
    check_chain_epochs(client, epochs)  # the network's own epoch
    shifted = replace(epochs, genesis=epochs.genesis - 5 * epochs.epoch_seconds)  # five epochs ahead
    with pytest.raises(
        EpochMismatchError, match=f"latest attestation .* is for epoch {current}, but .* epoch {current + 5}"
    ):
        check_chain_epochs(client, shifted)
