"""``oracle serve``: run the provider's challenge server in the foreground."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from oracle.cli_ui import CliError, Ui, common_options
from oracle.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from oracle.provider.backends import BACKENDS
    from oracle.provider.behaviours import BEHAVIOURS
    from oracle.provider.server import DEFAULT_MAX_N, DEFAULT_MAX_PRODUCT_N

    parser = subparsers.add_parser(
        "serve", parents=[common_options()], help="serve challenges as a provider (Ctrl-C stops)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only; validators elsewhere need 0.0.0.0)",
    )
    parser.add_argument("--port", type=int, default=8600, help="TCP port (0 = any free port; default 8600)")
    parser.add_argument(
        "--behaviour", choices=BEHAVIOURS, default="honest", help="misbehave for fault drills"
    )
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="compute backend")
    parser.add_argument("--max-n", type=int, default=DEFAULT_MAX_N, help="largest challenge accepted")
    parser.add_argument(
        "--max-product-n", type=int, default=DEFAULT_MAX_PRODUCT_N, help="largest full C sent"
    )
    parser.add_argument(
        "--bench",
        action="store_true",
        help="benchmark this machine at start-up and publish the report under 'benchmark' in "
        "GET /inventory (validators attest these figures, held to them by the challenge deadline)",
    )
    parser.add_argument(
        "--deployment",
        default=None,
        help="deployment file: only challenges signed by the AttestationRegistry's oracle set are "
        "computed (read over --rpc); without it the server is open (dev mode)",
    )
    parser.add_argument("--rpc", default=os.environ.get("ORACLE_RPC_URL", "http://127.0.0.1:8545"))
    parser.add_argument(
        "--node",
        action="append",
        default=[],
        help="node id (0x + 64 hex) this server answers for; repeatable",
    )
    parser.add_argument(
        "--answer-key-file",
        default=None,
        help="file holding the private key (0x hex) the nodes sign their answers with; register each node "
        "with metadataURI <url>#key=<its address>",
    )
    parser.add_argument(
        "--jobs-url",
        default=None,
        help="URL of this node's job agent (python -m oracle.provider.jobs_cli), published in GET /services "
        "so pages and clients find it from the node's metadataURI",
    )
    parser.add_argument(
        "--paid-url",
        default=None,
        help="URL of this node's paid inference endpoint, published in GET /services",
    )
    parser.add_argument("--bench-n", type=int, default=None, help="matrix size for --bench")
    parser.add_argument("--bench-repeats", type=int, default=None, help="repeats for --bench")
    parser.add_argument("--log-file", help="also append the JSON log lines (one per request) to this file")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only, not every request")
    parser.set_defaults(func=run)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _benchmarked_inventory(args: argparse.Namespace, ui: Ui):
    """Run the benchmark once, now, and return an inventory function that publishes it."""
    from oracle.bench import BenchUnavailable, run_bench
    from oracle.inventory import collect

    device = {"auto": "auto", "numpy": "cpu", "torch": "gpu"}[args.backend]
    ui.progress(f"benchmarking ({device}) before serving; this takes a few seconds")
    try:
        report = run_bench(device, n=args.bench_n, repeats=args.bench_repeats)
    except BenchUnavailable as exc:
        raise CliError(f"--bench could not run: {exc}; drop --bench or choose --backend numpy") from None
    published = {**collect().to_json(), "benchmark": report.to_dict()}
    return lambda: published


def _admission(args: argparse.Namespace) -> dict:
    """The gate, the domain and the answer keys from ``--deployment``, ``--node``, ``--answer-key-file``."""
    from oracle.attest import Domain
    from oracle.chain import ChainClient
    from oracle.challenge import ChallengeError, parse_bytes32
    from oracle.challenge_auth import OracleSet
    from oracle.deployment import load_deployment
    from oracle.provider.admission import Gate

    try:
        nodes = [parse_bytes32(n, "--node") for n in args.node]
    except ChallengeError as exc:
        raise CliError(f"{exc}; pass --node 0x<64 hex digits>", exit_code=2) from None
    if args.deployment is None:
        if args.node or args.answer_key_file:
            raise CliError(
                "--node and --answer-key-file need --deployment (the chain's oracle set)", exit_code=2
            )
        return {}
    if not nodes:
        raise CliError(
            "--deployment needs at least one --node: the nodes this server answers for", exit_code=2
        )
    deployment = load_deployment(args.deployment)
    chain = ChainClient(args.rpc, deployment)
    registry = deployment.get("AttestationRegistry")
    domain = Domain(deployment.chain_id, registry.address)
    oracles = OracleSet(lambda a: bool(chain.call("AttestationRegistry", "isOracle", a)))
    keys = {}
    if args.answer_key_file:
        key = Path(args.answer_key_file).read_text().strip()
        keys = dict.fromkeys(nodes, key)
    return {"gate": Gate(domain, oracles, nodes), "domain": domain, "node_keys": keys}


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.logs import setup_json_logging
    from oracle.provider.server import ProviderServer
    from oracle.services import ServicesError, check_services

    setup_json_logging(logging.WARNING if args.quiet else logging.INFO, args.log_file)
    try:
        services = check_services({"jobs": args.jobs_url, "paid": args.paid_url})
    except ServicesError as exc:
        raise CliError(f"{exc} (--jobs-url / --paid-url)", exit_code=2) from None
    inventory_fn = _benchmarked_inventory(args, ui) if args.bench else None
    admission = _admission(args)
    try:
        server = ProviderServer(
            args.host,
            args.port,
            behaviour=args.behaviour,
            backend=args.backend,
            max_n=args.max_n,
            max_product_n=args.max_product_n,
            inventory_fn=inventory_fn,
            services=services,
            **admission,
        )
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port"
        ) from None
    signal.signal(signal.SIGTERM, _stop)
    if ui.json:
        # One compact line, so a supervising process can read the URL with a single readline().
        ui.line(
            json.dumps({"url": server.url, "behaviour": server.behaviour, "backend": server.backend_name})
        )
    else:
        gate = "oracle-set requests only" if server.gate is not None else "open (dev mode)"
        ui.line(
            f"serving on {server.url} (behaviour {server.behaviour}, backend {server.backend_name}, {gate});"
            " Ctrl-C stops"
        )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        ui.progress("stopped")
    logging.getLogger("oracle.serve").info({"event": "stopped", "url": server.url})
    return EXIT_OK
