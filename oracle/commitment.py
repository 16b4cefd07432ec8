"""A challenge's commitment: one 8-byte digest per row of ``C`` (:mod:`oracle.mixer`, computed
where ``C`` is), grouped into the leaves of a SHA-256 Merkle tree (:func:`oracle.challenge.row_leaf`
over the group's digests); the CPU provider's whole job (:func:`compute_commitment`); and the
validator's check that an opened row matches the root (:func:`verify_opening`). The protocol and
its proof are in :mod:`oracle.challenge`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import numpy as np

from oracle import challenge as ch
from oracle import merkle, mixer

# --------------------------------------------------------------------------------------------
# The challenge's commitment: row digests, grouped into SHA-256 leaves
# --------------------------------------------------------------------------------------------


def column_keys(challenge: ch.Challenge) -> np.ndarray:
    """The digest's column keys of this challenge (``LANES x n`` uint32, O(n))."""
    return mixer.column_keys(ch.digest_keys(challenge.seed), challenge.n)


def group_words(digests: np.ndarray) -> np.ndarray:
    """A group's digests (``k x LANES`` uint32) as the int32 words :func:`merkle.row_leaf` hashes."""
    return np.ascontiguousarray(digests, dtype="<u4").reshape(-1).view("<i4")


class RowCommitment:
    """A provider's commitment to ``C``: one digest per row (``rows x LANES`` uint32) and the Merkle
    tree whose leaf ``g`` is ``merkle.row_leaf(g, digests of rows g*group .. (g+1)*group - 1)``."""

    def __init__(self, digests: np.ndarray, group: int):
        digests = np.ascontiguousarray(digests, dtype=np.uint32)
        if digests.ndim != 2 or digests.shape[1] != mixer.LANES or not digests.shape[0]:
            raise ch.ChallengeError(f"digests must be rows x {mixer.LANES}, got shape {digests.shape}")
        self.digests, self.group = digests, group
        raw = mixer.digest_bytes(digests)  # = merkle.row_leaf(g, group_words(group g)), in one pass
        step = group * mixer.DIGEST_BYTES
        whole = len(raw) // step * step  # the last group may be short: its leaf is hashed on its own
        leaves = merkle.packed_leaves(raw[:whole], step) if whole else b""
        if whole < len(raw):
            last = whole // step
            leaves += hashlib.sha256(merkle.LEAF_PREFIX + last.to_bytes(4, "big") + raw[whole:]).digest()
        self.tree = merkle.MerkleTree.from_packed(leaves)

    @property
    def root(self) -> bytes:
        return self.tree.root

    def opening(self, row: int) -> tuple[bytes, list[bytes]]:
        """``(digests of the row's group as bytes, Merkle proof of the group)``."""
        if not 0 <= row < len(self.digests):
            raise ch.ChallengeError(f"row index {row} out of range [0, {len(self.digests)})")
        g = row // self.group
        block = self.digests[g * self.group : (g + 1) * self.group]
        return mixer.digest_bytes(block), self.tree.proof(g)


def commit_product(challenge: ch.Challenge, c: np.ndarray) -> RowCommitment:
    """The commitment to a whole ``C`` (``rows x n``)."""
    return RowCommitment(mixer.row_digests(c, column_keys(challenge)), challenge.group)


def commitment_root(challenge: ch.Challenge, c: np.ndarray) -> bytes:
    """Root of :func:`commit_product`."""
    return commit_product(challenge, c).root


BlockHook = Callable[[int, np.ndarray], np.ndarray]
"""``(first_row, C block) -> block``: what a provider commits instead of the true block (tests and
fault drills; the identity for an honest provider)."""


def compute_commitment(
    challenge: ch.Challenge,
    *,
    block_rows: int | None = None,
    hook: BlockHook | None = None,
    b: np.ndarray | None = None,
    pace: Callable[[int], None] | None = None,
    give_up_at: float | None = None,
) -> RowCommitment:
    """An honest CPU provider's whole job: derive ``B``, then for each block of rows derive ``A``'s
    block, multiply (exact float32 BLAS), digest the rows; never holds more than one block of ``C``.
    ``pace(flops)`` is called after each block (a provider standing in for slower hardware).
    Past ``give_up_at`` (``time.monotonic``) it stops with :class:`ch.ChallengeError`: the answer
    would be late anyway."""
    n, rows = challenge.n, challenge.rows
    block_rows = max(1, block_rows or max(256, n))
    b32 = (ch.derive_b(challenge.b_seed, n) if b is None else b).astype(np.float32)
    keys = column_keys(challenge)
    digests = np.empty((rows, mixer.LANES), dtype=np.uint32)
    for r0 in range(0, rows, block_rows):
        if give_up_at is not None and time.monotonic() > give_up_at:
            raise ch.ChallengeError(f"gave up after {r0} of {rows} rows: past the challenge's deadline")
        r1 = min(rows, r0 + block_rows)
        c = (ch.derive_a_block(challenge.seed, n, r0, r1).astype(np.float32) @ b32).astype(np.int32)
        if hook is not None:
            c = hook(r0, c)
        digests[r0:r1] = mixer.row_digests(c, keys)
        if pace is not None:
            pace(2 * (r1 - r0) * n * n)
    return RowCommitment(digests, challenge.group)


def verify_opening(
    challenge: ch.Challenge,
    root: bytes,
    index: int,
    values: np.ndarray,
    group_digests: bytes,
    proof: Sequence[bytes],
    keys: np.ndarray,
) -> str | None:
    """Why the opening of row ``index`` does not match the commitment ``root``, or ``None`` when it
    does (``values`` int32, range-checked by the caller; ``keys``: :func:`column_keys`)."""
    g, slot = divmod(index, challenge.group)
    size = min(challenge.group, challenge.rows - g * challenge.group)
    if not isinstance(group_digests, bytes | bytearray) or len(group_digests) != size * mixer.DIGEST_BYTES:
        return f"row {index}: its group's digests must be {size * mixer.DIGEST_BYTES} bytes"
    digests = np.frombuffer(bytes(group_digests), dtype="<u4").reshape(size, mixer.LANES)
    if not np.array_equal(mixer.row_digests(values.reshape(1, -1), keys)[0], digests[slot]):
        return f"row {index}: its digest is not the committed one"
    if not merkle.verify_proof(root, challenge.groups, g, group_words(digests), proof):
        return f"row {index}: the Merkle proof of its group does not match the committed root"
    return None
