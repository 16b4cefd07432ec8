"""A job's inference in chunks, with the protocol's work overlapped: while ONNX Runtime runs
chunk ``k`` (it releases the GIL), one worker thread stores chunk ``k - 1``'s outputs as a blob
(fsynced), hashes their Merkle leaves and reports the chunk to ``on_chunk`` (where the agent
journals it: a SQLite commit, another fsync), and may verify the input item tree alongside. So the
two fsyncs of each chunk (~5-10 ms here, a 4,096-item chunk of digits-large infers in ~40 ms) wait
beside the inference, not in front of the next chunk.

Crash safety is the same as a serial run: a chunk's digest reaches ``on_chunk`` (where the agent
journals it) only after its blob is stored, chunks are reported in order (one worker, in
submission order), and a restart resumes
after the last reported chunk; a chunk stored but not yet reported is computed again (its blob is
the same bytes, so storing it twice is a no-op). A failed input check raises before the run
returns, so nothing is committed or submitted on wrong inputs.

The energy of the run is measured by :class:`oracle.energy.EnergyMeter` around it (NVML's energy
counter on a GPU; on a CPU node an estimate, labelled as one): :func:`metered`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle.energy import EnergyMeter, EnergyReading
from oracle.work import job as work
from oracle.work.blobs import BlobStore
from oracle.work.content import hex32, parse_digest
from oracle.work.items import ItemTree, group_leaves
from oracle.work.manifest import Manifest
from oracle.work.runtime import OnnxModel


@dataclass
class ChunkRun:
    """Every chunk's digest, and for the chunks computed in this run their bytes and packed
    leaves (so committing does not read or hash them again)."""

    chunks: list[str]
    parts: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    items_computed: int = 0
    infer_s: float = 0.0
    """Wall seconds inside ONNX Runtime; the rest of the run's wall is the protocol's critical path."""


def _finish(
    store: BlobStore, data: bytes, first: int, record_size: int, group: int
) -> tuple[str, bytes, bytes]:
    """On the worker: store a chunk's outputs (fsynced) and hash its leaves (its first item is
    item ``first``, a multiple of ``group``)."""
    return hex32(store.put(data)), data, group_leaves(data, record_size, group, first // group)


def chunk_items(batch_size: int, group: int) -> int:
    """Items per chunk: ``batch_size`` rounded up to whole leaves (a chunk's leaves are its own)."""
    return -(-max(batch_size, 1) // group) * group


def run_chunks(
    manifest: Manifest,
    model: OnnxModel,
    x: np.ndarray,
    store: BlobStore,
    batch_size: int,
    done: Sequence[str],
    on_chunk: Callable[[list[str], int], None],
    verify: Callable[[], None] | None = None,
    overlap: bool = True,
) -> ChunkRun:
    """Run the items after the ``done`` chunks, ``batch_size`` per chunk, overlapped as the
    module doc says; ``on_chunk(chunk digests, items done)`` after each chunk is stored, in
    order. ``verify``: a check run on the worker while the first chunk infers (its exception is
    raised here, after the chunks already stored, before anything is returned). ``overlap=False``:
    each chunk is stored and hashed before the next runs (the benchmark's serial baseline)."""
    group = manifest.leaf_items
    count, batch, size = manifest.inputs.count, chunk_items(batch_size, group), manifest.record_size
    run = ChunkRun(list(done))
    names = [o.name for o in manifest.outputs]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-chunks") as pool:
        check: Future[None] | None = pool.submit(verify) if verify is not None else None
        pending: Future[None] | None = None

        def finish(k: int, start: int, end: int, data: bytes) -> None:
            """On the worker, in chunk order: store, hash, then report (journal) the chunk."""
            digest, data, leaves = _finish(store, data, start, size, group)
            run.chunks.append(digest)
            run.parts[k] = (data, leaves)
            run.items_computed += end - start
            on_chunk(list(run.chunks), end)

        for start in range(len(run.chunks) * batch, count, batch):
            t0 = time.perf_counter()
            outs = model.run(x[start : start + batch], batch_size=batch, names=names)
            run.infer_s += time.perf_counter() - t0
            data = work.pack_outputs(manifest, outs)
            if pending is not None:
                pending.result()  # at most one chunk waits: bounded memory, errors raised in order
            end = min(start + batch, count)
            if overlap:
                pending = pool.submit(finish, start // batch, start, end, data)
            else:
                finish(start // batch, start, end, data)
        if pending is not None:
            pending.result()
        if check is not None:
            check.result()
    return run


def commit_outputs(
    manifest: Manifest, store: BlobStore, run: ChunkRun | Sequence[str]
) -> tuple[bytes, ItemTree]:
    """The outputs file (stored) and the item tree whose root is the ``resultHash``; the leaves
    of chunks computed in this run are reused, those of earlier runs read back and hashed."""
    if not isinstance(run, ChunkRun):
        run = ChunkRun(list(run))
    size, group = manifest.record_size, manifest.leaf_items
    datas, leaves = [], []
    first = 0
    for k, digest in enumerate(run.chunks):
        if k in run.parts:
            data, lv = run.parts[k]
        else:
            data = store.get(parse_digest(digest))
            lv = group_leaves(data, size, group, first // group)
        datas.append(data)
        leaves.append(lv)
        first += len(data) // size
    outputs = b"".join(datas)
    tree = ItemTree.from_leaves(outputs, size, b"".join(leaves), group)
    return store.put(outputs), tree


def metered(meter_args: dict[str, Any], work_fn: Callable[[], ChunkRun]) -> tuple[ChunkRun, EnergyReading]:
    """``work_fn()`` inside an :class:`EnergyMeter`; the run and its reading over the items it computed."""
    with EnergyMeter(**meter_args) as meter:
        run = work_fn()
    return run, meter.reading(max(run.items_computed, 0))
