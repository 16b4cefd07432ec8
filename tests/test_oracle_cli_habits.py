"""Habits operators bring from other tools: options after the action, `| head`, readable units."""

import json
import subprocess
import sys

from oracle import cli, keys
from oracle.cli_bench import throughput

N = 2**4


def test_keys_options_work_before_or_after_the_action_and_json_is_honoured(tmp_path, monkeypatch, capsys):
    password = tmp_path / "pw"
    password.write_text("pw\n")
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    d = str(tmp_path / "ks")
    argv = [
        "keys",
        "new",
        "--keystore-dir",
        d,
        "--password-file",
        str(password),
        "--scrypt-n",
        str(N),
        "--json",
    ]
    assert cli.main(argv) == 0
    made = json.loads(capsys.readouterr().out)
    assert (
        cli.main(["keys", "--keystore-dir", d, "--password-file", str(password), "show", made["address"]])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["address"] == made["address"]
    assert cli.main(["keys", "list", "--keystore-dir", d, "--json"]) == 0
    assert [k["address"] for k in json.loads(capsys.readouterr().out)] == [made["address"]]


def test_keystore_folder_comes_from_the_environment_for_every_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ORACLE_KEYSTORE", str(tmp_path))
    assert cli.main(["keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    parser = cli.build_parser()
    from oracle.config import Config, configure

    configure(parser, Config())
    args = parser.parse_args(["run", "--once"])
    assert args.keystore_dir == str(tmp_path)
    args = parser.parse_args(["node", "status"])
    assert args.keystore_dir == str(tmp_path)


def test_a_closed_pipe_ends_quietly():
    done = subprocess.run(
        f"{sys.executable} -m oracle --json inventory | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout == "{"
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr


def test_throughput_is_shown_in_the_unit_that_suits_it():
    assert throughput(0.04791) == "47.9 GFLOP/s"
    assert throughput(66.9) == "66.9 TFLOP/s"
    assert throughput(989.4) == "989 TFLOP/s"
    assert throughput(1979.0) == "1,979 TFLOP/s"
    assert throughput(None) is None


def test_the_example_config_and_service_files_match_the_commands():
    from pathlib import Path

    from oracle.config import configure, load

    deploy = Path(cli.__file__).parent / "deploy"
    parser = cli.build_parser()
    configure(parser, load(deploy / "oracle.example.toml"), environ={})
    serve = parser.parse_args(["serve"])
    assert (serve.host, serve.port, serve.bench) == ("0.0.0.0", 8600, True)
    run = parser.parse_args(["run"])
    assert run.mode == "batch" and run.metrics_port == 9700 and run.rpc == "http://127.0.0.1:8545"
    for unit, command in (("oracle-validator.service", "run"), ("oracle-provider.service", "serve")):
        text = (deploy / unit).read_text()
        assert f"ExecStart=/opt/oracle/venv/bin/oracle {command}\n" in text
        assert "Environment=ORACLE_CONFIG=/etc/oracle/oracle.toml" in text


def test_a_provider_url_without_a_scheme_is_told_to_add_http(capsys):
    assert cli.main(["challenge", "127.0.0.1:8600"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "'127.0.0.1:8600' has no scheme: add http:// (e.g. http://127.0.0.1:8600)" in err


def test_freivalds_above_the_providers_product_limit_is_the_commands_error_not_a_fault(capsys):
    from oracle.provider.server import ProviderServer

    provider = ProviderServer(max_product_n=64).start()
    try:
        code = cli.main(["challenge", provider.url, "-n", "128", "--rows", "8", "--freivalds", "2"])
        err = capsys.readouterr().err
        assert code == cli.EXIT_USAGE, err
        assert "this provider serves only for rows and n up to 64; this challenge is 8 x 128" in err
        assert "FAIL" not in err
        # within the limit the same check runs and passes
        assert (
            cli.main(["challenge", provider.url, "-n", "32", "--rows", "8", "--freivalds", "2", "--json"])
            == 0
        )
        assert json.loads(capsys.readouterr().out)["verdict"]["ok"] is True
    finally:
        provider.stop()
