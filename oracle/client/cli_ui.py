"""What every ``compute`` sub-command shares: the common options, output (results on stdout, JSON
with ``--json``; progress on stderr) and the escrow built from the options."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from oracle.chain import ChainClient
from oracle.deployment import load_deployment
from oracle.keys import load_signer
from oracle.work.escrow import Escrow

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
