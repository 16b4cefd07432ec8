"""Published dense peaks of the GPUs the protocol knows (:data:`PEAKS`), looked up by NVML name.

A benchmark compares each measured figure with these; a validator attests a provider that
reports no benchmark with the peaks of its registered GPU model (still the same for every
validator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CardPeaks:
    """Published dense (no sparsity) peaks: TFLOP/s per precision and memory bandwidth in GB/s.
    fp64 is the tensor-core fp64 figure where the card has one (that is what GEMM uses)."""

    name: str
    tflops: dict[str, float]
    bandwidth_gb_s: float
    board_power_w: float | None = None
    """The card's published maximum board power (TDP / TGP) in watts."""


# Order matters: the first pattern that matches the NVML name wins (specific variants first).
PEAKS: list[tuple[str, CardPeaks]] = [
    (
        r"H100.*(PCIe|PCIE)",
        CardPeaks(
            "H100 PCIe",
            {"fp64": 51.2, "fp32": 51.2, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0},
            2000.0,
            350.0,
        ),
    ),
    (
        r"H100.*NVL",
        CardPeaks(
            "H100 NVL",
            {"fp64": 60.0, "fp32": 60.0, "tf32": 417.5, "fp16": 835.5, "bf16": 835.5},
            3900.0,
            400.0,
        ),
    ),
    (
        r"H100",
        CardPeaks(
            "H100 SXM",
            {"fp64": 66.9, "fp32": 66.9, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
            3350.0,
            700.0,
        ),
    ),
    (
        r"H200",
        CardPeaks(
            "H200 SXM",
            {"fp64": 66.9, "fp32": 66.9, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
            4800.0,
            700.0,
        ),
    ),
    (
        r"A100.*(PCIe|PCIE).*40GB|A100-PCIE-40GB",
        CardPeaks(
            "A100 PCIe 40GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
            1555.0,
            250.0,
        ),
    ),
    (
        r"A100.*(PCIe|PCIE)",
        CardPeaks(
            "A100 PCIe 80GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
            1935.0,
            300.0,
        ),
    ),
    (
        r"A100.*40GB",
        CardPeaks(
            "A100 SXM 40GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
            1555.0,
            400.0,
        ),
    ),
    (
        r"A100",
        CardPeaks(
            "A100 SXM 80GB",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
            2039.0,
            400.0,
        ),
    ),
    (
        r"L40S",
        CardPeaks(
            "L40S", {"fp64": 1.41, "fp32": 91.6, "tf32": 183.0, "fp16": 362.05, "bf16": 362.05}, 864.0, 350.0
        ),
    ),
    (
        r"RTX 4090",
        CardPeaks(
            "RTX 4090",
            {"fp64": 1.29, "fp32": 82.6, "tf32": 82.6, "fp16": 165.2, "bf16": 165.2},
            1008.0,
            450.0,
        ),
    ),
    (
        r"RTX 3090",
        CardPeaks(
            "RTX 3090", {"fp64": 0.56, "fp32": 35.6, "tf32": 35.6, "fp16": 71.0, "bf16": 71.0}, 936.0, 350.0
        ),
    ),
    (
        r"\bL4\b",
        CardPeaks(
            "L4", {"fp64": 0.47, "fp32": 30.3, "tf32": 60.0, "fp16": 121.0, "bf16": 121.0}, 300.0, 72.0
        ),
    ),
    (
        r"\bA10\b",
        CardPeaks(
            "A10", {"fp64": 0.98, "fp32": 31.2, "tf32": 62.5, "fp16": 125.0, "bf16": 125.0}, 600.0, 150.0
        ),
    ),
    (r"V100", CardPeaks("V100 SXM2", {"fp64": 7.8, "fp32": 15.7, "fp16": 125.0}, 900.0, 300.0)),
    (r"\bT4\b", CardPeaks("T4", {"fp64": 0.25, "fp32": 8.1, "fp16": 65.0}, 320.0, 70.0)),
]


def lookup_peaks(device_name: str) -> CardPeaks | None:
    """Published peaks for a card named like NVML names it, or ``None`` (peak unknown)."""
    for pattern, peaks in PEAKS:
        if re.search(pattern, device_name, re.IGNORECASE):
            return peaks
    return None
