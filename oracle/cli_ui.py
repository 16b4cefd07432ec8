"""What every ``oracle`` command gets (not a command itself): the :class:`Ui` for output (JSON
for machines, tables and progress for people) and the global options ``--json`` / ``--debug``
that are accepted before or after the command name."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from oracle.errors import EXIT_OPERATIONAL, OracleError


class CliError(OracleError):
    """A command's own error, shown on one line as ``oracle: error: <message>`` with ``exit_code``
    (default: operational). The message should say what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_OPERATIONAL):
        super().__init__(message)
        self.exit_code = exit_code


class Ui:
    """Output helpers handed to every command: JSON for machines, tables and progress for people."""

    def __init__(
        self, json_mode: bool, debug: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ):
        self.json = json_mode
        self.debug = debug
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def emit(self, data: Any) -> None:
        """Machine output (``--json``): one JSON document on stdout."""
        print(json.dumps(data, indent=2, default=str), file=self.stdout, flush=True)

    def line(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def progress(self, text: str) -> None:
        """Progress for people, on stderr (silent in ``--json`` mode)."""
        if not self.json:
            print(f"... {text}", file=self.stderr, flush=True)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cells = [[_cell(v) for v in row] for row in rows]
        widths = [
            max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
        ]
        self.line("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
        self.line("  ".join("-" * w for w in widths))
        for row in cells:
            self.line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        pairs = list(pairs)
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            self.line(f"{key.ljust(width)}  {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def common_options() -> argparse.ArgumentParser:
    """Parent parser for sub-commands so ``--json``/``--debug`` also work after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parent
