"""Items of a batch job and the Merkle tree over them (the capacity challenge's tree, reused).

A job's input file is one C-order little-endian tensor ``[count, *item_shape]``; item ``i`` is its
``i``-th slice, and its canonical bytes are that slice's bytes. The output file is the same for
the outputs: item ``i``'s record is the concatenation, in the manifest's output order, of the
bytes of every output tensor's ``i``-th slice.

Commitment: the Merkle tree of :class:`oracle.merkle.MerkleTree` whose leaf ``j`` covers the
``group`` items ``j*group .. j*group + group - 1`` (the last leaf may hold fewer):
``sha256(0x00 || uint32_be(j) || bytes of those items)``, inner nodes
``sha256(0x01 || left || right)``, an odd last node carried up. ``group`` is the manifest's
``tree.leaf_items`` (1 when absent: one leaf per item, :func:`oracle.merkle.row_leaf`'s leaf).
Why groups: in Python each leaf costs a ``sha256`` call (~0.4 µs) and an inner node besides, more
than hashing a small item's bytes; 64 items per leaf make the tree cost the bytes' SHA-256 alone
(and, for leaves of 2 KiB and more, hashlib releases the GIL while it hashes). An opening of item
``i`` carries its leaf's items with the proof (64 x 48 bytes for the demo's outputs). ``row_leaf`` encodes a row as
int32 little-endian words; every dtype a job may use is 4 or 8 bytes wide, so an item's bytes read
as ``<i4`` words re-encode to exactly the same bytes (:func:`item_words`): the leaf is the item's
bytes hashed unchanged, which is how :func:`item_leaf` and :func:`oracle.merkle.packed_leaves`
compute it (no words, no per-item objects), and proofs verify with
:func:`oracle.merkle.verify_proof` as they are.
The inputs root is in the manifest; the outputs root is the job's ``resultHash`` on chain.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from oracle.merkle import LEAF_PREFIX, MerkleTree, packed_leaves, verify_leaf, verify_proof
from oracle.work.arrivals import Arrivals
from oracle.work.errors import InputError, ProofError

DEFAULT_LEAF_ITEMS = 64
"""Items per leaf of the trees of a manifest built here (``tree.leaf_items``; see the module doc)."""
MAX_LEAF_ITEMS = 1 << 16

DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}
"""Tensor element types a job may use (each a whole number of 4-byte words; see the module doc)."""
INTEGER_DTYPES = frozenset({"int32", "int64"})


def dtype_of(name: str) -> np.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise InputError(f"dtype {name!r} is not supported; use one of {', '.join(DTYPES)}") from None


def item_words(item: bytes) -> np.ndarray:
    """An item's bytes as little-endian int32 words (the form :func:`row_leaf` re-encodes)."""
    if len(item) % 4:
        raise InputError(f"an item is a whole number of 4-byte words, got {len(item)} bytes")
    return np.frombuffer(item, dtype="<i4")


def item_leaf(index: int, item: bytes) -> bytes:
    """The Merkle leaf of item ``index``: ``sha256(0x00 || uint32_be(index) || item)``, hashed
    from the bytes as they are (equal to ``row_leaf(index, item_words(item))``, without the words)."""
    if len(item) % 4:
        raise InputError(f"an item is a whole number of 4-byte words, got {len(item)} bytes")
    return hashlib.sha256(LEAF_PREFIX + index.to_bytes(4, "big") + item).digest()


def check_group(group: int) -> int:
    if isinstance(group, bool) or not isinstance(group, int) or not 1 <= group <= MAX_LEAF_ITEMS:
        raise InputError(f"items per leaf must be an integer from 1 to {MAX_LEAF_ITEMS}, got {group!r}")
    return group


def group_leaf(leaf: int, members: bytes | memoryview) -> bytes:
    """Leaf ``leaf`` over the bytes of its items: ``sha256(0x00 || uint32_be(leaf) || members)``."""
    h = hashlib.sha256(LEAF_PREFIX + leaf.to_bytes(4, "big"))
    h.update(members)
    return h.digest()


def group_leaves(data: bytes | memoryview, item_size: int, group: int, first_leaf: int = 0) -> bytes:
    """The packed leaves of ``data``'s ``item_size``-byte items, ``group`` items a leaf (the last
    leaf takes what is left), numbered from ``first_leaf`` (a chunk of a larger file, cut at a
    multiple of ``group`` items)."""
    if group == 1:
        return packed_leaves(data, item_size, first_leaf)
    view = memoryview(data).cast("B")
    if item_size <= 0 or len(view) % item_size:
        raise InputError(f"{len(view)} bytes is not a whole number of {item_size}-byte items")
    span = item_size * group
    return b"".join(
        group_leaf(first_leaf + k, view[o : o + span]) for k, o in enumerate(range(0, len(view), span))
    )


HASHERS = max(1, min(4, os.cpu_count() or 1))
"""Threads that hash a streamed file's leaves (hashlib releases the GIL on a leaf of 2 KiB or more,
so pieces hash in parallel: the tree keeps up with the download instead of bounding it)."""
HASHED_PIECE = 1 << 20
"""Bytes one hasher takes at a time (rounded to whole leaves)."""


def streamed_root(arrivals: Arrivals, item_size: int, group: int) -> bytes:
    """The root of :class:`ItemTree` over a file while it arrives (leaves hashed piece by piece on
    :data:`HASHERS` threads, each piece a whole number of leaves): what :func:`ItemTree.from_bytes`
    gives, without waiting for the whole file."""
    span, parts, first = item_size * group, [], 0
    with ThreadPoolExecutor(HASHERS, thread_name_prefix="leaves") as pool:
        step = max(span, HASHED_PIECE // span * span)
        for piece in arrivals.pieces(span):
            for o in range(0, len(piece), step):  # a large arrival in several hashers' parts
                part = piece[o : o + step]
                parts.append(pool.submit(group_leaves, part, item_size, group, first))
                first += -(-len(part) // span)
        leaves = b"".join(p.result() for p in parts)
    if not first:
        raise InputError("a job has at least one item")
    return MerkleTree.from_packed(leaves).root


def leaf_count(count: int, group: int) -> int:
    return -(-count // group)


def split_items(data: bytes, item_size: int) -> list[bytes]:
    """Cut a file of fixed-size items into its items."""
    if item_size <= 0 or len(data) % item_size:
        raise InputError(f"{len(data)} bytes is not a whole number of {item_size}-byte items")
    return [data[i : i + item_size] for i in range(0, len(data), item_size)]


class ItemTree:
    """The commitment over a job's items (see the module doc), with openings. Kept as the one
    bytes object of the items and the packed tree: no per-item object is made until an item is
    opened. ``group``: items per leaf."""

    def __init__(self, items: Sequence[bytes], group: int = 1):
        if not items:
            raise InputError("a job has at least one item")
        size = len(items[0])
        if all(len(it) == size for it in items):
            self._init(b"".join(items), size, group)
        elif group != 1:
            raise InputError("items of mixed sizes take one leaf each (items per leaf 1)")
        else:  # records of mixed sizes (no job makes them): one leaf each
            self.data, self.item_size, self.group, self._offsets = b"".join(items), 0, 1, [0]
            for it in items:
                self._offsets.append(self._offsets[-1] + len(it))
            self.tree = MerkleTree([item_leaf(i, it) for i, it in enumerate(items)])
            self._count = len(items)

    def _init(self, data: bytes, item_size: int, group: int, leaves: bytes | None = None) -> None:
        if item_size <= 0 or item_size % 4:
            raise InputError(f"an item is a whole number of 4-byte words, got {item_size} bytes")
        self.data, self.item_size, self.group, self._offsets = data, item_size, check_group(group), None
        self._count = len(data) // item_size
        if leaves is None:
            leaves = group_leaves(data, item_size, group)
        self.tree = MerkleTree.from_packed(leaves)

    @classmethod
    def from_bytes(cls, data: bytes, item_size: int, group: int = 1) -> ItemTree:
        """The tree over a file of ``item_size``-byte items (the fast path: no split)."""
        if item_size <= 0 or len(data) % item_size:
            raise InputError(f"{len(data)} bytes is not a whole number of {item_size}-byte items")
        if not data:
            raise InputError("a job has at least one item")
        tree = cls.__new__(cls)
        tree._init(bytes(data), item_size, group)
        return tree

    @classmethod
    def from_leaves(cls, data: bytes, item_size: int, leaves: bytes, group: int = 1) -> ItemTree:
        """The tree over ``data`` whose packed leaves were already hashed (chunk by chunk, as the
        job agent does while inference runs); they must be one per ``group`` items."""
        if (
            item_size <= 0
            or len(data) % item_size
            or not data
            or len(leaves) != 32 * leaf_count(len(data) // item_size, check_group(group))
        ):
            raise InputError(f"{len(leaves) // 32} leaves for {len(data)} bytes of {item_size}-byte items")
        tree = cls.__new__(cls)
        tree._init(data, item_size, group, leaves)
        return tree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return self._count

    def item(self, index: int) -> bytes:
        if self._offsets is not None:
            return self.data[self._offsets[index] : self._offsets[index + 1]]
        if not 0 <= index < self.count:
            raise IndexError(f"item {index} out of range [0, {self.count})")
        return self.data[index * self.item_size : (index + 1) * self.item_size]

    @property
    def items(self) -> list[bytes]:
        return [self.item(i) for i in range(self.count)]

    def open(self, index: int) -> Opening:
        item = self.item(index)
        if self.group == 1:
            return Opening(index, item, tuple(self.tree.proof(index)))
        leaf = index // self.group
        span = self.group * self.item_size
        members = self.data[leaf * span : (leaf + 1) * span]
        return Opening(index, item, tuple(self.tree.proof(leaf)), members)


@dataclass(frozen=True)
class Opening:
    """Item ``index`` with its Merkle proof (sibling hashes from the leaf up) and, when a leaf
    holds several items, ``members``: the bytes of all the items of its leaf (``item`` among them)."""

    index: int
    item: bytes
    proof: tuple[bytes, ...]
    members: bytes = b""

    def verify(self, root: bytes, count: int, group: int = 1) -> bool:
        size = len(self.item)
        if size % 4 or not 0 <= self.index < count:
            return False
        if group == 1:
            return not self.members and verify_proof(
                root, count, self.index, item_words(self.item), self.proof
            )
        leaf, pos = divmod(self.index, group)
        held = min(group, count - leaf * group)
        if len(self.members) != held * size or self.members[pos * size : (pos + 1) * size] != self.item:
            return False
        return verify_leaf(root, leaf_count(count, group), leaf, group_leaf(leaf, self.members), self.proof)

    def to_json(self) -> dict:
        out = {"index": self.index, "item": self.item.hex(), "proof": ["0x" + p.hex() for p in self.proof]}
        if self.members:
            out["members"] = self.members.hex()
        return out

    @classmethod
    def from_json(cls, data: dict) -> Opening:
        try:
            return cls(
                int(data["index"]),
                bytes.fromhex(data["item"]),
                tuple(bytes.fromhex(p[2:] if p.startswith("0x") else p) for p in data["proof"]),
                bytes.fromhex(data.get("members", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProofError(
                f"malformed opening ({exc}); expected {{index, item (hex), proof: [0x..], members (hex, "
                "when a leaf holds several items)}}"
            ) from None


def check_openings(
    openings: Sequence[Opening], root: bytes, count: int, item_size: int, group: int = 1
) -> None:
    """Raise :class:`ProofError` naming the first opening that does not verify against ``root``
    (a tree of ``group`` items per leaf)."""
    for op in openings:
        if len(op.item) != item_size:
            raise ProofError(f"item {op.index} is {len(op.item)} bytes, the manifest says {item_size}")
        if not op.verify(root, count, group):
            raise ProofError(f"item {op.index} does not match the committed root 0x{root.hex()}")


def _rows(arrays: Sequence[np.ndarray], dtypes: Sequence[np.dtype]) -> np.ndarray:
    """``[count, record bytes]`` uint8: row ``i`` = concatenation of ``arrays[k][i]`` (as ``dtypes[k]``)."""
    count = arrays[0].shape[0]
    parts = []
    for arr, dt in zip(arrays, dtypes, strict=True):
        if arr.shape[0] != count:
            raise InputError(f"outputs disagree on the item count ({arr.shape[0]} vs {count})")
        parts.append(np.ascontiguousarray(arr, dtype=dt).reshape(count, -1).view(np.uint8))
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def pack(arrays: Sequence[np.ndarray], dtypes: Sequence[np.dtype]) -> list[bytes]:
    """Per-item records: item ``i`` = concatenation of ``arrays[k][i]`` (as ``dtypes[k]``)."""
    if not arrays:
        return []
    rows = _rows(arrays, dtypes)
    return [rows[i].tobytes() for i in range(rows.shape[0])]


def pack_file(arrays: Sequence[np.ndarray], dtypes: Sequence[np.dtype]) -> bytes:
    """The records of :func:`pack` as one file (their concatenation), without a per-item object."""
    return _rows(arrays, dtypes).tobytes() if arrays else b""


def unpack(
    records: Sequence[bytes], dtypes: Sequence[np.dtype], shapes: Sequence[tuple[int, ...]]
) -> list[np.ndarray]:
    """Inverse of :func:`pack`: the tensors ``[len(records), *shapes[k]]``."""
    sizes = [int(np.prod(s, dtype=np.int64)) * dt.itemsize for s, dt in zip(shapes, dtypes, strict=True)]
    buf = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(len(records), sum(sizes))
    out, start = [], 0
    for size, dt, shape in zip(sizes, dtypes, shapes, strict=True):
        chunk = np.ascontiguousarray(buf[:, start : start + size]).view(dt).reshape(len(records), *shape)
        out.append(chunk)
        start += size
    return out
