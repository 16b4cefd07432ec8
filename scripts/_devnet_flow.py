"""The devnet's protocol walk-through (imported by scripts/devnet.py, not an Ape script)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_flow(
    ape: Any,
    contracts: dict[str, Any],
    doc: dict[str, Any],
    sup: Any,
    rpc_url: str,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    return []
