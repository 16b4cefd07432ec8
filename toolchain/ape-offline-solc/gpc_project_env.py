"""Point every Python started from this clone's ``.venv`` at the clone's own tool state.

``toolchain/setup.sh`` installs ``gpc_project_env.pth`` into the venv's site-packages; Python runs
its import line at start-up, before Ape reads its configuration. So a developer who activates the
venv (or calls ``.venv/bin/ape`` directly) and types ``ape test``, ``ape compile``, ``ape console``
or ``ape run ...`` gets what the Makefile sets, without exporting anything:

- ``APE_DATA_FOLDER=<clone>/.ape-data`` and ``SOLCX_BINARY_PATH=<clone>/.solcx``: nothing under
  ``~/.ape`` or ``~/.solcx``, and py-solc-x finds the solc-js stand-in;
- ``HYPOTHESIS_STORAGE_DIRECTORY=<clone>/.hypothesis``;
- anvil (from ``node_modules``) on ``PATH`` when no anvil is there already.

A variable the developer did set is left as it is. Nothing happens for a venv that is not inside a
clone of this project (no ``ape-config.yaml`` beside it). Only the standard library is imported:
this runs in every interpreter start of the venv.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ANVIL_DIR = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin")


def project_root(prefix: str = sys.prefix) -> Path | None:
    """The clone this venv lives in (``<clone>/.venv``), or ``None``."""
    root = Path(prefix).resolve().parent
    return root if (root / "ape-config.yaml").is_file() and (root / "toolchain").is_dir() else None


def defaults(root: Path) -> dict[str, str]:
    return {
        "APE_DATA_FOLDER": str(root / ".ape-data"),
        "SOLCX_BINARY_PATH": str(root / ".solcx"),
        "HYPOTHESIS_STORAGE_DIRECTORY": str(root / ".hypothesis"),
    }


def apply(environ: os._Environ | dict = os.environ, prefix: str = sys.prefix) -> Path | None:
    """Set the clone's defaults in ``environ`` where unset; returns the clone's root or ``None``."""
    root = project_root(prefix)
    if root is None:
        return None
    for name, value in defaults(root).items():
        environ.setdefault(name, value)
    anvil_dir = root / ANVIL_DIR
    path = environ.get("PATH", "")
    if (anvil_dir / "anvil").is_file() and shutil.which("anvil", path=path) is None:
        environ["PATH"] = f"{path}{os.pathsep}{anvil_dir}" if path else str(anvil_dir)
    return root


apply()
