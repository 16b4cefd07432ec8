"""The demo models, built by this repository: a digit classifier trained here with NumPy on
:mod:`oracle.work.digits` and exported with ``onnx.helper``, plus a ~100x costlier variant.

- ``digits`` (:data:`SMALL`): MLP 256 -> 64 (ReLU) -> 10, about 34 kFLOP per item, trained with
  Adam on 4000 generated samples (a few seconds on one core).
- ``digits-large`` (:data:`LARGE`): MLP 256 -> 1152 -> 1152 -> 10 (ReLU), about 3.3 MFLOP per
  item (96x): fixed random hidden layers (He-scaled) and a ridge-regression read-out, for
  benchmarks where the inference itself is long.

Both take ``x: float32 [N, 256]`` and give ``logits: float32 [N, 10]`` and
``label: int64 [N]`` (ArgMax of the logits). Opset 17, ``ir_version`` 9.

Deterministic bytes: the data is bit-identical (see :mod:`oracle.work.digits`), training runs in
float64 from PCG64 draws, and every weight is then rounded to 12 significant bits before the
float32 cast (exact), so the last-bit differences of another machine's BLAS vanish in the rounding;
the graph carries no timestamps or paths. Same code -> same file -> same SHA-256 = model NFT id.
Built files are cached in :func:`cache_dir` (``build/models`` in the checkout, git-ignored; or
``$COMPUTE_MODEL_CACHE``) by recipe version and re-used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from oracle.work.content import sha256
from oracle.work.digits import CLASSES, FEATURES, generate

OPSET = 17
IR_VERSION = 9
RECIPE = 1
"""Bump when the data, training or graph changes (the cache file name carries it)."""
SIGNIFICANT_BITS = 12
TRAIN_SEED, TEST_SEED = 1, 2
TRAIN_COUNT = 4000


@dataclass(frozen=True)
class Recipe:
    name: str
    hidden: tuple[int, ...]
    trained: bool  # Adam on every layer; else random hidden layers + ridge read-out


SMALL = Recipe("digits", (64,), True)
LARGE = Recipe("digits-large", (1152, 1152), False)
RECIPES = {r.name: r for r in (SMALL, LARGE)}


def cache_dir() -> Path:
    env = os.environ.get("COMPUTE_MODEL_CACHE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "build" / "models"
    return Path.home() / ".cache" / "compute-models"


def _quantise(w: np.ndarray) -> np.ndarray:
    """Round to :data:`SIGNIFICANT_BITS` significant bits, then cast to float32 (exact)."""
    mantissa, exponent = np.frexp(np.asarray(w, dtype=np.float64))
    return np.ldexp(np.round(mantissa * 2.0**SIGNIFICANT_BITS) / 2.0**SIGNIFICANT_BITS, exponent).astype(
        np.float32
    )


def _forward(params: list[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    acts = [x]
    for k in range(0, len(params) - 2, 2):
        acts.append(np.maximum(acts[-1] @ params[k] + params[k + 1], 0.0))
    return acts, acts[-1] @ params[-2] + params[-1]


def _train_adam(
    x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], rng: np.random.Generator
) -> list[np.ndarray]:
    sizes = [FEATURES, *hidden, CLASSES]
    params: list[np.ndarray] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        params += [rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)), np.zeros(b)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(CLASSES)[y]
    step, lr, batch = 0, 3e-3, 100
    for _epoch in range(12):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            acts, logits = _forward(params, x[idx])
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            delta = (p - onehot[idx]) / len(idx)
            grads: list[np.ndarray] = [np.empty(0)] * len(params)
            for k in range(len(params) - 2, -1, -2):
                grads[k], grads[k + 1] = acts[k // 2].T @ delta, delta.sum(axis=0)
                if k:
                    delta = (delta @ params[k].T) * (acts[k // 2] > 0)
            step += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh, vh = m[i] / (1 - 0.9**step), v[i] / (1 - 0.999**step)
                params[i] = params[i] - lr * mh / (np.sqrt(vh) + 1e-8)
    return params


def _random_features(
    x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], rng: np.random.Generator
) -> list[np.ndarray]:
    sizes = [FEATURES, *hidden]
    params: list[np.ndarray] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        params += [_quantise(rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b))).astype(np.float64), np.zeros(b)]
    h = x
    for k in range(0, len(params), 2):
        h = np.maximum(h @ params[k] + params[k + 1], 0.0)
    gram = h.T @ h
    gram += 1e-2 * np.trace(gram) / len(gram) * np.eye(len(gram))  # ridge, scaled to the features
    w = np.linalg.solve(gram, h.T @ (np.eye(CLASSES)[y] * 2.0 - 1.0))
    return [*params, w, np.zeros(CLASSES)]


def _graph(name: str, params: list[np.ndarray]) -> onnx.ModelProto:
    weights = [_quantise(p) for p in params]
    inits, nodes = [], []
    cur = "x"
    layers = len(weights) // 2
    for k in range(layers):
        w, b = f"w{k}", f"b{k}"
        inits += [numpy_helper.from_array(weights[2 * k], w), numpy_helper.from_array(weights[2 * k + 1], b)]
        out = "logits" if k == layers - 1 else f"h{k}"
        nodes += [
            helper.make_node("MatMul", [cur, w], [f"{out}_mm"]),
            helper.make_node("Add", [f"{out}_mm", b], [out if k == layers - 1 else f"{out}_pre"]),
        ]
        if k < layers - 1:
            nodes.append(helper.make_node("Relu", [f"{out}_pre"], [out]))
        cur = out
    nodes.append(helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES]),
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gpu-compute-oracle"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def build(recipe: Recipe) -> bytes:
    """Train (or fit) ``recipe`` and return its ONNX bytes (deterministic, see the module doc)."""
    x, y = generate(TRAIN_COUNT, TRAIN_SEED)
    rng = np.random.Generator(np.random.PCG64(1000 + len(recipe.hidden)))
    x64 = x.astype(np.float64)
    params = (
        _train_adam(x64, y, recipe.hidden, rng)
        if recipe.trained
        else _random_features(x64, y, recipe.hidden, rng)
    )
    return _graph(recipe.name, params).SerializeToString()


def model_bytes(name: str = SMALL.name) -> bytes:
    """The ONNX bytes of demo model ``name``, from the cache or built (and cached) now."""
    recipe = RECIPES.get(name)
    if recipe is None:
        raise KeyError(f"unknown demo model {name!r}; demo models are {', '.join(RECIPES)}")
    path = cache_dir() / f"{recipe.name}-r{RECIPE}.onnx"
    if path.is_file():
        return path.read_bytes()
    data = build(recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def model_id(name: str = SMALL.name) -> int:
    """The ModelNFT id of demo model ``name`` (uint256 of its SHA-256)."""
    return int.from_bytes(sha256(model_bytes(name)), "big")


def test_set(count: int = 360) -> tuple[np.ndarray, np.ndarray]:
    """Held-out samples (another seed than training) with their true labels."""
    return generate(count, TEST_SEED)
