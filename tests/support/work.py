"""Helpers shared by the real-work tests: the demo model (built once, cached in build/models) and
a manifest for it over held-out digits."""

from __future__ import annotations

import functools

import numpy as np

from oracle.work import demo_model
from oracle.work.job import build_manifest, input_bytes
from oracle.work.manifest import Manifest
from oracle.work.runtime import OnnxModel

DEADLINE = 2_000_000_000


@functools.cache
def demo_bytes() -> bytes:
    return demo_model.model_bytes(demo_model.SMALL.name)


@functools.cache
def demo_onnx() -> OnnxModel:
    return OnnxModel(demo_bytes(), device="cpu")


@functools.cache
def digits(count: int = 360) -> tuple[np.ndarray, np.ndarray]:
    return demo_model.test_set(count)


def demo_manifest(count: int = 360, **kwargs) -> tuple[Manifest, bytes]:
    x, _ = digits(count)
    return build_manifest(demo_onnx(), x, DEADLINE, **kwargs), input_bytes(x)
