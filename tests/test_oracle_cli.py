"""The `oracle` command, run as a subprocess (plus the module-registration hook, in process)."""

import json
import os
import subprocess
import sys
import types

import pytest

from oracle import cli
from tests.support.gpu import no_gpu_env

ENV = no_gpu_env({**os.environ, "PYTHONUNBUFFERED": "1"})  # these tests are about a GPU-less node


def oracle(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "oracle", *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


@pytest.fixture
def provider():
    procs = []

    def start(*extra):
        proc = subprocess.Popen(
            [sys.executable, "-m", "oracle", "serve", "--port", "0", "--json", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        procs.append(proc)
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        return json.loads(line)["url"], proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_help_lists_every_command_and_the_exit_codes():
    result = oracle("--help")
    assert result.returncode == 0
    for command in ("inventory", "bench", "serve", "challenge"):
        assert command in result.stdout
    assert "exit codes" in result.stdout


def test_inventory_json_says_no_gpu_and_describes_the_cpu():
    result = oracle("inventory", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["gpus"] == [] and data["nvml_status"].startswith("no GPU: NVML library not found")
    assert data["cpu"]["logical_cores"] >= 1


def test_inventory_for_people_is_a_readable_summary():
    result = oracle("inventory")
    assert result.returncode == 0
    assert (
        result.stdout.splitlines()[0] == "NVML: no GPU: NVML library not found (no NVIDIA driver installed)"
    )
    assert "BLAS (NumPy)" in result.stdout


def test_cpu_bench_json_and_table():
    result = oracle("--json", "bench", "--device", "cpu", "-n", "64", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"] == "cpu" and isinstance(data["score"], int)
    table = oracle("bench", "--device", "cpu", "-n", "64", "--repeats", "1")
    assert (
        "median" in table.stdout
        and "FLOP/s" in table.stdout
        and "peak unknown" in table.stdout
        and "score:" in table.stdout
    )
    assert "... CPU GEMM fp64" in table.stderr  # progress goes to stderr


def test_gpu_bench_without_gpu_is_a_one_line_operational_error():
    result = oracle("bench", "--device", "gpu")
    assert result.returncode == cli.EXIT_OPERATIONAL
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("oracle: error: ") and "--device cpu" in result.stderr


def test_debug_shows_the_traceback():
    result = oracle("bench", "--device", "gpu", "--debug")
    assert result.returncode == cli.EXIT_OPERATIONAL
    assert "Traceback" in result.stderr


def test_usage_errors_exit_2():
    assert oracle("frobnicate").returncode == cli.EXIT_USAGE
    assert oracle("challenge").returncode == cli.EXIT_USAGE
    bad_n = oracle("challenge", "http://127.0.0.1:1", "-n", "0")
    assert bad_n.returncode == cli.EXIT_USAGE and "oracle: error: n must be" in bad_n.stderr


def test_challenge_against_an_honest_provider_passes(provider):
    url, _ = provider()
    result = oracle(
        "challenge",
        url,
        "-n",
        "96",
        "--rows",
        "96",
        "--deadline",
        "30",
        "--samples",
        "8",
        "--freivalds",
        "1",
        "--json",
    )
    assert result.returncode == cli.EXIT_OK, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"]["ok"] and data["challenge"]["n"] == 96
    human = oracle(
        "challenge", url, "-n", "64", "--claimed-tflops", "0.0001", "--target-s", "0.2", "--deadline", "30"
    )
    assert human.returncode == 0 and "PASS" in human.stdout, human.stdout + human.stderr
    assert "escape <= (f = 0.5 of rows done)" in human.stdout and "1 row(s) skipped" in human.stdout


def test_challenge_against_a_wrong_provider_fails_with_exit_1(provider):
    url, _ = provider("--behaviour", "wrong")
    result = oracle("challenge", url, "-n", "64", "--rows", "64", "--samples", "2")
    assert result.returncode == cli.EXIT_CHECK_FAILED
    assert "FAIL" in result.stdout and "wrong product" in result.stdout


def test_serve_on_a_busy_port_is_an_operational_error(provider):
    url, _ = provider()
    port = url.rsplit(":", 1)[1]
    result = oracle("serve", "--port", port)
    assert result.returncode == cli.EXIT_OPERATIONAL
    assert result.stderr.startswith("oracle: error: cannot listen") and "--port" in result.stderr


def test_commands_come_from_their_modules_and_take_the_global_options_after_the_name(monkeypatch):
    calls = []

    def register(subparsers):
        parser = subparsers.add_parser("probe-me", parents=[cli.common_options()])
        parser.set_defaults(func=lambda args, ui: calls.append((args.json, ui.json)) or 0)

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, types.SimpleNamespace(register=register)))
    assert cli.main(["probe-me", "--json"]) == 0
    assert calls == [(True, True)]
    names = {m.__name__ for m in cli.COMMANDS[:-1]}
    assert names == {
        f"oracle.cli_{n}"
        for n in ("inventory", "bench", "serve", "challenge", "keys", "run", "dispute", "node")
    } | {"oracle.provider.paid_cli"}


def test_every_package_error_is_reported_on_one_line_with_its_exit_code(capsys):
    from oracle.errors import OracleError

    class Broken(OracleError):
        exit_code = 7

    assert cli._report(Broken("do this instead"), debug=False) == 7
    assert capsys.readouterr().err == "oracle: error: do this instead\n"


def test_serve_with_bench_publishes_the_measured_figures_the_validators_attest(provider):
    from oracle.validator.client import ProviderClient
    from oracle.validator.figures import figures_from_benchmark

    url, _ = provider("--bench", "--backend", "numpy", "--bench-n", "128", "--bench-repeats", "2")
    inventory = ProviderClient(url).inventory()
    assert inventory["benchmark"]["device"] == "cpu"
    figures = figures_from_benchmark(inventory["benchmark"])
    assert figures is not None and figures.fp32 > 0 and figures.mem_bandwidth_gbps > 0
