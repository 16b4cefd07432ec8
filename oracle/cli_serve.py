"""``oracle serve``: run the provider's challenge server in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from oracle.cli_ui import CliError, Ui, common_options
from oracle.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from oracle.provider.backends import BACKENDS
    from oracle.provider.behaviours import BEHAVIOURS
    from oracle.provider.server import DEFAULT_MAX_N, DEFAULT_MAX_PRODUCT_N

    parser = subparsers.add_parser(
        "serve", parents=[common_options()], help="serve challenges as a provider (Ctrl-C stops)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
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
    parser.add_argument("--bench-n", type=int, default=None, help="matrix size for --bench")
    parser.add_argument("--bench-repeats", type=int, default=None, help="repeats for --bench")
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


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.provider.server import ProviderServer

    inventory_fn = _benchmarked_inventory(args, ui) if args.bench else None
    try:
        server = ProviderServer(
            args.host,
            args.port,
            behaviour=args.behaviour,
            backend=args.backend,
            max_n=args.max_n,
            max_product_n=args.max_product_n,
            inventory_fn=inventory_fn,
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
        ui.line(
            f"serving on {server.url} (behaviour {server.behaviour}, backend {server.backend_name}); Ctrl-C stops"
        )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        ui.progress("stopped")
    return EXIT_OK
