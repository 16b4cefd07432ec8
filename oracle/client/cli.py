"""The ``compute`` command: the dApp user's tool (the operator's is ``oracle``).

    compute job post --demo-model digits --demo-inputs 360 --budget 100 --deadline-in 3600 --wait 120
    compute job status|fetch|check|approve|dispute JOB_ID
    compute serve                     # serve this client's files (inputs, models, manifests, evidence)

Sub-command groups come from :data:`COMMAND_MODULES`; each exposes ``register(subparsers,
common)`` and sets ``func(args, out) -> int`` on its parsers. Options shared by all: ``--rpc``,
``--deployment``, ``--state-dir``, ``--private-key`` (dev chains only; else ``--keystore``),
``--ipfs-gateway``, ``--json``, ``--debug``. Errors are one line, ``compute: error: <what to do>``;
exit codes 0 ok, 1 a check failed, 2 bad input, 3 something outside misbehaved, 4 a bug, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from typing import Any, TextIO

from oracle.chain import ChainClient, ChainError, load_deployment
from oracle.keys import KeystoreError, load_signer
from oracle.work.errors import WorkError
from oracle.work.escrow import Escrow

COMMAND_MODULES = ["oracle.client.cli_job"]
PRIVATE_KEY_ENV = "COMPUTE_PRIVATE_KEY"


class Out:
    """stdout for results (JSON with ``--json``), stderr for progress."""

    def __init__(self, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None):
        self.json = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        if self.json:
            print(json.dumps(data, indent=2, default=str), file=self.stdout, flush=True)
        else:
            for line in lines:
                print(line, file=self.stdout, flush=True)

    def progress(self, text: str) -> None:
        if not self.json:
            print(f"... {text}", file=self.stderr, flush=True)


def common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--rpc", default=os.environ.get("COMPUTE_RPC", "http://127.0.0.1:8545"))
    p.add_argument("--deployment", default=os.environ.get("COMPUTE_DEPLOYMENT", ".devnet/deployment.json"))
    p.add_argument(
        "--state-dir",
        default=os.environ.get("COMPUTE_STATE_DIR", ".compute"),
        help="where this client keeps its files (default .compute)",
    )
    p.add_argument("--private-key", default=None, help=f"dev chains only (or ${PRIVATE_KEY_ENV})")
    p.add_argument("--keystore", default=None, help="keystore file or address (see `oracle keys list`)")
    p.add_argument("--password-file", default=None)
    p.add_argument(
        "--ipfs-gateway", default=os.environ.get("COMPUTE_IPFS_GATEWAY"), help="IPFS path gateway URL"
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--debug", action="store_true", help="tracebacks on errors")
    return p


def escrow_from(args: argparse.Namespace, signer: bool = True) -> Escrow:
    """An :class:`Escrow` for the options' chain and key."""
    deployment = load_deployment(args.deployment)
    account = None
    if signer:
        account = load_signer(
            deployment.chain_id,
            keystore=args.keystore,
            password_file=args.password_file,
            private_key=args.private_key or os.environ.get(PRIVATE_KEY_ENV),
        )
    return Escrow(ChainClient(args.rpc, deployment, account))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compute", description="Post AI jobs and check their results.")
    subs = parser.add_subparsers(dest="group", required=True)
    common = common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subs, common)
    return parser


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Out(args.json, stdout, stderr)
    try:
        return int(args.func(args, out))
    except KeyboardInterrupt:
        print("compute: interrupted", file=out.stderr)
        return 130
    except (WorkError, ChainError, KeystoreError) as exc:
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
