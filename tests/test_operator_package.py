"""The operator package: the wheel built from pyproject.toml, installed into a fresh virtual
environment outside the checkout with only the dependencies it declares, runs ``oracle --help``
and ``oracle inventory --json`` there (as on a node operator's machine, without this repository).

Built and installed once per session: the dependencies come from a wheelhouse under pip's cache
(``.cache/pip/operator-wheelhouse``, filled once from the registry with the versions pinned in
constraints.txt), so later runs install offline (``--no-index``).
"""

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.gpu import no_gpu_env

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".cache" / "pip" / "operator-wheelhouse"
"""The declared dependencies as wheels (filled on the first run), so later runs install offline."""


def _run(argv, **kw):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{argv[:4]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _with_wheelhouse(argv, needs, env):
    """Run the offline pip command ``argv``; when the wheelhouse lacks something, download
    ``needs`` (and their dependencies, pinned) into it once, then run it again."""
    if subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env).returncode == 0:
        return
    constraints = str(ROOT / "constraints.txt")
    _run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), "-c", constraints, *needs],
        env=env,
    )
    _run(argv, env=env)


@pytest.fixture(scope="session")
def operator_env(tmp_path_factory):
    """(the built wheel, the fresh environment's bin folder), outside the checkout."""
    work = tmp_path_factory.mktemp("operator")
    assert ROOT not in work.parents
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("PIP_CACHE_DIR", str(ROOT / ".cache" / "pip"))
    src = work / "src"  # what an sdist holds: setuptools builds inside the source tree, not the checkout
    shutil.copytree(ROOT / "oracle", src / "oracle", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", src)
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)]
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        *offline,
        "-w",
        str(work / "dist"),
        str(src),
    ]
    _with_wheelhouse(build, ["setuptools>=61", "wheel"], env)
    [wheel] = (work / "dist").glob("gpu_compute_oracle-*.whl")
    venv.EnvBuilder(with_pip=False).create(work / "venv")  # this pip installs into it (--python)
    python = str(work / "venv" / "bin" / "python")
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-compile",
        *offline,
        str(wheel),
    ]
    _with_wheelhouse(install, [str(wheel)], env)
    bin_dir = work / "venv" / "bin"
    return wheel, bin_dir, env


def test_the_wheel_holds_the_package_and_its_console_script_only(operator_env):
    wheel, _, _ = operator_env
    names = zipfile.ZipFile(wheel).namelist()
    assert "oracle/validator/daemon.py" in names and "oracle/provider/server.py" in names
    assert not [n for n in names if n.startswith(("scripts/", "tests/", "contracts/", "frontend/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "oracle = oracle.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_oracle_runs_help_and_inventory_outside_the_checkout(operator_env, tmp_path):
    _, bin_dir, env = operator_env
    help_out = _run([str(bin_dir / "oracle"), "--help"], env=env, cwd=tmp_path)
    for command in ("inventory", "bench", "serve", "challenge", "keys", "run"):
        assert command in help_out.stdout
    inventory = _run([str(bin_dir / "oracle"), "inventory", "--json"], env=no_gpu_env(env), cwd=tmp_path)
    data = json.loads(inventory.stdout)
    assert data["gpus"] == [] and data["nvml_status"].startswith("no GPU: NVML library not found")
    assert data["cpu"]["logical_cores"] >= 1
    where = _run(
        [str(bin_dir / "python"), "-c", "import oracle; print(oracle.__file__)"], env=env, cwd=tmp_path
    )
    assert str(ROOT) not in where.stdout  # the installed copy, not this checkout
