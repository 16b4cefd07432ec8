"""Throughput benchmarks: dense matrix products per precision, memory bandwidth, work per joule.

GPU (PyTorch, imported lazily; ``BenchUnavailable`` when it or CUDA is absent): for each precision
(fp64, fp32, tf32, fp16, bf16) ``torch.mm(a, b, out=c)`` after ``warmup`` untimed runs, ``repeats``
samples timed on the device with CUDA events (each sample runs enough products to last about
0.1 s), the MEDIAN sample is reported; a reference run of plain ``torch.matmul`` timed with the
host clock (``cuda.synchronize``) is reported beside it. Device memory bandwidth is a device copy
(``dst.copy_(src)``, read + write bytes). While the products run, a thread samples NVML board
power; ``gflops_per_joule = FLOPs done / (mean power * time)``.

CPU (NumPy): float64 and float32 GEMM and a ``numpy.copyto`` bandwidth test, median of repeats.

Each figure is compared with the card's published dense peak (:data:`oracle.peaks.PEAKS`); an unknown card or
a CPU says "peak unknown".

The score of a report is :func:`oracle.score.score_of` over the figures as stored in the report
(rounded to 0.001); see :meth:`BenchReport.gflops`.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from oracle.energy import EnergyMeter, PowerSampler, gflops_per_watt
from oracle.errors import OracleError
from oracle.peaks import lookup_peaks
from oracle.score import score_of

GPU_PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16")
CPU_PRECISIONS = ("fp64", "fp32")


class BenchUnavailable(OracleError, RuntimeError):
    """The requested benchmark cannot run here (e.g. no PyTorch or no CUDA device)."""


@dataclass
class GemmResult:
    precision: str
    n: int
    repeats: int
    median_s: float
    """Median time of ONE n x n x n product."""
    tflops: float
    peak_tflops: float | None = None
    fraction_of_peak: float | None = None
    reference_tflops: float | None = None
    """Plain ``torch.matmul`` timed with the host clock (GPU only)."""
    mean_power_w: float | None = None
    gflops_per_joule: float | None = None


@dataclass
class BandwidthResult:
    bytes_moved: int
    median_s: float
    gb_s: float
    peak_gb_s: float | None = None
    fraction_of_peak: float | None = None


@dataclass
class BenchReport:
    device: str
    """``"cuda:0"`` or ``"cpu"``."""
    device_name: str
    peak_source: str
    """Which row of :data:`oracle.peaks.PEAKS` was used, or ``"peak unknown"``."""
    gemm: list[GemmResult]
    bandwidth: BandwidthResult | None
    score: int
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    perf_per_watt: dict[str, float] = field(default_factory=dict)
    """GFLOP/s per W (= GFLOP per joule) per precision, see :mod:`oracle.energy`."""
    perf_per_watt_source: str = "none"
    """``"nvml-power-samples"`` (GPU), ``"cpu-estimate"`` (an estimate) or ``"none"``."""

    def figure(self, precision: str) -> GemmResult | None:
        return next((g for g in self.gemm if g.precision == precision), None)

    def flops(self, precision: str) -> float | None:
        """Measured FLOP/s at ``precision`` (the ``claimed_flops`` of :func:`oracle.challenge.deadline_for`),
        or ``None`` when that precision was not measured."""
        figure = self.figure(precision)
        return None if figure is None else figure.tflops * 1e12

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def to_dict(self) -> dict:
        return asdict(self)

    def gflops(self) -> dict[str, float]:
        """GFLOP/s per measured precision, as stored (the input of :func:`oracle.score.score_of`)."""
        return {g.precision: g.tflops * 1000.0 for g in self.gemm}

    def bandwidth_gb_s(self) -> float | None:
        return self.bandwidth.gb_s if self.bandwidth else None


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def _compare(value: float, peak: float | None) -> float | None:
    return None if not peak else _round(value / peak, 4)


def _median_time(fn: Callable[[], Any], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


# --------------------------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------------------------


def bench_cpu(
    n: int = 1024,
    repeats: int = 5,
    warmup: int = 1,
    bandwidth_mib: int = 256,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """NumPy GEMM (float64, float32) and copy bandwidth on the CPU; medians of ``repeats``."""
    from oracle.inventory import collect_cpu

    cpu = collect_cpu()
    rng = np.random.default_rng(0)
    results = []
    perf_w: dict[str, float] = {}
    for precision, dtype in (("fp64", np.float64), ("fp32", np.float32)):
        if progress:
            progress(f"CPU GEMM {precision} n={n}")
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        out = np.empty((n, n), dtype=dtype)
        with EnergyMeter(nvml=False) as meter:
            median = _median_time(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats, warmup)
        estimate = gflops_per_watt(2.0 * n**3 / median / 1e12, meter.reading().mean_watts)
        if estimate is not None:
            perf_w[precision] = round(estimate, 3)
        results.append(
            GemmResult(
                precision=precision,
                n=n,
                repeats=repeats,
                median_s=_round(median, 6),
                tflops=_round(2.0 * n**3 / median / 1e12, 6),
            )
        )
    if progress:
        progress(f"CPU copy bandwidth {bandwidth_mib} MiB")
    src = np.ones(bandwidth_mib * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    median = _median_time(lambda: np.copyto(dst, src), repeats, warmup)
    moved = 2 * src.nbytes
    bandwidth = BandwidthResult(
        bytes_moved=moved, median_s=_round(median, 6), gb_s=_round(moved / median / 1e9)
    )
    report = BenchReport(
        device="cpu",
        device_name=f"{cpu.model} ({cpu.logical_cores} logical cores, {cpu.blas})",
        peak_source="peak unknown",
        gemm=results,
        bandwidth=bandwidth,
        score=0,
        skipped=[f"{p}: GPU only" for p in GPU_PRECISIONS if p not in CPU_PRECISIONS],
        perf_per_watt=perf_w,
        perf_per_watt_source="cpu-estimate" if perf_w else "none",
    )
    if perf_w:
        report.notes.append(
            "perf_per_watt is an ESTIMATE on CPU: process CPU time x an assumed W per busy core (oracle.energy)"
        )
    report.score = score_of(report.gflops(), report.bandwidth_gb_s())
    return report


# --------------------------------------------------------------------------------------------
# GPU
# --------------------------------------------------------------------------------------------


def work_per_joule(flops: float, seconds: float, mean_power_w: float | None) -> float | None:
    """GFLOP per joule: ``flops / (mean_power_w * seconds) / 1e9`` (None without a power figure)."""
    if not mean_power_w or seconds <= 0:
        return None
    return flops / (mean_power_w * seconds) / 1e9


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BenchUnavailable("PyTorch is not installed: the GPU benchmark needs torch with CUDA") from None
    if not torch.cuda.is_available():
        raise BenchUnavailable(
            "PyTorch sees no CUDA device: the GPU benchmark needs an NVIDIA GPU and driver"
        )
    return torch


def _nvml_handle(device_index: int, nvml: Any = None) -> tuple[Any, Any]:
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
        return nvml, nvml.nvmlDeviceGetHandleByIndex(device_index)
    except Exception:  # no NVML: benchmark without power figures
        return None, None


def bench_gpu(
    n: int = 8192,
    repeats: int = 10,
    warmup: int = 3,
    precisions: tuple[str, ...] = GPU_PRECISIONS,
    device_index: int = 0,
    bandwidth_mib: int = 1024,
    sample_target_s: float = 0.1,
    nvml: Any = None,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """GPU benchmark with PyTorch (see module doc). Raises :class:`BenchUnavailable` without CUDA."""
    torch = _import_torch()
    dev = torch.device(f"cuda:{device_index}")
    name = torch.cuda.get_device_name(dev)
    peaks = lookup_peaks(name)
    nvml, handle = _nvml_handle(device_index, nvml)
    dtypes = {
        "fp64": torch.float64,
        "fp32": torch.float32,
        "tf32": torch.float32,
        "fp16": torch.float16,
        "bf16": torch.bfloat16,
    }
    results, skipped, notes = [], [], []
    flops = 2.0 * n**3
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        for precision in precisions:
            if progress:
                progress(f"GPU GEMM {precision} n={n}")
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            try:
                a = torch.randn((n, n), device=dev, dtype=dtypes[precision])
                b = torch.randn((n, n), device=dev, dtype=dtypes[precision])
                c = torch.empty((n, n), device=dev, dtype=dtypes[precision])
            except (RuntimeError, TypeError) as exc:
                skipped.append(f"{precision}: {exc}")
                continue
            for _ in range(warmup):
                torch.mm(a, b, out=c)
            torch.cuda.synchronize(dev)
            # Calibrate: enough products per timed sample to last ~sample_target_s.
            started = time.perf_counter()
            torch.mm(a, b, out=c)
            torch.cuda.synchronize(dev)
            inner = max(1, int(sample_target_s / max(1e-6, time.perf_counter() - started)))
            samples = []
            sampler = PowerSampler(nvml, handle) if handle is not None else None
            with sampler if sampler is not None else contextlib.nullcontext():
                for _ in range(repeats):
                    start_evt = torch.cuda.Event(enable_timing=True)
                    end_evt = torch.cuda.Event(enable_timing=True)
                    start_evt.record()
                    for _ in range(inner):
                        torch.mm(a, b, out=c)
                    end_evt.record()
                    end_evt.synchronize()
                    samples.append(start_evt.elapsed_time(end_evt) / 1000.0 / inner)
            median = statistics.median(samples)

            def reference(a=a, b=b) -> None:
                torch.matmul(a, b)
                torch.cuda.synchronize(dev)

            ref_median = _median_time(reference, max(3, repeats // 2), 1)
            tflops = flops / median / 1e12
            mean_w = sampler.mean_w if sampler is not None else None
            peak = peaks.tflops.get(precision) if peaks else None
            results.append(
                GemmResult(
                    precision=precision,
                    n=n,
                    repeats=repeats,
                    median_s=_round(median, 9),
                    tflops=_round(tflops),
                    peak_tflops=peak,
                    fraction_of_peak=_compare(tflops, peak),
                    reference_tflops=_round(flops / ref_median / 1e12),
                    mean_power_w=_round(mean_w, 1),
                    gflops_per_joule=_round(
                        work_per_joule(flops * inner * repeats, sum(samples) * inner, mean_w)
                    ),
                )
            )
            del a, b, c
            torch.cuda.empty_cache()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous_tf32
    if progress:
        progress(f"GPU copy bandwidth {bandwidth_mib} MiB")
    src = torch.ones(bandwidth_mib * 2**20 // 4, device=dev, dtype=torch.float32)
    dst = torch.empty_like(src)
    for _ in range(warmup):
        dst.copy_(src)
    copy_samples = []
    for _ in range(repeats):
        start_evt, end_evt = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start_evt.record()
        dst.copy_(src)
        end_evt.record()
        end_evt.synchronize()
        copy_samples.append(start_evt.elapsed_time(end_evt) / 1000.0)
    moved = 2 * src.numel() * src.element_size()
    median = statistics.median(copy_samples)
    gb_s = moved / median / 1e9
    peak_bw = peaks.bandwidth_gb_s if peaks else None
    bandwidth = BandwidthResult(moved, _round(median, 9), _round(gb_s), peak_bw, _compare(gb_s, peak_bw))
    if handle is None:
        notes.append("NVML unavailable: no power figures")
    report = BenchReport(
        device=f"cuda:{device_index}",
        device_name=name,
        peak_source=peaks.name if peaks else "peak unknown",
        gemm=results,
        bandwidth=bandwidth,
        score=0,
        skipped=skipped,
        notes=notes,
        perf_per_watt={g.precision: g.gflops_per_joule for g in results if g.gflops_per_joule is not None},
    )
    if report.perf_per_watt:
        report.perf_per_watt_source = "nvml-power-samples"
    report.score = score_of(report.gflops(), report.bandwidth_gb_s())
    return report


def run_bench(
    device: str = "auto", n: int | None = None, repeats: int | None = None, **kwargs: Any
) -> BenchReport:
    """``device="gpu"``: :func:`bench_gpu`; ``"cpu"``: :func:`bench_cpu`; ``"auto"``: GPU when
    available, else the CPU with a note saying why the GPU path was skipped."""
    progress = kwargs.pop("progress", None)
    if device in ("gpu", "auto"):
        try:
            return bench_gpu(n=n or 8192, repeats=repeats or 10, progress=progress, **kwargs)
        except BenchUnavailable as exc:
            if device == "gpu":
                raise
            report = bench_cpu(n=n or 1024, repeats=repeats or 5, progress=progress)
            report.notes.append(f"GPU benchmark skipped: {exc}")
            return report
    if device == "cpu":
        return bench_cpu(n=n or 1024, repeats=repeats or 5, progress=progress)
    raise BenchUnavailable(f"unknown device {device!r}: use auto, gpu or cpu")
