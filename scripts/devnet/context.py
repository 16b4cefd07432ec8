"""What every step of the devnet's walk-through gets: Ape, the deployed contracts, the supervisor
of its processes, where to log, and the summary sections it fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.devnet.processes import Supervisor

TOKEN = 10**18


def fmt(amount: int) -> str:
    """A token amount for people: ``1,234.5 GPU``."""
    whole, frac = divmod(int(amount), TOKEN)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:018d}".rstrip("0")[:4]
    return f"{text} GPU"


@dataclass
class FlowContext:
    ape: Any
    contracts: dict[str, Any]
    doc: dict[str, Any]
    sup: Supervisor
    rpc_url: str
    say: Callable[[str], None]
    state_dir: Path
    sections: list[dict[str, Any]] = field(default_factory=list)

    def acct(self, index: int) -> Any:
        return self.ape.accounts.test_accounts[index]

    def section(self, title: str, lines: list[str]) -> None:
        self.sections.append({"title": title, "lines": lines})
