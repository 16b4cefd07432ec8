"""A protocol developer's plain Ape commands from the clone's venv: no variables to export, nothing
written under ~, and failures as one line with the cause."""

import os
import subprocess
import sys
import traceback
from pathlib import Path

import gpc_project_env
from ape_offline_solc import relevant_frames

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"


def bare_env(home: Path, **extra: str) -> dict:
    """What a developer's shell has: no project variables, only system folders on PATH."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


def test_defaults_point_at_the_clone_and_respect_what_is_set(tmp_path):
    clone = tmp_path / "clone"
    (clone / "toolchain").mkdir(parents=True)
    (clone / "ape-config.yaml").write_text("name: x\n")
    anvil = clone / gpc_project_env.ANVIL_DIR
    anvil.mkdir(parents=True)
    (anvil / "anvil").write_text("#!/bin/sh\n")
    (anvil / "anvil").chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "SOLCX_BINARY_PATH": "/mine"}
    assert gpc_project_env.apply(env, prefix=str(clone / ".venv")) == clone.resolve()
    assert env["APE_DATA_FOLDER"] == str(clone.resolve() / ".ape-data")
    assert env["SOLCX_BINARY_PATH"] == "/mine"
    assert env["PATH"] == f"/usr/bin:/bin:{clone.resolve() / gpc_project_env.ANVIL_DIR}"
    outside = {"PATH": "/usr/bin"}
    assert gpc_project_env.apply(outside, prefix=str(tmp_path / "elsewhere" / ".venv")) is None
    assert outside == {"PATH": "/usr/bin"}


def test_venv_python_finds_the_clone_state_and_anvil_with_nothing_exported(tmp_path):
    code = "import os, shutil; print(os.environ['APE_DATA_FOLDER']); print(os.environ['SOLCX_BINARY_PATH']); print(shutil.which('anvil'))"
    done = subprocess.run(
        [VENV_PY, "-c", code], env=bare_env(tmp_path), capture_output=True, text=True, check=True
    )
    ape_data, solcx, anvil = done.stdout.split()
    assert ape_data == str(ROOT / ".ape-data") and solcx == str(ROOT / ".solcx")
    assert anvil.endswith("anvil-linux-amd64/bin/anvil")


def test_compile_without_the_stand_in_is_one_line_with_the_fix(tmp_path):
    empty = tmp_path / "no-solc"
    empty.mkdir()
    done = subprocess.run(
        [ROOT / ".venv" / "bin" / "ape", "compile", "--force"],
        cwd=ROOT,
        env=bare_env(tmp_path, SOLCX_BINARY_PATH=str(empty)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    assert len(errors) == 1 and "run `make setup`" in errors[0] and str(empty) in errors[0]
    assert not any(line.lstrip().startswith("File ") for line in lines), lines
    assert not (tmp_path / ".ape").exists() and not (tmp_path / ".solcx").exists()


def test_error_frames_leave_out_the_venv_and_the_plugin():
    def raise_in_venv():
        code = compile("raise ValueError('x')", os.path.join(sys.prefix, "lib", "fake.py"), "exec")
        exec(code)

    try:
        raise_in_venv()
    except ValueError:
        frames = relevant_frames([ROOT])
        everything = traceback.format_list(traceback.extract_tb(sys.exc_info()[2]))
    assert any("fake.py" in f for f in everything)
    assert not any("fake.py" in f for f in frames)
    assert any("test_dev_loop.py" in f for f in frames)
