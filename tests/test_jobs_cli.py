"""``compute job ...`` end to end on anvil: post (permit) while serving the inputs, the provider's
agent runs the job, then status, fetch, check (exit 0) and approve, each with --json; errors are
one line with a meaningful exit code."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from oracle.client.cli import main
from tests.support.jobs import build_world, free_port


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    w = build_world(accounts, networks, tmp_path_factory.mktemp("cli"))
    yield w
    w.stop()


def compute(world, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    base = [
        "--rpc",
        world.rpc,
        "--deployment",
        world.deployment,
        "--state-dir",
        str(world.tmp / "compute"),
        "--private-key",
        world.requester.private_key,
        "--json",
    ]
    group, command, *rest = argv
    args = [group, command, *rest, *base] if group == "job" else [group, command, *rest]
    code = main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_compute_job_post_status_fetch_check_approve(world):
    port = free_port()
    agent = world.agent(manifest_sources=(f"http://127.0.0.1:{port}",), gflops_per_watt=50)
    stop = threading.Event()

    def provider_loop():
        while not stop.is_set():
            agent.poll_once()
            time.sleep(0.2)

    thread = threading.Thread(target=provider_loop, daemon=True)
    thread.start()
    try:
        code, out, err = compute(
            world,
            "job",
            "post",
            "--demo-model",
            "digits",
            "--demo-inputs",
            "48",
            "--budget",
            "48",
            "--serve",
            f"127.0.0.1:{port}",
            "--wait",
            "30",
            "--max-mj-per-item",
            "1000000",
            "--min-gflops-per-watt",
            "10",
            "--prefer-efficient",  # no registry here: no node is ranked, the agent does not wait
        )
        assert code == 0, err
        posted = json.loads(out)
        assert posted["status"] == "submitted" and posted["items"] == 48
        assert posted["energy"] == {
            "max_mj_per_item": 1_000_000,
            "min_gflops_per_watt": 10,
            "prefer_efficient": True,
        }
        job = str(posted["job_id"])
    finally:
        stop.set()
        thread.join(10)
    code, out, _ = compute(world, "job", "status", job)
    assert code == 0 and json.loads(out)["result_hash"].startswith("0x")
    code, out, _ = compute(world, "job", "fetch", job, "--out", str(world.tmp / "out.npz"))
    assert code == 0 and len(json.loads(out)["labels"]) == 48 and (world.tmp / "out.npz").is_file()
    code, out, _ = compute(world, "job", "check", job, "--samples", "16", "--seed", "3")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["samples"] == 16
    code, out, err = compute(world, "job", "dispute", job, "--samples", "16")
    assert code == 3 and "nothing to dispute" in err
    code, out, _ = compute(world, "job", "approve", job)
    assert code == 0 and json.loads(out)["approved"]
    world.stop()  # frees the node's port for the next test's agent


def test_errors_are_one_line_with_exit_codes(world, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = main(["job", "status", "1", "--deployment", str(tmp_path / "none.json")], stdout=out, stderr=err)
    assert code == 3 and err.getvalue().count("\n") == 1 and "deploy first" in err.getvalue()
    code, _, err_text = compute(
        world, "job", "post", "--demo-model", "digits", "--inputs", str(tmp_path / "x.npy"), "--budget", "1"
    )
    assert code == 2 and err_text.startswith("compute: error: cannot read") and err_text.count("\n") == 1
    code, _, err_text = compute(
        world,
        "job",
        "post",
        "--demo-model",
        "digits",
        "--demo-inputs",
        "4",
        "--budget",
        "1",
        "--max-mj-per-item",
        "0",
    )
    assert (
        code == 2 and "--max-mj-per-item must be an integer from 1" in err_text and err_text.count("\n") == 1
    )
    code, _, err_text = compute(world, "job", "fetch", "999")
    assert code == 3 and "job 999 was never posted on the escrow" in err_text


def test_the_agent_command_runs_one_poll_from_its_config_file(world, tmp_path, capsys):
    from oracle.provider.jobs_cli import main as agent_main
    from tests.support.work import demo_bytes, digits

    client = world.client("agent-cli")
    try:
        x, _ = digits(20)
        posted = client.post(demo_bytes(), x, 20 * 10**18, client.escrow.chain.block_timestamp() + 3600)
        config = tmp_path / "provider.toml"
        config.write_text(
            f'[jobs]\nnode_id = "0x{world.nodes[0].hex()}"\nmanifest_sources = ["{client.server.url}"]\n'
            "flops_per_s = 1e9\ndeadline_margin_s = 60\n"
        )
        argv = [
            "--config",
            str(config),
            "--deployment",
            world.deployment,
            "--rpc",
            world.rpc,
            "--private-key",
            world.providers[0].private_key,
            "--state-dir",
            str(tmp_path / "state"),
            "--port",
            str(world.ports[0]),
            "--once",
        ]
        assert agent_main(argv) == 0
        err = capsys.readouterr().err
        assert f"job {posted.job_id}: submitted" in err and "royalty=" in err
        assert agent_main(["--config", str(tmp_path / "none.toml")]) == 2
        assert "jobs: error: config file" in capsys.readouterr().err
    finally:
        client.stop()
