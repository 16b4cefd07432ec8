"""The job manifest: canonical JSON whose SHA-256 is the ``specHash`` a job is posted with.

Canonical form: UTF-8 JSON, keys sorted, no whitespace (``separators=(",", ":")``), no floats
anywhere (tolerances are decimal strings, see :mod:`oracle.work.equality`), at most
:data:`MAX_MANIFEST_BYTES`. ``specHash = sha256(canonical bytes)`` -- SHA-256, like every other
address of a job (the model id, the input and output files, the item trees), so the manifest is
itself a blob: any blob endpoint serves it at ``/blobs/<specHash>`` and an IPFS gateway under its
CID. A fetched manifest must be canonical (re-encoding gives the same bytes), so two different byte
strings never mean the same job.

Schema, version 1 (every field required unless marked)::

    {"version": 1, "kind": "onnx-batch",
     "model":   {"sha256": "0x..", "cid": "b..", "size": N, "urls": [...]},   # sha256 = ModelNFT id
     "runtime": {"format": "onnx", "opset": 17},                             # highest opset used
     "inputs":  {"name": "x", "dtype": "float32", "item_shape": [256], "count": 360,
                 "root": "0x..",                                             # item Merkle root
                 "blob": {"sha256", "cid", "size", "urls"}},                  # [count, *item_shape]
     "outputs": [{"name": "label", "dtype": "int64", "item_shape": [], "equality": {"rule": "exact"}},
                 {"name": "logits", "dtype": "float32", "item_shape": [10],
                  "equality": {"rule": "close", "atol": "1e-4", "rtol": "1e-4"}}],
     "cost":    {"flops_per_item": 34816},        # the model's arithmetic per item (checked by providers)
     "deadline": 1764633600,                      # unix seconds, = the escrow job's deadline
     "energy":  {"max_mj_per_item": 1500,          # optional (absent: no energy terms), integers:
                 "min_gflops_per_watt": 200,       # providers honour them at acceptance
                 "prefer_efficient": true},        # (oracle.energy.EnergyPolicy / energy_ok)
     "tree":    {"leaf_items": 64}}            # optional: items per leaf of both item trees

``energy`` lists only the terms it sets (``prefer_efficient`` only when true, no empty object), so
one set of terms has one encoding; a manifest without it is byte for byte what it was before.
``tree`` likewise: absent means one item per leaf (the first trees' format); present, ``leaf_items``
is 2 to 65536, and it shapes both the inputs' ``root`` and the outputs' tree whose root is the
job's ``resultHash`` (:mod:`oracle.work.items`; :func:`oracle.work.job.build_manifest` uses 64).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oracle.energy import EnergyError, EnergyPolicy
from oracle.work.blobs import BlobRef
from oracle.work.content import hex32, parse_digest, sha256
from oracle.work.equality import Equality
from oracle.work.errors import BlobError, ManifestError
from oracle.work.items import DTYPES, MAX_LEAF_ITEMS, dtype_of

VERSION = 1
KIND = "onnx-batch"
MAX_MANIFEST_BYTES = 16 * 1024
MAX_ITEMS = 10_000_000
MAX_OUTPUTS = 16
MAX_RANK = 8
MAX_OPSET = 21
"""Highest ONNX opset accepted (ONNX Runtime 1.32 runs every opset up to it)."""
MAX_URLS = 8

# Deadline feasibility at posting time: even the fastest provider needs a fixed time to accept,
# fetch, commit and submit, and at most FASTEST_FLOPS of arithmetic per second.
MIN_JOB_SECONDS = 60
FASTEST_FLOPS = 100e12


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _no_floats(obj: Any, where: str) -> None:
    if isinstance(obj, float):
        raise ManifestError(
            f"{where} is a float ({obj!r}): manifests hold no floats; write tolerances as strings"
        )
    if isinstance(obj, dict):
        for k, v in obj.items():
            _no_floats(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _no_floats(v, f"{where}[{i}]")


def _obj(data: Any, what: str, keys: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ManifestError(f"{what} must be an object with {', '.join(sorted(keys))}")
    missing = sorted(keys - optional - set(data))
    if missing:
        raise ManifestError(f"{what} is missing {', '.join(missing)}")
    extra = sorted(set(data) - keys)
    if extra:
        raise ManifestError(f"{what} has unknown field(s) {', '.join(extra)}")
    return data


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ManifestError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise ManifestError(f"{what} must be a non-empty string of at most 128 characters")
    return value


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANK:
        raise ManifestError(f"{what} must be a list of at most {MAX_RANK} positive integers")
    return tuple(_int(d, f"{what}[{i}]", 1, 1 << 24) for i, d in enumerate(value))


def _blob(value: Any, what: str) -> BlobRef:
    try:
        ref = BlobRef.from_json(value, what)
    except BlobError as exc:
        raise ManifestError(str(exc)) from None
    if len(ref.urls) > MAX_URLS:
        raise ManifestError(f"{what}.urls lists {len(ref.urls)} places, at most {MAX_URLS}")
    return ref


def _size(dtype: str, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * DTYPES[dtype].itemsize


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of an item: name (the model's input/output name), dtype, per-item shape."""

    name: str
    dtype: str
    item_shape: tuple[int, ...]

    @property
    def item_size(self) -> int:
        return _size(self.dtype, self.item_shape)


@dataclass(frozen=True)
class InputSpec(TensorSpec):
    count: int = 0
    root: bytes = b""
    blob: BlobRef | None = None


@dataclass(frozen=True)
class OutputSpec(TensorSpec):
    equality: Equality = Equality()


@dataclass(frozen=True)
class Manifest:
    model: BlobRef
    opset: int
    inputs: InputSpec
    outputs: tuple[OutputSpec, ...]
    flops_per_item: int
    deadline: int
    energy: EnergyPolicy | None = None
    """The optional energy terms (None: the manifest has no ``energy`` object)."""
    leaf_items: int = 1
    """Items per leaf of the input and output item trees (1: no ``tree`` object)."""

    @property
    def model_id(self) -> int:
        """The ModelNFT id: uint256 of the SHA-256 of the ONNX file."""
        return int.from_bytes(self.model.digest, "big")

    @property
    def record_size(self) -> int:
        """Bytes of one item's output record (all outputs, in order)."""
        return sum(o.item_size for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        inp = self.inputs
        assert inp.blob is not None
        return {
            "version": VERSION,
            "kind": KIND,
            "model": self.model.to_json(),
            "runtime": {"format": "onnx", "opset": self.opset},
            "inputs": {
                "name": inp.name,
                "dtype": inp.dtype,
                "item_shape": list(inp.item_shape),
                "count": inp.count,
                "root": hex32(inp.root),
                "blob": inp.blob.to_json(),
            },
            "outputs": [
                {
                    "name": o.name,
                    "dtype": o.dtype,
                    "item_shape": list(o.item_shape),
                    "equality": o.equality.to_json(),
                }
                for o in self.outputs
            ],
            "cost": {"flops_per_item": self.flops_per_item},
            "deadline": self.deadline,
            **({"energy": energy_json(self.energy)} if self.energy is not None else {}),
            **({"tree": {"leaf_items": self.leaf_items}} if self.leaf_items != 1 else {}),
        }

    def to_bytes(self) -> bytes:
        data = canonical_json(self.to_json())
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"manifest is {len(data)} bytes, above the limit of {MAX_MANIFEST_BYTES}")
        return data

    @property
    def spec_hash(self) -> bytes:
        """``sha256(canonical bytes)``: the ``specHash`` of ``JobEscrow.postJob``."""
        return sha256(self.to_bytes())

    def check_deadline(
        self, now: float, flops_per_s: float = FASTEST_FLOPS, min_seconds: float = MIN_JOB_SECONDS
    ) -> None:
        """Refuse a deadline no provider running at ``flops_per_s`` can meet: the job needs
        ``min_seconds + count * flops_per_item / flops_per_s`` from ``now``."""
        need = min_seconds + self.inputs.count * self.flops_per_item / flops_per_s
        have = self.deadline - now
        if have < need:
            raise ManifestError(
                f"the job cannot finish by its deadline: {self.inputs.count} items need at least {need:.0f} s "
                f"at {flops_per_s / 1e12:g} TFLOP/s, the deadline is {have:.0f} s away; set a later deadline"
            )


def parse_manifest(data: bytes) -> Manifest:
    """Bytes -> :class:`Manifest`; :class:`ManifestError` naming the first bad field (size limit,
    not JSON, not canonical, schema) -- before any money moves or any file is fetched."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(data)} bytes, above the limit of {MAX_MANIFEST_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not UTF-8 JSON: {exc}") from None
    _no_floats(obj, "manifest")
    manifest = manifest_from_json(obj)
    if canonical_json(obj) != data:
        raise ManifestError(
            "manifest is not in canonical form (sorted keys, no whitespace, UTF-8): re-encode it"
        )
    return manifest


def manifest_from_json(obj: Any) -> Manifest:
    """The schema check of the module doc, on parsed JSON."""
    top = _obj(
        obj,
        "manifest",
        {"version", "kind", "model", "runtime", "inputs", "outputs", "cost", "deadline", "energy", "tree"},
        frozenset({"energy", "tree"}),
    )
    if top["version"] != VERSION:
        raise ManifestError(f"manifest.version must be {VERSION}, got {top['version']!r}")
    if top["kind"] != KIND:
        raise ManifestError(f"manifest.kind must be {KIND!r}, got {top['kind']!r}")
    model = _blob(top["model"], "manifest.model")
    runtime = _obj(top["runtime"], "manifest.runtime", {"format", "opset"})
    if runtime["format"] != "onnx":
        raise ManifestError(f"manifest.runtime.format must be 'onnx', got {runtime['format']!r}")
    opset = _int(runtime["opset"], "manifest.runtime.opset", 1, MAX_OPSET)

    raw_in = _obj(top["inputs"], "manifest.inputs", {"name", "dtype", "item_shape", "count", "root", "blob"})
    in_dtype = _dtype(raw_in["dtype"], "manifest.inputs.dtype")
    item_shape = _shape(raw_in["item_shape"], "manifest.inputs.item_shape")
    count = _int(raw_in["count"], "manifest.inputs.count", 1, MAX_ITEMS)
    try:
        root = parse_digest(raw_in["root"], "manifest.inputs.root")
    except BlobError as exc:
        raise ManifestError(str(exc)) from None
    blob = _blob(raw_in["blob"], "manifest.inputs.blob")
    inputs = InputSpec(_name(raw_in["name"], "manifest.inputs.name"), in_dtype, item_shape, count, root, blob)
    if blob.size != count * inputs.item_size:
        raise ManifestError(
            f"manifest.inputs.blob.size is {blob.size} bytes; {count} items of {inputs.item_size} bytes "
            f"({in_dtype} {list(item_shape)}) make {count * inputs.item_size}"
        )

    raw_out = top["outputs"]
    if not isinstance(raw_out, list) or not 1 <= len(raw_out) <= MAX_OUTPUTS:
        raise ManifestError(f"manifest.outputs must be a list of 1 to {MAX_OUTPUTS} outputs")
    outputs = []
    for i, o in enumerate(raw_out):
        what = f"manifest.outputs[{i}]"
        o = _obj(o, what, {"name", "dtype", "item_shape", "equality"})
        dtype = _dtype(o["dtype"], f"{what}.dtype")
        outputs.append(
            OutputSpec(
                _name(o["name"], f"{what}.name"),
                dtype,
                _shape(o["item_shape"], f"{what}.item_shape"),
                Equality.from_json(o["equality"], dtype, f"{what}.equality"),
            )
        )
    names = [o.name for o in outputs]
    if len(set(names)) != len(names):
        raise ManifestError(f"manifest.outputs names repeat: {names}")
    cost = _obj(top["cost"], "manifest.cost", {"flops_per_item"})
    flops = _int(cost["flops_per_item"], "manifest.cost.flops_per_item", 1, 1 << 50)
    deadline = _int(top["deadline"], "manifest.deadline", 1, (1 << 40) - 1)
    energy = _energy(top["energy"]) if "energy" in top else None
    leaf_items = 1
    if "tree" in top:
        tree = _obj(top["tree"], "manifest.tree", {"leaf_items"})
        leaf_items = _int(
            tree["leaf_items"], "manifest.tree.leaf_items (leave tree out for 1)", 2, MAX_LEAF_ITEMS
        )
    return Manifest(model, opset, inputs, tuple(outputs), flops, deadline, energy, leaf_items)


def energy_json(policy: EnergyPolicy) -> dict[str, Any]:
    """The manifest's ``energy`` object: only the terms set (module doc)."""
    out: dict[str, Any] = {}
    if policy.max_mj_per_item is not None:
        out["max_mj_per_item"] = policy.max_mj_per_item
    if policy.min_gflops_per_watt is not None:
        out["min_gflops_per_watt"] = policy.min_gflops_per_watt
    if policy.prefer_efficient:
        out["prefer_efficient"] = True
    return out


def _energy(value: Any) -> EnergyPolicy:
    try:
        policy = EnergyPolicy.from_json(value, "manifest.energy")
    except EnergyError as exc:
        raise ManifestError(str(exc)) from None
    if value is None or energy_json(policy) != value or not value:
        raise ManifestError(
            "manifest.energy lists only the terms it sets: max_mj_per_item and min_gflops_per_watt "
            "(integers), prefer_efficient only when true; leave energy out when it sets none"
        )
    return policy


def _dtype(value: Any, what: str) -> str:
    if value not in DTYPES:
        raise ManifestError(f"{what} must be one of {', '.join(DTYPES)}, got {value!r}")
    dtype_of(value)
    return value


def manifest_from_mapping(data: Mapping[str, Any]) -> Manifest:
    """Build from a Python mapping (no canonical-bytes check; floats refused)."""
    _no_floats(dict(data), "manifest")
    return manifest_from_json(dict(data))
