"""``oracle run``: the validator daemon (:mod:`oracle.validator.daemon`).

Challenge every registered node each epoch, sign attestations (or faults), gather k signatures
from the other validators, post them on chain; between epochs, judge every disputed job and
settle it with k validators' verdict (:mod:`oracle.validator.disputes`). ``--epoch N`` runs one epoch and prints its
summary (JSON); ``--once`` runs the current epoch once. Logs are JSON lines on stderr.
Environment defaults: ``ORACLE_RPC_URL``, ``ORACLE_DEPLOYMENT``, ``ORACLE_KEYSTORE``,
``ORACLE_KEY_PASSWORD``, ``ORACLE_PRIVATE_KEY`` (dev chains only).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

from oracle.cli_dispute import dispute_options, journal_path, sources
from oracle.cli_ui import Ui, chain_options, common_options
from oracle.deployment import load_deployment
from oracle.errors import EXIT_OK
from oracle.keys import load_signer
from oracle.logs import setup_json_logging
from oracle.validator.config import MODES, ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.epochs import check_chain_epochs, resolve_epochs

log = logging.getLogger("oracle.run")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        parents=[common_options(), chain_options(), dispute_options()],
        help="run the validator: challenge, sign, gather k signatures, post; settle disputes",
    )
    p.add_argument("--journal", help="SQLite journal path (default .oracle/journal-<address>.sqlite)")
    p.add_argument("--peers", help="comma-separated base URLs of the other validators")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="signature server port (0: any)")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus metrics port")
    epochs = "(default: the deployment file's epochs; a different value is refused)"
    p.add_argument("--genesis", type=int, default=None, help=f"unix time of epoch 1's start {epochs}")
    p.add_argument("--epoch-seconds", type=int, default=None, help=f"epoch length {epochs}")
    p.add_argument("--validity-seconds", type=int, default=None, help=f"attestation validity {epochs}")
    p.add_argument("--slash-amount", type=int, default=100 * 10**18)
    p.add_argument("--finder", help="address paid the finder's share of fault slashes")
    p.add_argument(
        "--n",
        type=int,
        default=8192,
        help="challenge inner size; rows are sized to each claim (default 8192)",
    )
    p.add_argument("--samples", type=int, default=16, help="rows opened per challenge (default 16)")
    p.add_argument(
        "--target-s",
        type=float,
        default=1.0,
        help="seconds each challenge takes at the claimed speed (default 1)",
    )
    p.add_argument(
        "--allowance-s",
        type=float,
        default=0.25,
        help="seconds added to every deadline for the round trip (default 0.25; all validators must agree)",
    )
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
    p.add_argument("--log-file", help="also append the JSON log lines to this file")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    setup_json_logging(logging.DEBUG if args.verbose else logging.INFO, args.log_file)
    deployment = load_deployment(args.deployment)
    epochs = resolve_epochs(deployment, args.genesis, args.epoch_seconds, args.validity_seconds)
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
        journal_path=journal_path(args, account.address),
        peers=[p for p in (args.peers or "").split(",") if p],
        listen_host=args.host,
        listen_port=args.port,
        metrics_port=args.metrics_port,
        genesis=epochs.genesis,
        epoch_seconds=epochs.epoch_seconds,
        validity_seconds=epochs.validity_seconds,
        slash_amount=args.slash_amount,
        finder=args.finder,
        challenge_n=args.n,
        challenge_target_s=args.target_s,
        challenge_allowance_s=args.allowance_s,
        samples=args.samples,
        collect_timeout=args.collect_timeout,
        failover_s=args.failover,
        submit_delay=args.submit_delay,
        mode=args.mode,
        blob_dir=args.blob_dir,
        manifest_sources=sources(args),
        ipfs_gateway=args.ipfs_gateway,
        dispute_device=args.dispute_device,
        open_grace_s=args.open_grace,
    )
    v = Validator(cfg)
    v.check_membership()
    check_chain_epochs(v.chain, epochs)
    stop = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        log.info({"event": "stopping", "signal": signal.Signals(signum).name, "validator": account.address})
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    v.start()
    try:
        if args.epoch is not None:
            ui.line(json.dumps(v.run_epoch(args.epoch)))
        else:
            v.run(once=args.once, stop=stop)
    except KeyboardInterrupt:
        log.info({"event": "stopping", "signal": "SIGINT", "validator": account.address})
    finally:
        v.stop()
        signal.signal(signal.SIGTERM, previous)
    log.info({"event": "stopped", "validator": account.address})
    return EXIT_OK
