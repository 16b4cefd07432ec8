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
``inference``   the demo model through ONNX Runtime: items per second on the GPU provider vs the CPU,
                outputs compared under the documented tolerance.

``--dry`` (what CI runs, through ``tests/test_gpu_check.py``) takes every code path above with
sizes a 2-core CPU does in seconds and the CPU standing in for the device, so the script cannot rot
between GPU sessions; its output says ``"mode": "dry"`` and is never written over the GPU results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    "dry": Sizes(gemm_n=128, repeats=2, bandwidth_mib=8, challenge_n=128, inference_items=256),
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
    """The provider's side of a challenge split into its parts, and the validator's check."""
    from oracle import challenge as ch

    n = sizes.challenge_n
    seed, b_seed = os.urandom(32), os.urandom(32)
    a, derive_a_s = _timed(lambda: ch.derive_a(seed, n))
    b, derive_b_s = _timed(lambda: ch.derive_b(b_seed, n))
    c_cpu, gemm_cpu_s = _timed(lambda: ch.product(a, b))
    tree, commit_s = _timed(lambda: ch.MerkleTree.from_matrix(c_cpu))
    out: dict[str, Any] = {
        "n": n,
        "cpu": {
            "derive_s": round(derive_a_s + derive_b_s, 6),
            "gemm_s": round(gemm_cpu_s, 6),
            "commit_s": round(commit_s, 6),
        },
    }
    key, key_s = _timed(lambda: ch.ProjectionKey(b_seed, n))
    rows = sorted({int.from_bytes(os.urandom(4), "big") % n for _ in range(16)})
    challenge = ch.Challenge(seed=seed, n=n, precision="fp32", deadline_s=60.0, b_seed=b_seed)
    opened = {i: (c_cpu[i].tolist(), tree.proof(i)) for i in rows}
    verdict, check_s = _timed(lambda: ch.check_rows(challenge, tree.root, opened, rows, key=key))
    out["validator"] = {
        "projection_key_per_epoch_s": round(key_s, 6),
        "check_s": round(check_s, 6),
        "check_passed": bool(verdict.ok),
    }
    if mode != "gpu":
        out["device"] = "cpu (dry mode: the CPU path is the device path)"
        out["check_share_of_work"] = round(check_s / (derive_a_s + derive_b_s + gemm_cpu_s + commit_s), 6)
        return out
    torch = torch_cuda()
    dev = torch.device("cuda:0")
    a_d = torch.from_numpy(a).to(dev, dtype=torch.float32)
    b_d = torch.from_numpy(b).to(dev, dtype=torch.float32)
    torch.mm(a_d, b_d)
    torch.cuda.synchronize(dev)
    start_evt, end_evt = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start_evt.record()
    c_d = torch.mm(a_d, b_d)
    end_evt.record()
    end_evt.synchronize()
    gemm_gpu_s = start_evt.elapsed_time(end_evt) / 1000.0
    c_gpu = c_d.to(torch.int64).cpu().numpy().astype(c_cpu.dtype)
    gpu_tree, gpu_commit_s = _timed(lambda: ch.MerkleTree.from_matrix(c_gpu))
    work_s = derive_a_s + derive_b_s + gemm_gpu_s + gpu_commit_s
    out["gpu"] = {
        "gemm_s": round(gemm_gpu_s, 6),
        "commit_s": round(gpu_commit_s, 6),
        "commitment_identical_to_cpu": gpu_tree.root == tree.root,
        "share_of_provider_time_on_host": round((derive_a_s + derive_b_s + gpu_commit_s) / work_s, 4),
    }
    out["check_share_of_work"] = round(check_s / work_s, 6)
    return out


def section_inference(mode: str, sizes: Sizes) -> dict:
    """The demo model on ONNX Runtime: items/s on each available provider, outputs compared."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise SectionSkipped(f"onnxruntime is not installed ({exc})") from None
    providers = ort.get_available_providers()
    if mode == "gpu" and "CUDAExecutionProvider" not in providers:
        raise SectionSkipped(
            f"ONNX Runtime has no CUDA provider here (has {providers}); install onnxruntime-gpu"
        )
    raise SectionSkipped("the batch-job runtime (oracle.work) has not landed on this branch yet")


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
    text = path.read_text() if path.exists() else ""
    block = render_markdown(record)
    if MD_BEGIN in text and MD_END in text:
        head, rest = text.split(MD_BEGIN, 1)
        text = head + block + rest.split(MD_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


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
