"""Items of a batch job and the Merkle tree over them (the capacity challenge's tree, reused).

A job's input file is one C-order little-endian tensor ``[count, *item_shape]``; item ``i`` is its
``i``-th slice, and its canonical bytes are that slice's bytes. The output file is the same for
the outputs: item ``i``'s record is the concatenation, in the manifest's output order, of the
bytes of every output tensor's ``i``-th slice.

Commitment: the Merkle tree of :class:`oracle.merkle.MerkleTree` with the leaves of
:func:`oracle.merkle.row_leaf`, one per item: ``sha256(0x00 || uint32_be(i) || bytes_i)``, inner
nodes ``sha256(0x01 || left || right)``, an odd last node carried up. ``row_leaf`` encodes a row as
int32 little-endian words; every dtype a job may use is 4 or 8 bytes wide, so an item's bytes read
as ``<i4`` words re-encode to exactly the same bytes (:func:`item_words`): the leaf is the item's
bytes hashed unchanged, which is how :func:`item_leaf` and :func:`oracle.merkle.packed_leaves`
compute it (no words, no per-item objects), and proofs verify with
:func:`oracle.merkle.verify_proof` as they are.
The inputs root is in the manifest; the outputs root is the job's ``resultHash`` on chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from oracle.merkle import LEAF_PREFIX, MerkleTree, packed_leaves, verify_proof
from oracle.work.errors import InputError, ProofError

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


def split_items(data: bytes, item_size: int) -> list[bytes]:
    """Cut a file of fixed-size items into its items."""
    if item_size <= 0 or len(data) % item_size:
        raise InputError(f"{len(data)} bytes is not a whole number of {item_size}-byte items")
    return [data[i : i + item_size] for i in range(0, len(data), item_size)]


class ItemTree:
    """The commitment over a job's items (see the module doc), with openings. Kept as the one
    bytes object of the items and the packed tree (:func:`oracle.merkle.packed_leaves`): no
    per-item object is made until an item is opened."""

    def __init__(self, items: Sequence[bytes]):
        if not items:
            raise InputError("a job has at least one item")
        size = len(items[0])
        if all(len(it) == size for it in items):
            self._init(b"".join(items), size)
        else:  # records of mixed sizes (no job makes them): one leaf each
            self.data, self.item_size, self._offsets = b"".join(items), 0, [0]
            for it in items:
                self._offsets.append(self._offsets[-1] + len(it))
            self.tree = MerkleTree([item_leaf(i, it) for i, it in enumerate(items)])

    def _init(self, data: bytes, item_size: int) -> None:
        if item_size <= 0 or item_size % 4:
            raise InputError(f"an item is a whole number of 4-byte words, got {item_size} bytes")
        self.data, self.item_size, self._offsets = data, item_size, None
        self.tree = MerkleTree.from_packed(packed_leaves(data, item_size))

    @classmethod
    def from_bytes(cls, data: bytes, item_size: int) -> ItemTree:
        """The tree over a file of ``item_size``-byte items (the fast path: no split)."""
        if item_size <= 0 or len(data) % item_size:
            raise InputError(f"{len(data)} bytes is not a whole number of {item_size}-byte items")
        if not data:
            raise InputError("a job has at least one item")
        tree = cls.__new__(cls)
        tree._init(bytes(data), item_size)
        return tree

    @classmethod
    def from_leaves(cls, data: bytes, item_size: int, leaves: bytes) -> ItemTree:
        """The tree over ``data`` whose packed leaves were already hashed (chunk by chunk, as the
        job agent does while inference runs); they must be one per item."""
        if (
            item_size <= 0
            or len(data) % item_size
            or not data
            or len(leaves) != 32 * (len(data) // item_size)
        ):
            raise InputError(f"{len(leaves) // 32} leaves for {len(data)} bytes of {item_size}-byte items")
        tree = cls.__new__(cls)
        tree.data, tree.item_size, tree._offsets = data, item_size, None
        tree.tree = MerkleTree.from_packed(leaves)
        return tree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return self.tree.count

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
        return Opening(index, self.item(index), tuple(self.tree.proof(index)))


@dataclass(frozen=True)
class Opening:
    """Item ``index`` with its Merkle proof (sibling hashes from the leaf up)."""

    index: int
    item: bytes
    proof: tuple[bytes, ...]

    def verify(self, root: bytes, count: int) -> bool:
        return len(self.item) % 4 == 0 and verify_proof(
            root, count, self.index, item_words(self.item), self.proof
        )

    def to_json(self) -> dict:
        return {"index": self.index, "item": self.item.hex(), "proof": ["0x" + p.hex() for p in self.proof]}

    @classmethod
    def from_json(cls, data: dict) -> Opening:
        try:
            return cls(
                int(data["index"]),
                bytes.fromhex(data["item"]),
                tuple(bytes.fromhex(p[2:] if p.startswith("0x") else p) for p in data["proof"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProofError(
                f"malformed opening ({exc}); expected {{index, item (hex), proof: [0x..]}}"
            ) from None


def check_openings(openings: Sequence[Opening], root: bytes, count: int, item_size: int) -> None:
    """Raise :class:`ProofError` naming the first opening that does not verify against ``root``."""
    for op in openings:
        if len(op.item) != item_size:
            raise ProofError(f"item {op.index} is {len(op.item)} bytes, the manifest says {item_size}")
        if not op.verify(root, count):
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
