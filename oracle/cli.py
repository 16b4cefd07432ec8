"""The ``oracle`` command (also ``python -m oracle``).

Each sub-command is one module ``oracle/cli_<name>.py`` listed in :data:`COMMANDS`; it owns its
parser and its handler: ``register(subparsers)`` adds the parser with
``parents=[common_options()]`` and sets ``func=run``, where ``run(args, ui: Ui) -> int`` returns
the exit code. To add a command, write the module and list it here.

Global options (accepted before or after the sub-command): ``--json`` (machine-readable output on
stdout, no progress), ``--debug`` (tracebacks on errors). Options that name a resource also read
an environment default (``ORACLE_RPC_URL``, ``ORACLE_DEPLOYMENT``, ``ORACLE_KEYSTORE``,
``ORACLE_KEY_PASSWORD``, ``ORACLE_PRIVATE_KEY``; see each command's ``--help``).

Errors: every error of the package is an :class:`oracle.errors.OracleError` and is reported the
same way, on one line with its exit code. Exit codes:
    0  success (for ``challenge``: the provider passed)
    1  a check failed (``challenge``: the verdict is not ok)
    2  usage error (bad arguments; argparse)
    3  operational error: something outside the program is missing or misbehaving (provider
       unreachable, no GPU for ``--device gpu``, port in use, no deployment file, ...); the
       message says what to do
    4  internal error (a bug: rerun with ``--debug`` and report the traceback)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from oracle import (
    __version__,
    cli_bench,
    cli_challenge,
    cli_dispute,
    cli_inventory,
    cli_keys,
    cli_node,
    cli_run,
    cli_serve,
)
from oracle.cli_ui import CliError, Ui, common_options
from oracle.config import CONFIG_ENV, configure, load
from oracle.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OPERATIONAL,
    EXIT_USAGE,
    OracleError,
)
from oracle.provider import paid_cli

COMMANDS = (
    cli_inventory,
    cli_bench,
    cli_serve,
    cli_challenge,
    cli_keys,
    cli_run,
    cli_dispute,
    cli_node,
    paid_cli,
)

__all__ = [
    "COMMANDS",
    "EXIT_CHECK_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_USAGE",
    "CliError",
    "Ui",
    "build_parser",
    "common_options",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oracle",
        description="Oracle node of the GPU compute protocol: inventory, benchmarks, provider server, "
        "challenges, signing keys, the validator daemon.",
        epilog="exit codes: 0 ok, 1 check failed, 2 usage, 3 operational error, 4 internal error, 130 interrupted",
    )
    parser.add_argument("--json", action="store_true", default=False, help="machine-readable output")
    parser.add_argument("--debug", action="store_true", default=False, help="show tracebacks on errors")
    parser.add_argument(
        "--config",
        help="TOML file with every option's default (see oracle/deploy/oracle.example.toml; $ORACLE_CONFIG)",
    )
    parser.add_argument("--version", action="version", version=f"oracle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oracle`` console script; returns (and, as a script, exits with) the code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        configure(parser, load(_config_path(argv)))
        args = parser.parse_args(argv)
        ui = Ui(json_mode=args.json, debug=args.debug)
        return int(args.func(args, ui))
    except SystemExit as exc:  # argparse (usage errors exit 2, --help exits 0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        print("oracle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader closed the pipe (`oracle --json inventory | head`): it has enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
        return EXIT_OK
    except Exception as exc:
        return _report(exc, debug)


def _config_path(argv: Sequence[str]) -> str | None:
    """``--config FILE`` / ``--config=FILE`` wherever it is, else ``$ORACLE_CONFIG``."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return os.environ.get(CONFIG_ENV) or None


def _report(exc: Exception, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    if isinstance(exc, OracleError):
        code, message = exc.exit_code, str(exc)
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
