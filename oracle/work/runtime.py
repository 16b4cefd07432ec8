"""The model runtime: an ONNX file checked and run by ONNX Runtime.

- Loading (:meth:`OnnxModel.from_bytes` / :meth:`OnnxModel.from_path`): the bytes must parse as an
  ONNX ``ModelProto`` and pass ``onnx.checker`` (full check), else :class:`ModelError`.
- Execution providers (:func:`select_providers`): ``CUDAExecutionProvider`` when the installed
  ONNX Runtime has it (the ``onnxruntime-gpu`` wheel on a GPU machine) and ``device`` allows it,
  always with ``CPUExecutionProvider`` behind it; never required. TF32 is switched off on CUDA
  (``use_tf32=0``) so fp32 outputs stay inside the float tolerance of :mod:`oracle.work.equality`.
- Inputs are validated before running (name, dtype without silent casts, rank, static dims) with
  :class:`InputError`; a batch is run in chunks of ``batch_size`` items (one session call each:
  per-call overhead dominates small models, so callers batch rather than loop over items).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from oracle.work.content import sha256
from oracle.work.errors import InputError, ModelError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_BATCH = 4096

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def select_providers(device: str = "auto") -> list[str | tuple[str, dict[str, str]]]:
    """Execution providers for ``device``: ``auto`` takes CUDA when available, ``cpu`` never,
    ``cuda`` insists (a :class:`ModelError` says how to get it when it is missing)."""
    if device not in DEVICES:
        raise ModelError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    has_cuda = CUDA in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise ModelError(
            "ONNX Runtime has no CUDA provider here: install onnxruntime-gpu (in place of onnxruntime) "
            "on a machine with an NVIDIA GPU, or use --device cpu"
        )
    if has_cuda and device in ("auto", "cuda"):
        return [(CUDA, {"use_tf32": "0"}), CPU]
    return [CPU]


def check_onnx(data: bytes) -> onnx.ModelProto:
    """Parse and check ONNX bytes; :class:`ModelError` when they are not a valid ONNX model."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise ModelError("the model file is empty: give the bytes of an .onnx file")
    try:
        proto = onnx.load_model_from_string(bytes(data))
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"the model file is not ONNX (protobuf decoding failed: {exc})") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelError("the model file is not ONNX (it decodes to an empty model with no graph)")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise ModelError(f"the ONNX model fails onnx.checker: {first}") from None
    return proto


def opset_of(proto: onnx.ModelProto) -> int:
    """The model's default-domain opset."""
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def flops_per_item(proto: onnx.ModelProto) -> int:
    """Arithmetic per item: 2 K N for every MatMul/Gemm with a constant [K, N] weight, plus one per
    element of every other node's constant operands (bias adds). Enough for the MLPs jobs run
    here and a lower bound for other graphs; never below 1."""
    weights = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    total = 0
    for node in proto.graph.node:
        shapes = [weights[n] for n in node.input if n in weights]
        if node.op_type in ("MatMul", "Gemm") and shapes and len(shapes[0]) == 2:
            total += 2 * shapes[0][0] * shapes[0][1]
        else:
            total += sum(math.prod(s) for s in shapes)
    return max(total, 1)


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, dtype name, shape (``None`` for a dynamic dimension)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def item_shape(self) -> tuple[int | None, ...]:
        return self.shape[1:]


def _info(arg: ort.NodeArg) -> TensorInfo:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise ModelError(
            f"model tensor {arg.name!r} has type {arg.type}; jobs support {', '.join(_ORT_TYPES)}"
        )
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    if not shape:
        raise ModelError(f"model tensor {arg.name!r} is a scalar; a batch model has a leading item axis")
    return TensorInfo(arg.name, dtype, shape)


class OnnxModel:
    """A checked ONNX model with an ONNX Runtime session."""

    def __init__(self, data: bytes, device: str = "auto", threads: int | None = None, spinning: bool = True):
        """``spinning=False``: ONNX Runtime's intra-op threads sleep instead of spinning between
        runs -- for batch work, whose CPU is wanted by the hashing that overlaps the next run
        (the job agent); the default keeps ONNX Runtime's low-latency spinning (paid requests)."""
        self.proto = check_onnx(data)
        self.data = bytes(data)
        self.digest = sha256(self.data)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                self.data, sess_options=options, providers=select_providers(device)
            )
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:  # type: ignore[attr-defined]
            raise ModelError(
                f"ONNX Runtime cannot load the model: {str(exc).splitlines()[0][:300]}"
            ) from None
        self.inputs = [_info(a) for a in self.session.get_inputs()]
        self.outputs = [_info(a) for a in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "auto", threads: int | None = None) -> OnnxModel:
        return cls(data, device, threads)

    @classmethod
    def from_path(cls, path: str | Path, device: str = "auto", threads: int | None = None) -> OnnxModel:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read the model file {p}: {exc.strerror}") from None
        return cls(data, device, threads)

    @property
    def model_id(self) -> int:
        return int.from_bytes(self.digest, "big")

    @property
    def opset(self) -> int:
        return opset_of(self.proto)

    @property
    def flops_per_item(self) -> int:
        return flops_per_item(self.proto)

    @property
    def device(self) -> str:
        return "cuda" if self.providers and self.providers[0] == CUDA else "cpu"

    def input_info(self) -> TensorInfo:
        if len(self.inputs) != 1:
            raise ModelError(f"a batch job's model has one input, this one has {len(self.inputs)}")
        return self.inputs[0]

    def validate(self, x: np.ndarray, name: str | None = None) -> None:
        """:class:`InputError` unless ``x`` is a batch the model takes as it is."""
        info = self.input_info()
        if name is not None and name != info.name:
            raise InputError(f"the model's input is named {info.name!r}, not {name!r}")
        if not isinstance(x, np.ndarray):
            raise InputError(f"inputs must be a NumPy array, got {type(x).__name__}")
        if x.dtype != np.dtype(info.dtype):
            raise InputError(f"input {info.name!r} must be {info.dtype}, got {x.dtype} (convert it first)")
        if x.ndim != len(info.shape):
            raise InputError(
                f"input {info.name!r} must have shape [items, {', '.join(str(d or '?') for d in info.item_shape)}], "
                f"got {list(x.shape)}"
            )
        for axis, (want, got) in enumerate(zip(info.shape, x.shape, strict=True)):
            if want is not None and axis > 0 and want != got:
                raise InputError(
                    f"input {info.name!r} axis {axis} must be {want}, got {got} (shape {list(x.shape)})"
                )
        if x.shape[0] == 0:
            raise InputError("a batch has at least one item")

    def run(
        self, x: np.ndarray, batch_size: int = DEFAULT_BATCH, names: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """Run the model on every item of ``x`` (validated first), ``batch_size`` items per call;
        the outputs named ``names`` (default: all, in the model's order), each ``[items, ...]``."""
        self.validate(x)
        wanted = list(names) if names is not None else [o.name for o in self.outputs]
        unknown = [n for n in wanted if n not in {o.name for o in self.outputs}]
        if unknown:
            raise InputError(
                f"the model has no output {unknown[0]!r} (it has {[o.name for o in self.outputs]})"
            )
        name = self.inputs[0].name
        x = np.ascontiguousarray(x)
        chunks = [
            self.session.run(wanted, {name: x[i : i + batch_size]})
            for i in range(0, x.shape[0], max(batch_size, 1))
        ]
        return [np.concatenate([c[k] for c in chunks], axis=0) for k in range(len(wanted))]


def initializers(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The model's constant tensors by name (for a NumPy reference run)."""
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
