"""Tests that need a machine WITHOUT a GPU say so by injecting it, instead of assuming the test
machine has none: in a subprocess through :func:`no_gpu_env` (stand-ins for ``pynvml`` and
``torch`` first on ``PYTHONPATH``, no CUDA device visible), in process through :func:`no_gpu_nvml`.
On a GPU machine these tests then still check the no-GPU paths."""

from __future__ import annotations

import importlib.util
import os
import types
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

NO_GPU_SITE = Path(__file__).with_name("no_gpu_site")


def no_gpu_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) as a machine without NVIDIA driver, PyTorch or CUDA device."""
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(NO_GPU_SITE), out.get("PYTHONPATH", "")) if p)
    out["CUDA_VISIBLE_DEVICES"] = ""
    return out


def no_gpu_nvml() -> ModuleType:
    """The stand-in ``pynvml`` of a machine without an NVIDIA driver, for ``collect(nvml=...)``."""
    spec = importlib.util.spec_from_file_location("no_gpu_pynvml", NO_GPU_SITE / "pynvml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_nvml(
    count=2, init_error=None, unsupported=(), temperature=34, slowdown=87, reasons=0x1, ecc_uncorrected=0
):
    """A stand-in for pynvml on a machine with ``count`` H100s (only the GPU is fake): ``reasons``
    is the clock-event (throttle) bit mask, 0x1 an idle card."""
    m = types.SimpleNamespace()
    m.NVMLError = type("NVMLError", (Exception,), {})
    m.NVMLError_NotSupported = type("NVMLError_NotSupported", (m.NVMLError,), {})
    m.NVMLError_LibraryNotFound = type("NVMLError_LibraryNotFound", (m.NVMLError,), {})
    m.NVMLError_DriverNotLoaded = type("NVMLError_DriverNotLoaded", (m.NVMLError,), {})
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU = 1, 2, 0
    m.NVML_MEMORY_ERROR_TYPE_CORRECTED, m.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, m.NVML_VOLATILE_ECC = 0, 1, 0
    m.shutdowns = 0

    def maybe(name, value):
        def fn(*args):
            if name in unsupported:
                raise m.NVMLError_NotSupported("Not Supported")
            return value(*args) if callable(value) else value

        return fn

    def init():
        if init_error:
            raise getattr(m, init_error)("boom")

    def shutdown():
        m.shutdowns += 1

    m.nvmlInit, m.nvmlShutdown = init, shutdown
    m.nvmlDeviceGetCount = lambda: count
    m.nvmlSystemGetDriverVersion = maybe("driver", "550.54.15")
    m.nvmlSystemGetCudaDriverVersion = maybe("cuda", 12040)
    m.nvmlDeviceGetHandleByIndex = lambda i: ("handle", i)
    m.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3"  # older bindings return bytes
    m.nvmlDeviceGetUUID = lambda h: f"GPU-0000000{h[1]}-aaaa-bbbb-cccc-dddddddddddd"
    m.nvmlDeviceGetMemoryInfo = maybe("memory", types.SimpleNamespace(total=85520809984, used=0, free=0))
    m.nvmlDeviceGetCudaComputeCapability = maybe("cc", (9, 0))
    m.nvmlDeviceGetPowerManagementLimit = maybe("power_limit", 700000)
    m.nvmlDeviceGetPowerUsage = maybe("power", 71234)
    m.nvmlDeviceGetClockInfo = maybe("clock", lambda h, kind: {1: 1980, 2: 2619}[kind])
    m.nvmlDeviceGetMaxClockInfo = maybe("max_clock", lambda h, kind: {1: 1980, 2: 2619}[kind])
    m.nvmlDeviceGetTemperature = maybe("temperature", temperature)
    m.nvmlDeviceGetTotalEccErrors = maybe("ecc", lambda h, kind, counter: 5 if kind == 0 else ecc_uncorrected)
    m.nvmlDeviceGetTemperatureThreshold = maybe("threshold", lambda h, kind: slowdown)
    m.nvmlDeviceGetCurrentClocksThrottleReasons = maybe("reasons", reasons)
    return m


class MeterNvml:
    """A stand-in pynvml with just what the energy meter calls (the energy counter in mJ, None:
    not supported; the power reading) -- :func:`fake_nvml` is the one for inventories."""

    class NVMLError(Exception):
        pass

    def __init__(
        self, counter_steps: list[int] | None = None, power_mw: int = 300_000, init_fails: bool = False
    ):
        self.steps = list(counter_steps) if counter_steps is not None else None
        self.power_mw = power_mw
        self.init_fails = init_fails

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's name
        if self.init_fails:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        return f"gpu{index}"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:  # noqa: N802
        if self.steps is None:
            raise self.NVMLError("Not Supported")
        return self.steps.pop(0)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:  # noqa: N802
        return self.power_mw
