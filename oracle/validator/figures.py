"""The figures a validator attests for a node: what the provider reports from its benchmark, or
the published peaks of its registered GPU model when it reports none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oracle.peaks import lookup_peaks

ATTESTED_PRECISIONS = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class Figures:
    """What the provider reports from its benchmark (TFLOPS per precision, GB/s, W)."""

    fp32: float
    tf32: float
    fp16: float
    bf16: float
    mem_bandwidth_gbps: float
    power_w: float

    def to_json(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}

    def gflops(self) -> dict[str, float]:
        """GFLOP/s per attested precision (fp64 is not attested): the input of the score."""
        return {p: getattr(self, p) * 1000 for p in ATTESTED_PRECISIONS}


def published_figures(gpu_model: str) -> Figures:
    """The published dense peaks of a GPU model (:data:`oracle.peaks.PEAKS`), zeros when unknown."""
    peaks = lookup_peaks(gpu_model)
    if peaks is None:
        return Figures(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t = peaks.tflops
    return Figures(
        t.get("fp32", 0.0),
        t.get("tf32", 0.0),
        t.get("fp16", 0.0),
        t.get("bf16", 0.0),
        peaks.bandwidth_gb_s or 0.0,
        0.0,
    )


def figures_from_benchmark(bench: Any) -> Figures | None:
    """Figures from a provider's benchmark report: an :class:`oracle.bench.BenchReport` dict
    (``gemm`` list, ``bandwidth.gb_s``, power = the highest mean GEMM power), or the compact
    ``{"tflops": {"fp32": .., "tf32": .., "fp16": .., "bf16": ..}, "mem_bandwidth_gbps": ..,
    "power_w": ..}`` (missing = 0; flat ``fp32_tflops``-style keys are accepted too)."""
    if not isinstance(bench, dict) or not bench:
        return None
    if isinstance(bench.get("gemm"), list):  # an oracle.bench BenchReport (to_dict)
        gemm = [g for g in bench["gemm"] if isinstance(g, dict)]
        powers = [g["mean_power_w"] for g in gemm if isinstance(g.get("mean_power_w"), int | float)]
        bw = bench.get("bandwidth") if isinstance(bench.get("bandwidth"), dict) else {}
        bench = {
            "tflops": {g.get("precision"): g.get("tflops") for g in gemm},
            "mem_bandwidth_gbps": bw.get("gb_s", 0),
            "power_w": max(powers) if powers else 0,
        }
    tf = dict(bench.get("tflops", {})) if isinstance(bench.get("tflops"), dict) else {}
    for prec in ATTESTED_PRECISIONS:
        if prec not in tf and f"{prec}_tflops" in bench:
            tf[prec] = bench[f"{prec}_tflops"]

    def num(v: Any) -> float:
        try:
            return max(0.0, float(v))
        except (TypeError, ValueError):
            return 0.0

    return Figures(
        fp32=num(tf.get("fp32")),
        tf32=num(tf.get("tf32")),
        fp16=num(tf.get("fp16")),
        bf16=num(tf.get("bf16")),
        mem_bandwidth_gbps=num(bench.get("mem_bandwidth_gbps")),
        power_w=num(bench.get("power_w")),
    )


def attestable_power(reported_w: float, gpu_model: str, proven_tflops: dict[str, float]) -> float:
    """The board power attested with a node's proven figures (the page's perf/W is fp32 / this).

    Power is reported, not proven: the provider's NVML reading during its own GEMM benchmark.
    So it is bounded by what the card can be: at most its published board power, and at least the
    power its proven load needs at the card's published peak efficiency (``board power x proven /
    peak``, the largest such share over the proven precisions). A provider understating its power
    to look efficient is attested at that floor -- never more efficient than its spec sheet -- and
    one that overstates it only hurts itself. Every validator reads the same benchmark and proves
    the same figures, so they sign the same number. 0 (no reading) for a CPU, a card whose board
    power is not published, or no reading at all."""
    peaks = lookup_peaks(gpu_model)
    if peaks is None or not peaks.board_power_w or not reported_w or not reported_w > 0:
        return 0.0
    load = max(
        (min(1.0, proven_tflops.get(p, 0.0) / peaks.tflops[p]) for p in proven_tflops if peaks.tflops.get(p)),
        default=0.0,
    )
    return float(round(min(peaks.board_power_w, max(float(reported_w), peaks.board_power_w * load))))
