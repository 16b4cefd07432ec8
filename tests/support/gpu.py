"""Tests that need a machine WITHOUT a GPU say so by injecting it, instead of assuming the test
machine has none: in a subprocess through :func:`no_gpu_env` (stand-ins for ``pynvml`` and
``torch`` first on ``PYTHONPATH``, no CUDA device visible), in process through :func:`no_gpu_nvml`.
On a GPU machine these tests then still check the no-GPU paths."""

from __future__ import annotations

import importlib.util
import os
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
