"""``oracle serve``: run the provider's challenge server in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from oracle.cli import EXIT_OK, CliError, Ui, common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    from oracle.server import BEHAVIOURS, DEFAULT_MAX_N, DEFAULT_MAX_PRODUCT_N

    parser = subparsers.add_parser(
        "serve", parents=[common_options()], help="serve challenges as a provider (Ctrl-C stops)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8600, help="TCP port (0 = any free port; default 8600)")
    parser.add_argument(
        "--behaviour", choices=BEHAVIOURS, default="honest", help="misbehave for fault drills"
    )
    parser.add_argument(
        "--backend", choices=["auto", "numpy", "torch"], default="auto", help="compute backend"
    )
    parser.add_argument("--max-n", type=int, default=DEFAULT_MAX_N, help="largest challenge accepted")
    parser.add_argument(
        "--max-product-n", type=int, default=DEFAULT_MAX_PRODUCT_N, help="largest full C sent"
    )
    parser.add_argument(
        "--no-bench",
        action="store_true",
        help="do not benchmark at start (GET /inventory then carries no 'benchmark' for validators)",
    )
    parser.add_argument(
        "--bench-n", type=int, default=None, help="benchmark matrix size (default per device)"
    )
    parser.add_argument("--bench-repeats", type=int, default=3, help="benchmark samples (median)")
    parser.set_defaults(func=run)


def benchmark_summary(report) -> dict:
    """What validators read from ``GET /inventory`` under ``benchmark`` (see
    ``oracle.validator.figures_from_benchmark``): TFLOPS per precision, GB/s, W, and the score."""
    powers = [g.mean_power_w for g in report.gemm if g.mean_power_w]
    return {
        "device": report.device_name,
        "tflops": {g.precision: g.tflops for g in report.gemm},
        "mem_bandwidth_gbps": report.bandwidth.gb_s if report.bandwidth else 0.0,
        "power_w": max(powers) if powers else 0.0,
        "score": report.score,
    }


def inventory_with_benchmark(args: argparse.Namespace, ui: Ui) -> dict:
    """The hardware inventory plus, unless --no-bench, this node's benchmark (run once, now)."""
    from oracle.bench import run_bench
    from oracle.inventory import collect

    inventory = collect().to_json()
    if not getattr(args, "no_bench", False):
        ui.progress("benchmarking this node once (oracle.bench) for validators to read in /inventory")
        report = run_bench("auto", n=args.bench_n, repeats=args.bench_repeats)
        inventory["benchmark"] = benchmark_summary(report)
    return inventory


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.server import ProviderServer

    inventory: dict = {}
    try:
        server = ProviderServer(
            args.host,
            args.port,
            behaviour=args.behaviour,
            backend=args.backend,
            max_n=args.max_n,
            max_product_n=args.max_product_n,
            inventory_fn=lambda: inventory,  # filled below, before serving
        )
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port"
        ) from None
    # the port is bound (a busy one failed above): now benchmark once, before the first request
    inventory.update(inventory_with_benchmark(args, ui))
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
