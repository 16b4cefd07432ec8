"""What ``GET /health`` says about the GPUs: temperature, ECC errors and why clocks are held
down, read through NVML (:func:`oracle.inventory.collect_gpus`) and cached for a few seconds, so
an operator's monitor (or a validator) sees a hot, throttling or failing card before a challenge
does. A machine without a GPU says so in one line; nothing here fails a request.

A GPU is ``degraded`` when it has uncorrected ECC errors, runs at or above its slowdown
temperature, or its clocks are held down by a hardware or thermal reason (power-cap and idle
reasons are normal operation and only listed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from oracle.inventory import GpuInfo, collect_gpus

CLOCK_EVENT_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
"""NVML's clock event (throttle) reason bits and their names."""
DEGRADING = {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
"""Reasons that mean the card is slower than it should be for a reason other than its load."""


def reason_names(mask: int | None) -> list[str]:
    if not mask:
        return []
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    return names + ([f"other_0x{unknown:x}"] if unknown else [])


def gpu_report(gpu: GpuInfo) -> dict[str, Any]:
    """One GPU's health: its readings, the reasons its clocks are down, and its problems."""
    reasons = reason_names(gpu.clock_event_reasons)
    problems = []
    if gpu.ecc_uncorrected:
        problems.append(f"{gpu.ecc_uncorrected} uncorrected ECC error(s) since the driver loaded")
    if (
        gpu.temperature_c is not None
        and gpu.temperature_slowdown_c
        and gpu.temperature_c >= gpu.temperature_slowdown_c
    ):
        problems.append(
            f"{gpu.temperature_c} C, at or above its slowdown temperature {gpu.temperature_slowdown_c} C"
        )
    slowed = [r for r in reasons if r in DEGRADING]
    if slowed:
        problems.append("clocks held down: " + ", ".join(slowed))
    return {
        "index": gpu.index,
        "uuid": gpu.uuid,
        "name": gpu.name,
        "temperature_c": gpu.temperature_c,
        "temperature_slowdown_c": gpu.temperature_slowdown_c,
        "ecc_corrected": gpu.ecc_corrected,
        "ecc_uncorrected": gpu.ecc_uncorrected,
        "clock_event_reasons": reasons,
        "sm_clock_mhz": gpu.sm_clock_mhz,
        "sm_clock_max_mhz": gpu.sm_clock_max_mhz,
        "power_draw_w": gpu.power_draw_w,
        "status": "degraded" if problems else "ok",
        "problems": problems,
    }


class GpuHealth:
    """``report()``: the GPUs' health, read at most every ``ttl_s`` seconds (NVML reads take
    milliseconds; a monitor may poll /health often)."""

    def __init__(self, nvml: Any = None, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.nvml, self.ttl_s, self.clock = nvml, ttl_s, clock
        self._lock = threading.Lock()
        self._at: float | None = None
        self._report: dict[str, Any] = {}

    def report(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.ttl_s:
                self._report, self._at = self._read(), now
            return self._report

    def _read(self) -> dict[str, Any]:
        gpus, status = collect_gpus(self.nvml)
        if not gpus:
            return {"status": "no GPU", "detail": status, "gpus": []}
        reports = [gpu_report(g) for g in gpus]
        degraded = any(r["status"] != "ok" for r in reports)
        return {"status": "degraded" if degraded else "ok", "detail": status, "gpus": reports}
