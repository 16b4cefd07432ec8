"""One run that measures everything the oracle does on a GPU, and records it with the device's name.

``scripts/gpu_check.sh`` (``make gpu-check``) calls this on a machine with an NVIDIA GPU::

    python -m oracle.benchmarks.gpu_check --out oracle/benchmarks/results-gpu.json

Sections, each timed, each either measured or skipped with the reason (never invented):

``inventory``   ``oracle inventory --json`` through NVML, as an operator runs it.
``bench``       GEMM per precision (fp32, tf32, fp16, bf16) with CUDA events, beside plain
                ``torch.matmul`` on the same sizes (goal: within 10% of it) and the card's published
                peaks; copy bandwidth; energy per TFLOP from NVML power readings.
``challenge``   the capacity challenge at the size its claim calls for: the provider's time split
                into derivation, GEMM and commitment, the validator's check time and its share of the
                work, the commitment compared bit for bit with the CPU path's.
``inference``   the batch-job runtime (``oracle.work``, also what the paid endpoint runs) on both
                demo models: items per second on ONNX Runtime's CUDA provider vs its CPU provider,
                outputs compared under the job's documented equality rule. (The paid endpoint's
                payment check is a CPU cost measured by ``python -m oracle.benchmarks.paid``, which
                needs anvil; it is not repeated here.)

``--dry`` (what CI runs, through ``tests/test_gpu_check.py``) takes every code path above with
sizes a 2-core CPU does in seconds and the CPU standing in for the device, so the script cannot rot
between GPU sessions; its output says ``"mode": "dry"`` and is never written over the GPU results.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

GPU_PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
TORCH_MATCH_GOAL = 0.10
"""``oracle bench`` should be within 10% of plain ``torch.matmul`` on the same size."""


@dataclass(frozen=True)
class Sizes:
    """Problem sizes per mode: GPU sizes fill an H100/H200 for about a second per figure."""

    gemm_n: int
    repeats: int
    bandwidth_mib: int
    challenge_n: int
    inference_items: int


SIZES = {
    "gpu": Sizes(gemm_n=8192, repeats=10, bandwidth_mib=2048, challenge_n=8192, inference_items=100_000),
    "dry": Sizes(gemm_n=128, repeats=2, bandwidth_mib=8, challenge_n=256, inference_items=256),
}


class SectionSkipped(Exception):
    """A section cannot run here (no PyTorch, no CUDA provider...): recorded with its reason."""


def torch_cuda() -> Any:
    """PyTorch with a CUDA device, or :class:`SectionSkipped` saying which part is missing."""
    try:
        import torch
    except ImportError as exc:
        raise SectionSkipped(f"PyTorch is not installed ({exc}); install the oracle's `gpu` extra") from None
    if not torch.cuda.is_available():
        raise SectionSkipped("PyTorch sees no CUDA device")
    return torch


def section_inventory(mode: str, sizes: Sizes) -> dict:
    """What an operator sees: ``oracle inventory --json`` run as a command."""
    done = subprocess.run(
        [sys.executable, "-m", "oracle", "--json", "inventory"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"oracle inventory exited {done.returncode}: {done.stderr.strip()[-300:]}")
    inventory = json.loads(done.stdout)
    if mode == "gpu" and not inventory.get("gpus"):
        raise RuntimeError(f"NVML found no GPU: {inventory.get('nvml_status')}")
    return inventory


def _bench_rows(report: Any) -> list[dict]:
    rows = []
    for g in report.gemm:
        gap = None
        if g.reference_tflops:
            gap = round(g.tflops / g.reference_tflops - 1.0, 4)
        joules_per_tflop = round(1000.0 / g.gflops_per_joule, 3) if g.gflops_per_joule else None
        rows.append(
            {
                "precision": g.precision,
                "n": g.n,
                "tflops": g.tflops,
                "torch_matmul_tflops": g.reference_tflops,
                "vs_torch_matmul": gap,
                "within_goal": None if gap is None else abs(gap) <= TORCH_MATCH_GOAL,
                "peak_tflops": g.peak_tflops,
                "fraction_of_peak": g.fraction_of_peak,
                "mean_power_w": g.mean_power_w,
                "joules_per_tflop": joules_per_tflop,
            }
        )
    return rows


def section_bench(mode: str, sizes: Sizes) -> dict:
    """``oracle bench``'s own code: on the GPU per precision beside ``torch.matmul``; dry: the CPU."""
    from oracle import bench

    if mode == "gpu":
        torch_cuda()
        report = bench.bench_gpu(
            n=sizes.gemm_n,
            repeats=sizes.repeats,
            precisions=GPU_PRECISIONS,
            bandwidth_mib=sizes.bandwidth_mib,
        )
    else:
        report = bench.bench_cpu(
            n=sizes.gemm_n, repeats=sizes.repeats, warmup=1, bandwidth_mib=sizes.bandwidth_mib
        )
    bandwidth = report.bandwidth
    return {
        "device": report.device,
        "device_name": report.device_name,
        "peak_source": report.peak_source,
        "gemm": _bench_rows(report),
        "bandwidth_gb_s": None if bandwidth is None else bandwidth.gb_s,
        "bandwidth_peak_gb_s": None if bandwidth is None else bandwidth.peak_gb_s,
        "score": report.score,
        "skipped": report.skipped,
        "notes": report.notes,
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def section_challenge(mode: str, sizes: Sizes) -> dict:
    """The capacity challenge at the size its claim calls for (``make bench``'s measurement on this
    device's backend): the provider's time split into derivation, GEMM, row digests and Merkle tree,
    the validator's check and its share of the work; on a GPU, the device path's commitment is
    compared bit for bit with the CPU path's, and the smallest claimed inflation the deadline
    catches is swept against a real provider server."""
    from oracle import challenge as ch
    from oracle import commitment as cm
    from oracle.benchmarks.run import measure_check_vs_compute
    from oracle.benchmarks.tolerance import measure_tolerance

    n = sizes.challenge_n
    out: dict[str, Any] = {"cpu_reference": measure_check_vs_compute(n, repeats=2, samples=(16,), rows=n)}
    if mode != "gpu":
        out["device"] = "cpu (dry mode: the CPU path stands in for the device path)"
        out["tolerance"] = measure_tolerance(n=n, guess_flops=5e9, ks=(1.0, 3.0))
        return out
    torch = torch_cuda()
    from oracle.provider.device import torch_commitment

    claim = 0.0
    for precision in GPU_PRECISIONS:
        challenge = ch.new_challenge(n, precision, 50e12, b_seed=bytes(range(32)))
        torch_commitment(challenge, "cuda")  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        started = time.perf_counter()
        torch_commitment(challenge, "cuda")
        torch.cuda.synchronize()
        wall = time.perf_counter() - started
        flops = 2.0 * challenge.rows * n * n / wall
        # The product is exact in every precision, so the device's root equals the CPU path's.
        same = ch.Challenge(
            challenge.seed, n, precision, 3600.0, challenge.b_seed, rows=min(challenge.rows, 4 * n)
        )
        identical = torch_commitment(same, "cuda").root == cm.compute_commitment(same).root
        out[precision] = {
            "rows": challenge.rows,
            "device_wall_s": round(wall, 6),
            "device_tflops": round(flops / 1e12, 3),
            "commitment_identical_to_cpu": identical,
        }
        claim = max(claim, flops)
    out["tolerance"] = measure_tolerance(n=n, guess_flops=claim or 1e12)
    return out


def _items_per_s(model: Any, x: np.ndarray, repeats: int = 3) -> tuple[float, list[np.ndarray]]:
    model.run(x[: min(len(x), 256)])  # warm-up: session, kernels
    best, outputs = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = model.run(x)
        best = min(best, time.perf_counter() - started)
    return len(x) / best, outputs


def section_inference(mode: str, sizes: Sizes) -> dict:
    """The batch-job runtime (``oracle.work``) on both demo models: items per second on the device's
    ONNX Runtime provider against the CPU provider, outputs compared under the job's equality rule."""
    from oracle.work import demo_model
    from oracle.work.equality import Equality
    from oracle.work.runtime import OnnxModel, select_providers

    device = "cuda" if mode == "gpu" else "cpu"
    select_providers(device)  # on a GPU: a clear "install onnxruntime-gpu" when CUDA is missing
    out: dict[str, Any] = {"device": device, "items": sizes.inference_items}
    x, _ = demo_model.test_set(sizes.inference_items)
    for name in demo_model.RECIPES:
        data = demo_model.model_bytes(name)
        cpu_rate, cpu_out = _items_per_s(OnnxModel.from_bytes(data, device="cpu"), x)
        row: dict[str, Any] = {"cpu_items_per_s": round(cpu_rate, 1)}
        if device == "cuda":
            dev_rate, dev_out = _items_per_s(OnnxModel.from_bytes(data, device="cuda"), x)
            rule = Equality.for_dtype(str(cpu_out[0].dtype))
            row.update(
                device_items_per_s=round(dev_rate, 1),
                speedup=round(dev_rate / cpu_rate, 2),
                outputs_within_tolerance=not rule.mismatches(dev_out[0], cpu_out[0]).any(),
                max_abs_error=float(np.max(np.abs(dev_out[0].astype(np.float64) - cpu_out[0]))),
            )
        out[name] = row
    return out


SECTIONS: dict[str, Callable[[str, Sizes], dict]] = {
    "inventory": section_inventory,
    "bench": section_bench,
    "challenge": section_challenge,
    "inference": section_inference,
}


def run(mode: str, only: list[str] | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Every section (or ``only`` those), each with its wall time and either its figures or why not."""
    sizes = SIZES[mode]
    record: dict[str, Any] = {
        "mode": mode,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "python": platform.python_version(),
        "sizes": sizes.__dict__,
        "sections": {},
    }
    for name, fn in SECTIONS.items():
        if only and name not in only:
            continue
        if progress:
            progress(f"gpu-check: {name}")
        started = time.perf_counter()
        try:
            result: dict[str, Any] = {"status": "measured", **fn(mode, sizes)}
        except SectionSkipped as exc:
            result = {"status": "skipped", "reason": str(exc)}
        except Exception as exc:  # recorded, and the run goes on to the next section
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        result["wall_s"] = round(time.perf_counter() - started, 3)
        record["sections"][name] = result
    names = [n for n in record["sections"]]
    record["device_name"] = record["sections"].get("bench", {}).get("device_name")
    record["failed"] = [n for n in names if record["sections"][n]["status"] == "failed"]
    return record


MD_BEGIN = "<!-- gpu-check: begin (written by scripts/gpu_check.sh; do not edit by hand) -->"
MD_END = "<!-- gpu-check: end -->"


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def render_markdown(record: dict) -> str:
    """The GPU section of RESULTS.md from one record: every figure as measured, skips with reasons."""
    sections = record["sections"]
    lines = [
        MD_BEGIN,
        f"## GPU: {record.get('device_name') or 'unknown device'} ({record['date']}, mode {record['mode']})",
        "",
        "Measured by `scripts/gpu_check.sh` in one run; the JSON is `results-gpu.json` beside this file.",
        "",
    ]
    for name, result in sections.items():
        if result["status"] != "measured":
            why = result.get("reason") or result.get("error")
            lines += [f"- **{name}**: {result['status']} ({why})", ""]
    bench = sections.get("bench", {})
    if bench.get("status") == "measured":
        lines += [
            "| precision | n | TFLOP/s | torch.matmul | vs matmul | peak | % of peak | W | J/TFLOP |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for g in bench["gemm"]:
            frac = None if g["fraction_of_peak"] is None else f"{100 * g['fraction_of_peak']:.1f}%"
            gap = None if g["vs_torch_matmul"] is None else f"{100 * g['vs_torch_matmul']:+.1f}%"
            row = [g["precision"], g["n"], g["tflops"], g["torch_matmul_tflops"], gap, g["peak_tflops"], frac]
            row += [g["mean_power_w"], g["joules_per_tflop"]]
            lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
        lines += [
            "",
            f"Copy bandwidth {_cell(bench['bandwidth_gb_s'])} GB/s (peak {_cell(bench['bandwidth_peak_gb_s'])})",
            "",
        ]
    for name in ("challenge", "inference"):
        result = sections.get(name, {})
        if result.get("status") == "measured":
            body = {k: v for k, v in result.items() if k not in ("status",)}
            lines += [f"**{name}**:", "", "```json", json.dumps(body, indent=2), "```", ""]
    lines.append(MD_END)
    return "\n".join(lines)


def write_results_md(path: Path, record: dict) -> None:
    """Replace the GPU section of ``path`` (between the markers), or append one."""
    from oracle.benchmarks.results_md import replace_section

    replace_section(path, render_markdown(record), MD_BEGIN, MD_END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oracle.benchmarks.gpu_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dry", action="store_true", help="CPU stand-in at small sizes (what CI runs)")
    parser.add_argument("--out", type=Path, help="write the JSON record here")
    parser.add_argument("--results-md", type=Path, help="replace the GPU section of this markdown file")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section")
    args = parser.parse_args(argv)
    record = run("dry" if args.dry else "gpu", args.only, progress=lambda s: print(s, file=sys.stderr))
    text = json.dumps(record, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.results_md:
        write_results_md(args.results_md, record)
    print(text)
    return 1 if record["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
