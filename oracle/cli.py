"""The ``oracle`` command (also ``python -m oracle``).

Sub-commands are registered by modules: each module in :data:`COMMAND_MODULES` (and each module of
:data:`OPTIONAL_COMMAND_MODULES` that exists) exposes ``register(subparsers)``, which adds its
parser(s) with ``subparsers.add_parser(name, parents=[common_options()], ...)`` and sets
``func=handler`` where ``handler(args, ui: Ui) -> int`` returns the exit code. To add a command,
write ``oracle/cli_<name>.py`` with ``register`` and list it here (``oracle.cli_keys`` and
``oracle.cli_run`` are picked up automatically when present).

Global options (accepted before or after the sub-command): ``--json`` (machine-readable output on
stdout, no progress), ``--debug`` (tracebacks on errors).

Exit codes:
    0  success (for ``challenge``: the provider passed)
    1  a check failed (``challenge``: the verdict is not ok)
    2  usage error (bad arguments; argparse)
    3  operational error: something outside the program is missing or misbehaving (provider
       unreachable, no GPU for ``--device gpu``, port in use, ...); the message says what to do
    4  internal error (a bug: rerun with ``--debug`` and report the traceback)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

COMMAND_MODULES = ["oracle.cli_inventory", "oracle.cli_bench", "oracle.cli_serve", "oracle.cli_challenge"]
OPTIONAL_COMMAND_MODULES = ["oracle.cli_keys", "oracle.cli_run"]


class CliError(Exception):
    """An error to show on one line as ``oracle: error: <message>`` with ``exit_code``.
    The message should say what to do."""

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


def _load_modules() -> list[Any]:
    modules = [importlib.import_module(name) for name in COMMAND_MODULES]
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but one of ITS imports is missing: a real error
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    from oracle import __version__

    parser = argparse.ArgumentParser(
        prog="oracle",
        description="Oracle node of the GPU compute protocol: inventory, benchmarks, provider server, challenges.",
        epilog="exit codes: 0 ok, 1 check failed, 2 usage, 3 operational error, 4 internal error, 130 interrupted",
    )
    parser.add_argument("--json", action="store_true", default=False, help="machine-readable output")
    parser.add_argument("--debug", action="store_true", default=False, help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"oracle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in _load_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oracle`` console script; returns (and, as a script, exits with) the code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        ui = Ui(json_mode=args.json, debug=args.debug)
        return int(args.func(args, ui))
    except SystemExit as exc:  # argparse (usage errors exit 2, --help exits 0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        print("oracle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _report(exc, debug)


def _report(exc: Exception, debug: bool) -> int:
    from oracle.bench import BenchUnavailable
    from oracle.challenge import ChallengeError
    from oracle.server import ProviderError

    if debug:
        traceback.print_exc()
    if isinstance(exc, CliError):
        code, message = exc.exit_code, str(exc)
    elif isinstance(exc, BenchUnavailable | ProviderError | ChallengeError):
        code, message = EXIT_OPERATIONAL, str(exc)
    elif isinstance(exc, OSError):
        code, message = EXIT_OPERATIONAL, f"{exc.strerror or exc} ({type(exc).__name__})"
    else:
        code = EXIT_INTERNAL
        message = f"internal error {type(exc).__name__}: {exc} (rerun with --debug and report the traceback)"
    print(f"oracle: error: {message}", file=sys.stderr)
    return code


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
