"""Keep ape-solidity offline.

ape-solidity downloads a compiler (through py-solc-x) whenever the configured version or a
contract's pragma asks for one that is not installed, and fails with a raw network error on a
machine that reaches no compiler mirror. This project compiles with its own solc-js stand-in
(installed by toolchain/setup.sh as ``$SOLCX_BINARY_PATH/solc-v<version>``), so a download is
never the right answer. Ape imports every installed ``ape-*`` distribution as a plugin; importing
this one replaces the two network calls with a clear error that names the versions available.
"""

from __future__ import annotations

import os
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
    have = ", ".join(available_versions()) or "none (run `make setup`)"
    raise OfflineSolcError(
        f"solc {version} is not available offline; the project's stand-in provides: {have}. "
        "Set `solidity: version:` in ape-config.yaml to that version, or widen the contract's "
        "`pragma solidity` to include it."
    )


def _installable(*args, **kwargs):
    from packaging.version import Version

    return [Version(v) for v in available_versions()]


def _patch() -> None:
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
