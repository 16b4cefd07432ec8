"""``oracle bench``: matrix-product throughput per precision, bandwidth, work per joule, score."""

from __future__ import annotations

import argparse

from oracle.cli_ui import CliError, Ui, common_options
from oracle.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", parents=[common_options()], help="measure GEMM throughput per precision and memory bandwidth"
    )
    parser.add_argument(
        "--device", choices=["auto", "gpu", "cpu"], default="auto", help="default: GPU if present"
    )
    parser.add_argument("-n", type=int, default=None, help="matrix size (default 8192 on GPU, 1024 on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples; the median is reported")
    parser.set_defaults(func=run)


def throughput(tflops: float | None) -> str | None:
    """A figure in the unit that suits it: ``"989 TFLOP/s"``, ``"47.9 GFLOP/s"`` (3 significant digits)."""
    if tflops is None:
        return None
    if tflops >= 1.0:
        return f"{tflops:.3g} TFLOP/s" if tflops < 1000 else f"{tflops:,.0f} TFLOP/s"
    return f"{tflops * 1000:.3g} GFLOP/s"


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.bench import run_bench

    if args.n is not None and not 16 <= args.n <= 65536:
        raise CliError("-n must be between 16 and 65536", exit_code=2)
    if args.repeats is not None and not 1 <= args.repeats <= 1000:
        raise CliError("--repeats must be between 1 and 1000", exit_code=2)
    from oracle.bench import BenchUnavailable

    try:
        report = run_bench(args.device, n=args.n, repeats=args.repeats, progress=ui.progress)
    except BenchUnavailable as exc:
        raise CliError(f"{exc}; use --device cpu, or install PyTorch with CUDA on a GPU machine") from None
    if ui.json:
        ui.emit(report.to_dict())
        return EXIT_OK
    ui.line(f"device: {report.device} — {report.device_name}")
    ui.line(f"peaks:  {report.peak_source}")
    ui.table(
        ["precision", "n", "median", "peak", "% of peak", "torch.matmul", "W", "GFLOP/J"],
        [
            (
                g.precision,
                g.n,
                throughput(g.tflops),
                throughput(g.peak_tflops) if g.peak_tflops else "peak unknown",
                None if g.fraction_of_peak is None else f"{100 * g.fraction_of_peak:.1f}%",
                throughput(g.reference_tflops),
                g.mean_power_w,
                g.gflops_per_joule,
            )
            for g in report.gemm
        ],
    )
    if report.bandwidth:
        bw = report.bandwidth
        peak = f"{bw.peak_gb_s} GB/s ({100 * bw.fraction_of_peak:.1f}%)" if bw.peak_gb_s else "peak unknown"
        ui.line(f"memory bandwidth (copy): {bw.gb_s:.1f} GB/s; {peak}")
    for item in report.skipped:
        ui.line(f"skipped: {item}")
    for note in report.notes:
        ui.line(f"note: {note}")
    ui.line(f"score: {report.score}")
    return EXIT_OK
