"""``oracle run``: the validator daemon (:mod:`oracle.validator.daemon`).

Challenge every registered node each epoch, sign attestations (or faults), gather k signatures
from the other validators, post them on chain. ``--epoch N`` runs one epoch and prints its
summary (JSON); ``--once`` runs the current epoch once. Logs are JSON lines on stderr.
Environment defaults: ``ORACLE_RPC_URL``, ``ORACLE_DEPLOYMENT``, ``ORACLE_KEYSTORE``,
``ORACLE_KEY_PASSWORD``, ``ORACLE_PRIVATE_KEY`` (dev chains only).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from oracle.chain import load_deployment
from oracle.cli_ui import Ui, common_options
from oracle.errors import EXIT_OK
from oracle.keys import DEFAULT_KEYSTORE_DIR, load_signer
from oracle.validator.config import MODES, ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.observability import setup_json_logging

DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_DEPLOYMENT = ".devnet/deployment.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        parents=[common_options()],
        help="run the validator: challenge, sign, gather k signatures, post",
    )
    p.add_argument(
        "--deployment",
        default=os.environ.get("ORACLE_DEPLOYMENT", DEFAULT_DEPLOYMENT),
        help="deployment file ($ORACLE_DEPLOYMENT)",
    )
    p.add_argument("--rpc", default=os.environ.get("ORACLE_RPC_URL", DEFAULT_RPC), help="($ORACLE_RPC_URL)")
    p.add_argument("--keystore", help="keystore path or address (see `oracle keys list`)")
    p.add_argument("--keystore-dir", default=str(DEFAULT_KEYSTORE_DIR), help="($ORACLE_KEYSTORE)")
    p.add_argument("--password-file", help="(else $ORACLE_KEY_PASSWORD, else prompt)")
    p.add_argument("--private-key", help="plain key, dev chains (31337/1337) only ($ORACLE_PRIVATE_KEY)")
    p.add_argument("--journal", help="SQLite journal path (default .oracle/journal-<address>.sqlite)")
    p.add_argument("--peers", help="comma-separated base URLs of the other validators")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="signature server port (0: any)")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus metrics port")
    p.add_argument("--genesis", type=int, default=0, help="unix time of epoch 1's start")
    p.add_argument("--epoch-seconds", type=int, default=3600)
    p.add_argument("--validity-seconds", type=int, default=2 * 3600)
    p.add_argument("--slash-amount", type=int, default=100 * 10**18)
    p.add_argument("--finder", help="address paid the finder's share of fault slashes")
    p.add_argument("--n", type=int, default=64, help="challenge matrix size")
    p.add_argument("--samples", type=int, default=8, help="rows opened per challenge")
    p.add_argument("--collect-timeout", type=float, default=60.0)
    p.add_argument("--failover", type=float, default=30.0, help="seconds before a non-leader posts")
    p.add_argument("--submit-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--mode",
        choices=MODES,
        default="single",
        help="single: one submit per node (records stored on chain); batch: one Merkle root per epoch",
    )
    p.add_argument("--epoch", type=int, default=None, help="run exactly this epoch once and exit")
    p.add_argument("--once", action="store_true", help="run the current epoch once and exit")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    setup_json_logging(logging.DEBUG if args.verbose else logging.INFO)
    deployment = load_deployment(args.deployment)
    account = load_signer(
        deployment.chain_id,
        keystore=args.keystore,
        keystore_dir=args.keystore_dir,
        password_file=args.password_file,
        private_key=args.private_key,
    )
    cfg = ValidatorConfig(
        deployment_path=args.deployment,
        rpc=args.rpc,
        account=account,
        journal_path=args.journal or str(Path(".oracle") / f"journal-{account.address}.sqlite"),
        peers=[p for p in (args.peers or "").split(",") if p],
        listen_host=args.host,
        listen_port=args.port,
        metrics_port=args.metrics_port,
        genesis=args.genesis,
        epoch_seconds=args.epoch_seconds,
        validity_seconds=args.validity_seconds,
        slash_amount=args.slash_amount,
        finder=args.finder,
        challenge_n=args.n,
        samples=args.samples,
        collect_timeout=args.collect_timeout,
        failover_s=args.failover,
        submit_delay=args.submit_delay,
        mode=args.mode,
    )
    v = Validator(cfg)
    v.start()
    try:
        if args.epoch is not None:
            ui.line(json.dumps(v.run_epoch(args.epoch)))
        else:
            v.run(once=args.once)
    except KeyboardInterrupt:
        pass
    finally:
        v.stop()
    return EXIT_OK
