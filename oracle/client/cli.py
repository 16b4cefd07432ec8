"""The ``compute`` command: the dApp user's tool (the operator's is ``oracle``).

    compute job post --demo-model digits --demo-inputs 360 --budget 100 --deadline-in 3600 --wait 120
    compute job status|fetch|check|approve|dispute JOB_ID
    compute serve                     # serve this client's files (inputs, models, manifests, evidence)

Sub-command groups come from the modules in :data:`COMMANDS`; each exposes ``register(subparsers,
common)`` and sets ``func(args, out) -> int`` on its parsers (shared parts in
:mod:`oracle.client.cli_ui`). Options shared by all: ``--rpc``, ``--deployment``, ``--state-dir``,
``--private-key`` (dev chains only; else ``--keystore``),
``--ipfs-gateway``, ``--json``, ``--debug``. Errors are one line, ``compute: error: <what to do>``;
exit codes 0 ok, 1 a check failed, 2 bad input, 3 something outside misbehaved, 4 a bug, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import TextIO

from oracle.client import cli_job, pay_cli
from oracle.client.cli_ui import Out, common_options
from oracle.errors import OracleError

COMMANDS = [cli_job, pay_cli]
"""Modules with ``register(subparsers, common)``; each sets ``func(args, out) -> int`` on its parsers."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compute", description="Post AI jobs and check their results.")
    subs = parser.add_subparsers(dest="group", required=True)
    common = common_options()
    for module in COMMANDS:
        module.register(subs, common)
    return parser


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Out(args.json, stdout, stderr)
    try:
        return int(args.func(args, out))
    except KeyboardInterrupt:
        print("compute: interrupted", file=out.stderr)
        return 130
    except OracleError as exc:
        if args.debug:
            traceback.print_exc(file=out.stderr)
        print(f"compute: error: {exc}", file=out.stderr)
        return int(getattr(exc, "exit_code", 3))
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with --debug
        if args.debug:
            traceback.print_exc(file=out.stderr)
        print(
            f"compute: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
            file=out.stderr,
        )
        return 4


if __name__ == "__main__":
    sys.exit(main())
