"""The one-command devnet: `python -m scripts.devnet --once` end to end with the real provider
agent, validators and paid endpoint, nothing left running afterwards, a stale devnet stopped by the
next run, the deployment file's format (with the paid endpoint it publishes, which answers 402 with
its terms), and the agent's inventory the validators read."""

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.frontend import (
    ROOT,
    devnet_command,
    pids_alive,
    processes_mentioning,
    start_devnet,
    stop_devnet,
)


def test_devnet_once_runs_end_to_end_and_leaves_nothing_running(tmp_path):
    state = tmp_path / "once"
    out = subprocess.run(
        devnet_command(state, "--once"), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for expected in (
        "GPU compute devnet is up",
        "AttestationRegistry",
        "ComputeGovernor",
        "job agent http://127.0.0.1:",  # supervised, named in the provider node's /services
        "digits classified by ONNX Runtime on the provider",
        "check: 16 items re-run here as one batch passed",
        "settled: royalty",
        "the vote ends",
        "what to do next:",
        "oracle node status --deployment",
        "not served with --once",
        "0.1 GPU per request, paid to",
        "unpaid: HTTP 402 with its terms",
    ):
        assert expected in text, f"{expected!r} missing from the summary:\n{text[-3000:]}"
    # the first epoch was attested by the validator daemons challenging the provider agent
    assert "recorded on chain" in text and "by the validator daemons" in text, text[-3000:]
    summary = json.loads((state / "summary.json").read_text())
    assert "pageUrl" not in summary and summary["pageBuilt"]  # built and checked, not served
    assert "web page   http" not in text
    assert not (state / "pids.json").exists()
    assert processes_mentioning(str(state)) == []
    for url in (summary["rpcUrl"],):  # anvil is gone
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_a_second_run_stops_the_stale_devnet_first(tmp_path):
    state = tmp_path / "stale"
    proc, _ = start_devnet(state, "--no-page", "--no-oracle")  # the processes matter here, not the flow
    recorded = json.loads((state / "pids.json").read_text())
    children = [c["pid"] for c in recorded["children"]]
    assert pids_alive(children)
    try:
        out = subprocess.run(
            devnet_command(state, "--stop"), cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0 and "stopped a stale devnet" in out.stdout
        assert pids_alive(children) == []
        proc.wait(timeout=15)
        assert processes_mentioning(str(state)) == []
    finally:
        stop_devnet(proc)


def test_deployment_file_has_the_shared_format(devnet):
    doc = json.loads(Path(devnet.state_dir / "deployment.json").read_text())
    assert doc["chainId"] == 31337 and isinstance(doc["deployBlock"], int)
    from scripts.devnet.validators import EPOCH_SECONDS, VALIDITY_SECONDS

    nexts = next(x["lines"] for x in devnet.summary["sections"] if x["title"] == "what to do next")
    assert any(
        line.startswith(f"pay per request: .venv/bin/compute pay request {doc['paidEndpoint']}/infer")
        for line in nexts
    )
    epochs = doc["epochs"]  # where a joining validator reads them
    assert (epochs["epochSeconds"], epochs["validitySeconds"]) == (EPOCH_SECONDS, VALIDITY_SECONDS)
    assert 0 < epochs["genesis"] <= time.time() + 3600
    for name in (
        "ComputeToken",
        "ComputeStaking",
        "ModelNFT",
        "JobEscrow",
        "AttestationRegistry",
        "Treasury",
        "ComputeGovernor",
        "ModelMarketplace",
    ):
        entry = doc["contracts"][name]
        assert entry["address"].startswith("0x") and any(
            item.get("type") == "function" for item in entry["abi"]
        )
    assert [a["index"] for a in doc["devAccounts"]] == list(range(10))
    # the validators' peer servers, added once they started; the page (another origin) may read them
    assert len(doc["validatorEndpoints"]) == 3
    for url in doc["validatorEndpoints"]:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert json.loads(r.read())["validator"].startswith("0x")
    # the paid endpoint the devnet started (oracle paid serve) is published for the page and
    # answers a request without payment with 402 and its terms: paid to the provider (dev account
    # 1) through this deployment's channels, for the minted demo model
    from oracle.client.pay_wire import HEADER_REQUIRED
    from oracle.work import demo_model

    provider = doc["devAccounts"][1]["address"]
    url = doc["paidEndpoints"][provider]
    assert doc["paidEndpoint"] == url and url.startswith("http://127.0.0.1:")
    body = json.dumps({"x": [[0.0] * 256]}).encode()
    req = urllib.request.Request(url + "/infer", body, {"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 402 and refused.value.headers[HEADER_REQUIRED]
    terms = json.loads(refused.value.read())
    [offer] = terms["accepts"]
    assert terms["reason"] == "payment_required" and offer["scheme"] == "channel"
    assert offer["payTo"] == provider and offer["amount"] == str(10**17)
    assert offer["extra"]["channelContract"] == doc["contracts"]["PaymentChannels"]["address"]
    assert int(offer["extra"]["chainId"]) == doc["chainId"]
    assert int(offer["extra"]["modelId"]) == demo_model.model_id("digits")


def test_provider_agent_inventory_carries_the_benchmark_validators_read():
    from oracle.validator.figures import figures_from_benchmark
    from scripts.devnet.paths import VENV_BIN
    from scripts.devnet.processes import free_port

    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "oracle"), "serve", "--port", str(port), "--bench", "--bench-n", "128"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/inventory", timeout=2) as r:
                    inventory = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "oracle serve did not come up"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    figures = figures_from_benchmark(inventory["benchmark"])
    assert figures is not None and figures.fp32 > 0


def test_an_idle_devnet_keeps_time_and_ctrl_c_stops_it_cleanly(tmp_path):
    from web3 import Web3

    state = tmp_path / "idle"
    proc, summary = start_devnet(state, "--no-page", "--no-oracle", "--block-time", "1")
    try:
        w3 = Web3(Web3.HTTPProvider(summary["rpcUrl"]))
        first = w3.eth.get_block("latest")
        time.sleep(3.5)  # no transaction is sent meanwhile
        later = w3.eth.get_block("latest")
        assert later["number"] >= first["number"] + 2 and later["timestamp"] >= first["timestamp"] + 2
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert proc.wait(timeout=60) == 0
    finally:
        stop_devnet(proc)
    out = (state.parent / "idle.out").read_text()
    assert "devnet: SIGINT: stopping" in out and "devnet: stopped every process it started" in out
    assert "Traceback" not in out
    assert processes_mentioning(str(state)) == []


def test_a_crashed_service_is_started_again_and_one_that_keeps_crashing_stops_the_devnet(tmp_path):
    import sys

    from scripts.devnet.errors import DevnetError
    from scripts.devnet.processes import Supervisor

    sup = Supervisor(state_dir=tmp_path / "sup")
    counter = tmp_path / "runs"
    script = f"p = {str(counter)!r}; open(p, 'a').write('x'); print('run', len(open(p).read()), flush=True)"
    flaky = sup.start("flaky-service", [sys.executable, "-c", script + "; raise SystemExit(3)"])
    try:
        said = []
        for _ in range(3):
            flaky.popen.wait(timeout=30)
            said += sup.keep_alive(max_restarts=3)
        assert len(said) == 3 and "flaky-service exited with status 3; starting it again (1 of 3)" in said[0]
        flaky.popen.wait(timeout=30)
        with pytest.raises(DevnetError, match="flaky-service exited with status 3 after 3 restarts"):
            sup.keep_alive(max_restarts=3)
        log = flaky.log.read_text()
        assert log.count("started again after the process above exited") == 3 and "run 4" in log
        recorded = json.loads(sup.pids_file.read_text())["children"]
        assert [c["pid"] for c in recorded] == [flaky.popen.pid]  # pids.json names the live process
    finally:
        sup.stop_all()
