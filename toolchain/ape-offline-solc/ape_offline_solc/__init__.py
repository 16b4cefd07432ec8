"""Keep ape-solidity offline.

ape-solidity downloads a compiler (through py-solc-x) whenever the configured version or a
contract's pragma asks for one that is not installed, and fails with a raw network error on a
machine that reaches no compiler mirror. This project compiles with its own solc-js stand-in
(installed by toolchain/setup.sh as ``$SOLCX_BINARY_PATH/solc-v<version>``), so a download is
never the right answer. Ape imports every installed ``ape-*`` distribution as a plugin; importing
this one replaces the two network calls with a clear error that names the versions available.

It also keeps Ape's errors to one line. On an error, the ape CLI prints every stack frame whose file
lies under the project's folder, meant as "the user's own code"; but this project's ``.venv`` and
this plugin live inside the clone too, so every frame of Ape, click and py-solc-x matched and a
one-line error came out as an 80-line traceback. Frames of the interpreter's environment
(``sys.prefix``) and of this plugin are not the user's code: they are left out.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

try:  # an ApeException is printed by the ape CLI as one line, without a traceback
    from ape.exceptions import CompilerError as _Base
except ImportError:  # pragma: no cover - ape not installed
    _Base = Exception


class OfflineSolcError(_Base):
    """A Solidity compiler version was asked for that the offline stand-in does not provide."""


def available_versions() -> list[str]:
    """Versions of the stand-in installed where py-solc-x looks (``$SOLCX_BINARY_PATH``)."""
    folder = os.environ.get("SOLCX_BINARY_PATH")
    if not folder or not Path(folder).is_dir():
        return []
    return sorted(p.name.removeprefix("solc-v") for p in Path(folder).glob("solc-v*"))


def _refuse_install(version, *args, **kwargs):
    folder = os.environ.get("SOLCX_BINARY_PATH")
    have = available_versions()
    if not folder:
        cause = (
            "SOLCX_BINARY_PATH is not set, so py-solc-x looks in ~/.solcx instead of the clone's .solcx; "
            "run Ape from the clone's .venv (`source .venv/bin/activate`) or `source toolchain/env.sh`"
        )
    elif not have:
        cause = f"no stand-in is installed in {folder}; run `make setup` in the clone"
    else:
        cause = (
            f"the stand-in in {folder} provides {', '.join(have)}; set `solidity: version:` in "
            "ape-config.yaml to that version, or widen the contract's `pragma solidity` to include it"
        )
    raise OfflineSolcError(f"solc {version} is not available offline: {cause}.")


def _installable(*args, **kwargs):
    from packaging.version import Version

    return [Version(v) for v in available_versions()]


_NOT_USER_CODE = (str(Path(sys.prefix).resolve()), str(Path(__file__).resolve().parent.parent))


def relevant_frames(base_paths: Iterable[Path | str]) -> list[str]:
    """The frames of the exception being handled that are the project's own code: under one of
    ``base_paths`` and not in the venv or in this plugin (Ape's ``_get_relevant_frames``, narrowed)."""
    frames = traceback.extract_tb(sys.exc_info()[2])
    mine = [
        f
        for f in frames
        if any(str(p) in f.filename for p in base_paths)
        and not any(str(Path(f.filename).resolve()).startswith(skip) for skip in _NOT_USER_CODE)
    ]
    return traceback.format_list(mine) if mine else []


def _patch() -> None:
    try:
        import ape.exceptions
    except ImportError:  # pragma: no cover - ape not installed
        return
    ape.exceptions._get_relevant_frames = relevant_frames
    try:
        import ape_solidity.compiler as compiler
        import solcx
    except ImportError:  # ape-solidity not installed: nothing to guard
        return
    compiler._install_solc = _refuse_install
    compiler.get_installable_solc_versions = _installable
    solcx.install_solc = _refuse_install
    solcx.get_installable_solc_versions = _installable


_patch()
