"""One batch job from end to end, as pure steps both sides share: build a manifest from a model
and an input tensor, check that a model matches a manifest, run the job into output records and
their tree, and compare claimed outputs with a re-run under each output's equality rule.

The requester's client, the provider agent and the validators' verdicts all call these, so the
three sides agree by construction on what a job's bytes are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oracle.energy import EnergyPolicy
from oracle.work.arrivals import Arrivals
from oracle.work.blobs import BlobRef
from oracle.work.equality import Equality
from oracle.work.errors import InputError, ManifestError
from oracle.work.items import (
    DEFAULT_LEAF_ITEMS,
    DTYPES,
    ItemTree,
    check_group,
    pack,
    pack_file,
    split_items,
    streamed_root,
    unpack,
)
from oracle.work.manifest import InputSpec, Manifest, OutputSpec, energy_json
from oracle.work.runtime import OnnxModel


def input_bytes(x: np.ndarray) -> bytes:
    """The canonical input file: ``x`` C-order little-endian (its dtype must be a job dtype)."""
    name = next((n for n, dt in DTYPES.items() if np.dtype(x.dtype).newbyteorder("<") == dt), None)
    if name is None:
        raise InputError(f"inputs of dtype {x.dtype} are not supported; use one of {', '.join(DTYPES)}")
    return np.ascontiguousarray(x, dtype=DTYPES[name]).tobytes()


def build_manifest(
    model: OnnxModel,
    x: np.ndarray,
    deadline: int,
    *,
    model_urls: Sequence[str] = (),
    input_urls: Sequence[str] = (),
    equality: Mapping[str, Equality] | None = None,
    energy: EnergyPolicy | None = None,
    leaf_items: int = DEFAULT_LEAF_ITEMS,
) -> Manifest:
    """The manifest for running ``model`` on every item of ``x`` (validated against the model);
    ``leaf_items`` items per leaf of its item trees (1: one leaf per item, no ``tree`` object)."""
    model.validate(x)
    check_group(leaf_items)
    info = model.input_info()
    data = input_bytes(x)
    item_shape = tuple(int(d) for d in x.shape[1:])
    inputs = InputSpec(
        info.name,
        info.dtype,
        item_shape,
        int(x.shape[0]),
        ItemTree.from_bytes(data, len(data) // x.shape[0], leaf_items).root,
        BlobRef.of(data, input_urls),
    )
    outputs = []
    for o in model.outputs:
        if any(d is None for d in o.item_shape):
            raise ManifestError(
                f"model output {o.name!r} has a dynamic item shape {o.shape}; jobs need static ones"
            )
        rule = (equality or {}).get(o.name) or Equality.for_dtype(o.dtype)
        outputs.append(OutputSpec(o.name, o.dtype, tuple(int(d) for d in o.item_shape), rule))  # type: ignore[arg-type]
    manifest = Manifest(
        BlobRef(model.digest, len(model.data), tuple(model_urls)),
        model.opset,
        inputs,
        tuple(outputs),
        model.flops_per_item,
        int(deadline),
        energy if energy is not None and energy_json(energy) else None,
        leaf_items,
    )
    manifest.to_bytes()  # size limit
    return manifest


def input_tree(manifest: Manifest, data: bytes) -> ItemTree:
    """The tree over the input file whose root must be the manifest's ``inputs.root``."""
    return ItemTree.from_bytes(data, manifest.inputs.item_size, manifest.leaf_items)


def input_root(manifest: Manifest, arrivals: Arrivals) -> bytes:
    """:func:`input_tree`'s root over an input file as it arrives (:mod:`oracle.work.arrivals`)."""
    return streamed_root(arrivals, manifest.inputs.item_size, manifest.leaf_items)


def check_input_root(manifest: Manifest, arrivals: Arrivals) -> None:
    """:class:`InputError` unless the input file's item tree has the manifest's root (a fetch's
    ``alongside`` check: hashed while the file arrives)."""
    if input_root(manifest, arrivals) != manifest.inputs.root:
        raise InputError("the input items do not match the manifest's Merkle root")


def output_tree(manifest: Manifest, data: bytes | Sequence[bytes]) -> ItemTree:
    """The tree over the outputs (the file, or its records) whose root is the job's ``resultHash``."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return ItemTree.from_bytes(bytes(data), manifest.record_size, manifest.leaf_items)
    return ItemTree(list(data), manifest.leaf_items)


def check_model(manifest: Manifest, model: OnnxModel) -> None:
    """:class:`ManifestError` unless ``model`` is the manifest's model and fits its tensors."""
    if model.digest != manifest.model.digest:
        raise ManifestError(
            f"the model file hashes to 0x{model.digest.hex()}, the manifest names {manifest.model.hex}"
        )
    if model.opset > manifest.opset:
        raise ManifestError(f"the model uses opset {model.opset}, the manifest declares {manifest.opset}")
    info = model.input_info()
    spec = manifest.inputs
    if (info.name, info.dtype) != (spec.name, spec.dtype) or not _fits(info.item_shape, spec.item_shape):
        raise ManifestError(
            f"the manifest's input {spec.name} {spec.dtype} {list(spec.item_shape)} does not fit the model's "
            f"{info.name} {info.dtype} {list(info.item_shape)}"
        )
    outs = {o.name: o for o in model.outputs}
    for o in manifest.outputs:
        m = outs.get(o.name)
        if m is None or m.dtype != o.dtype or not _fits(m.item_shape, o.item_shape):
            raise ManifestError(
                f"the manifest's output {o.name} {o.dtype} {list(o.item_shape)} is not the model's"
            )
    if model.flops_per_item != manifest.flops_per_item:
        raise ManifestError(
            f"the manifest declares {manifest.flops_per_item} FLOP per item, the model does {model.flops_per_item}"
        )


def _fits(model_shape: Sequence[int | None], item_shape: Sequence[int]) -> bool:
    return len(model_shape) == len(item_shape) and all(
        m is None or m == d for m, d in zip(model_shape, item_shape, strict=True)
    )


def input_array(manifest: Manifest, data: bytes, indices: Sequence[int] | None = None) -> np.ndarray:
    """The inputs (all, or the items ``indices``) as the model's tensor."""
    spec = manifest.inputs
    if len(data) != spec.count * spec.item_size:
        raise InputError(
            f"the input file is {len(data)} bytes, the manifest says {spec.count * spec.item_size}"
        )
    x = np.frombuffer(data, dtype=DTYPES[spec.dtype]).reshape(spec.count, *spec.item_shape)
    return x if indices is None else x[np.asarray(indices, dtype=np.int64)]


def output_records(manifest: Manifest, outputs: Sequence[np.ndarray]) -> list[bytes]:
    """Per-item output records in the manifest's output order (see :mod:`oracle.work.items`)."""
    return pack(outputs, [DTYPES[o.dtype] for o in manifest.outputs])


def records_to_arrays(manifest: Manifest, records: Sequence[bytes]) -> list[np.ndarray]:
    return unpack(
        records, [DTYPES[o.dtype] for o in manifest.outputs], [o.item_shape for o in manifest.outputs]
    )


def run(manifest: Manifest, model: OnnxModel, x: np.ndarray, batch_size: int = 4096) -> list[bytes]:
    """Run the model on ``x`` (all items or a sample) -> output records."""
    outs = model.run(x, batch_size=batch_size, names=[o.name for o in manifest.outputs])
    return output_records(manifest, outs)


def pack_outputs(manifest: Manifest, outputs: Sequence[np.ndarray]) -> bytes:
    """The model's output tensors as one file of records (``outputs_file(output_records(...))``,
    without a per-item object)."""
    return pack_file(outputs, [DTYPES[o.dtype] for o in manifest.outputs])


def outputs_file(records: Sequence[bytes]) -> bytes:
    return b"".join(records)


def split_outputs(manifest: Manifest, data: bytes) -> list[bytes]:
    records = split_items(data, manifest.record_size)
    if len(records) != manifest.inputs.count:
        raise InputError(f"the output file holds {len(records)} items, the job has {manifest.inputs.count}")
    return records


@dataclass(frozen=True)
class Comparison:
    """Which of the compared items differ, per output, and the largest float differences."""

    indices: tuple[int, ...]
    bad: tuple[int, ...]
    max_abs: float
    max_rel: float
    tolerance_used: float
    """Largest share of a float tolerance any element used (see :meth:`Equality.used`)."""

    @property
    def ok(self) -> bool:
        return not self.bad


def compare(
    manifest: Manifest, indices: Sequence[int], claimed: Sequence[bytes], rerun: Sequence[bytes]
) -> Comparison:
    """Compare claimed records with re-run ones for the items ``indices`` under the equality rules."""
    got = records_to_arrays(manifest, claimed)
    ref = records_to_arrays(manifest, rerun)
    bad = np.zeros(len(indices), dtype=bool)
    max_abs = max_rel = used = 0.0
    for spec, g, r in zip(manifest.outputs, got, ref, strict=True):
        bad |= spec.equality.mismatches(g, r)
        if spec.equality.rule != "exact":
            a, rel = spec.equality.max_error(g, r)
            max_abs, max_rel, used = max(max_abs, a), max(max_rel, rel), max(used, spec.equality.used(g, r))
    bad_items = tuple(int(indices[i]) for i in np.flatnonzero(bad))
    return Comparison(tuple(indices), bad_items, max_abs, max_rel, used)


def sample_indices(count: int, samples: int, rng: np.random.Generator | None = None) -> list[int]:
    """``samples`` distinct item indices drawn uniformly (all of them when ``samples >= count``)."""
    rng = rng or np.random.default_rng()
    return sorted(int(i) for i in rng.choice(count, size=min(samples, count), replace=False))
