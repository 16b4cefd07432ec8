"""End to end on the CPU path with real provider servers, and a validator killed with SIGKILL in
the middle of an epoch: after a restart every attestation is on chain exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eth_account import Account

from oracle.journal import Journal
from oracle.provider import server
from oracle.validator.config import ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.prober import ChallengeProber
from tests.support.oracle import deploy_with_registry, node_id, register_node

BENCH = {
    "tflops": {"fp32": 2e-5, "tf32": 2e-5, "fp16": 1e-5, "bf16": 1e-5},  # sized to this CPU
    "mem_bandwidth_gbps": 20,
    "power_w": 65,
}
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cpu_net(accounts, chain, networks, tmp_path):
    from scripts.deployment_file import write_deployment

    owner = accounts[0]
    oracles = sorted(
        (Account.from_key(accounts[i].private_key) for i in (5, 6, 7)), key=lambda a: int(a.address, 16)
    )
    contracts = deploy_with_registry(owner, accounts[1], [a.address for a in oracles], 2)
    behaviours = ["honest"] * 5 + ["wrong"]
    providers = [
        server.ProviderServer(behaviour=b, inventory_fn=lambda: {"benchmark": BENCH}).start()
        for b in behaviours
    ]
    nodes = []
    for i, p in enumerate(providers):
        nid = node_id(f"cpu-node-{i}")
        register_node(contracts, owner, accounts[2 + i % 2], f"cpu-node-{i}", uri=p.url)
        nodes.append(nid)
    genesis = chain.pending_timestamp - 10
    dep = write_deployment(contracts, tmp_path / "deployment.json", 0, epochs={"genesis": genesis})
    yield {
        "contracts": contracts,
        "oracles": oracles,  # ascending: oracles[0] leads
        "nodes": nodes,
        "deployment": str(dep),
        "uri": networks.provider.uri,
        "genesis": genesis,
        "tmp": tmp_path,
        "w3": networks.provider.web3,
    }
    for p in providers:
        p.stop()


def in_process(net, acct, idx, peers, **kw):
    cfg = ValidatorConfig(
        deployment_path=net["deployment"],
        rpc=net["uri"],
        account=acct,
        journal_path=str(net["tmp"] / f"journal-{idx}.sqlite"),
        genesis=net["genesis"],
        peers=peers,
        poll_s=0.1,
        **{"collect_timeout": 60, "failover_s": 60, **kw},
    )
    v = Validator(cfg, ChallengeProber(n=16, samples=4, target_s=0.2, allowance_s=1.0))
    v.start()
    return v


def leader_process(net, port, peers, journal, delay):
    cmd = [
        sys.executable,
        "-m",
        "oracle",
        "run",
        "--deployment",
        net["deployment"],
        "--rpc",
        net["uri"],
        "--private-key",
        net["oracles"][0].key.hex(),
        "--journal",
        str(journal),
        "--peers",
        ",".join(peers),
        "--port",
        str(port),
        "--genesis",
        str(net["genesis"]),
        "--epoch",
        "1",
        "--n",
        "16",
        "--target-s",
        "0.2",
        "--allowance-s",
        "1.0",
        "--samples",
        "4",
        "--collect-timeout",
        "60",
        "--failover",
        "60",
        "--submit-delay",
        str(delay),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(net["tmp"] / "leader.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never came up")


def records(net):
    reg = net["contracts"]["AttestationRegistry"]
    return [log.nodeId for log in reg.AttestationRecorded.range(0, 100_000)]


def test_cpu_path_end_to_end_attests_honest_and_slashes_wrong(cpu_net):
    net = cpu_net
    vals = [in_process(net, a, i, [], failover_s=5) for i, a in enumerate(net["oracles"])]
    urls = [v.url for v in vals]
    for v in vals:
        v.cfg.peers = [u for u in urls if u != v.url]
    try:
        threads = [threading.Thread(target=v.run_epoch, args=(1,)) for v in vals]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        reg = net["contracts"]["AttestationRegistry"]
        assert sorted(records(net)) == sorted(net["nodes"][:5])
        [fault] = list(reg.FaultReported.range(0, 100_000))
        assert fault.nodeId == net["nodes"][5]
        assert all(v.metrics.challenges.labels("ok")._value.get() == 5 for v in vals)
        assert all(v.metrics.challenges.labels("failed")._value.get() == 1 for v in vals)
    finally:
        for v in vals:
            v.stop()


def test_leader_killed_mid_epoch_posts_each_attestation_exactly_once(cpu_net):
    net = cpu_net
    port = free_port()
    leader_url = f"http://127.0.0.1:{port}"
    others = [in_process(net, a, i + 1, [leader_url]) for i, a in enumerate(net["oracles"][1:])]
    for v in others:
        v.cfg.peers = [leader_url] + [o.url for o in others if o is not v]
    journal = net["tmp"] / "leader.sqlite"
    peers = [o.url for o in others]
    leader = net["oracles"][0].address
    nonce0 = net["w3"].eth.get_transaction_count(leader)
    proc = leader_process(net, port, peers, journal, delay=1.0)
    threads = [threading.Thread(target=v.run_epoch, args=(1,)) for v in others]
    try:
        wait_until_up(leader_url)  # the others must have seen their leader (it then stays leader)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(records(net)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = len(records(net))
        assert 2 <= before < 5, "the kill must land mid-epoch"
        proc = leader_process(net, port, peers, journal, delay=0.0)
        proc.wait(120)
        assert proc.returncode == 0, (net["tmp"] / "leader.log").read_text()[-3000:]
        for t in threads:
            t.join(90)
        recorded = records(net)
        assert sorted(recorded) == sorted(net["nodes"][:5])  # each honest node exactly once
        sent = net["w3"].eth.get_transaction_count(leader) - nonce0
        assert sent == 6  # 5 submits + 1 fault report, nothing posted twice or reverted
        events = [
            json.loads(line).get("event") for line in (net["tmp"] / "leader.log").read_text().splitlines()
        ]
        assert events.count("epoch_done") == 1 and "posted" in events  # structured JSON logs
        j = Journal(journal)
        assert all(e.state == "confirmed" for e in j.entries(1, min_state="signed"))
        assert len(j.entries(1, min_state="signed")) == 6
        j.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        for v in others:
            v.stop()
