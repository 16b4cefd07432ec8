"""A keyed 32-bit integer mixer with the same bits in NumPy and in PyTorch: the challenge's
counter-based matrix generator and its per-row digests, both cheap enough to run on the device.

Why a mixer of our own: PCG64 (the previous generator) exists only in NumPy, so a GPU provider
derived ``A`` and ``B`` on its CPU and copied them over; the SHA-256 of every row of ``C`` ran on
its CPU too. Both then dominated a challenge whose GEMM takes milliseconds on the card. Everything
here uses only ``^ & >> << + *`` on integers, which every array library has, and no intermediate
value ever reaches 2^34, so the same code gives the same bits on NumPy ``int64`` arrays and on
PyTorch ``int64`` tensors (CPU or CUDA), without relying on wrap-around of signed overflow.
NumPy also has a faster ``uint32`` path whose identity with the portable one is tested.

Definitions (all arithmetic mod 2^32; ``fmix`` is MurmurHash3's 32-bit finaliser, a bijection)::

    fmix(x)     = x ^= x >> 16; x *= 0x85ebca6b; x ^= x >> 13; x *= 0xc2b2ae35; x ^= x >> 16
    word(K, t)  = fmix(fmix(fmix(t ^ K0) ^ K1) ^ K2)     # K = (K0, K1, K2): 3 keyed rounds

For a fixed key ``word(K, .)`` is a permutation of the 32-bit counters (each round is a bijection),
so no two counters of one matrix share a word.

* **Matrix entries.** A matrix with ``n`` columns has ``w = ceil(n / 8)`` words per row; entry
  ``(r, j)`` is nibble ``j mod 8`` of ``word(K, r * w + j // 8)`` minus 8, a value in [-8, 7]
  (nibble ``t`` of a word is ``(word >> 4t) & 15``). Any entry, row or block of rows costs O(its
  size): the validator derives the rows it samples without the rest. Counters must stay below
  2^32: ``rows * w <= 2^32`` (:data:`MAX_COUNTERS`).
* **Row digests.** For a row ``x`` of ``C`` (int32, read as uint32) and two lanes with column keys
  ``k_l[j] = word(D_l, j)``: ``digest_l(x) = sum_j (x_j ^ k_l[j])^2 mod 2^32``; the row's digest is
  the 8 bytes ``digest_0 || digest_1`` (uint32 little-endian). One XOR, one multiply and one add per
  entry and lane: a few percent of the 2n flops the GEMM spends on that entry at challenge sizes.

What the digest must do (and what it need not). The Merkle tree over the digests (SHA-256, on the
host: :class:`oracle.commitment.RowCommitment`) binds the provider to one digest per row before it learns
which rows are sampled; an opened row is then checked EXACTLY (its projections must equal the true
row's, :mod:`oracle.challenge_check`), so a provider can pass a sampled row only by having committed the
digest of the true row. It must therefore not be able to compute that digest much more cheaply than
the row itself. A linear digest could (``sum_j w_j x_j = a_i . (B w)`` is O(n) per row after one
O(n^2) product); this one is not linear over the integers (XOR with a key, then squaring), and no
way to evaluate it without the ``n`` entries of the row is known. That is an assumption, not a
theorem; it is the only one the capacity proof adds. A provider that commits a digest without
the row matches the true one with probability about 2^-64 per row (both lanes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from eth_utils import keccak

M32 = 0xFFFFFFFF
FMIX_C1, FMIX_C2 = 0x85EBCA6B, 0xC2B2AE35
ROUNDS = 3
"""Keyed ``fmix`` rounds per word."""
LANES = 2
"""32-bit lanes per row digest (8 bytes)."""
DIGEST_BYTES = 4 * LANES
MAX_COUNTERS = 2**32
"""Words one key may produce (``rows * ceil(n / 8)``): the counter is 32 bits."""


def words_per_row(n: int) -> int:
    """Words (of 8 entries each) per row of an n-column matrix."""
    return -(-n // 8)


def key_words(tag: bytes, seed: bytes, count: int = ROUNDS) -> tuple[int, ...]:
    """``count`` 32-bit key words: ``keccak256(tag || seed)`` read as big-endian uint32s."""
    digest = keccak(bytes(tag) + bytes(seed))
    if not 1 <= count <= 8:
        raise ValueError("count must be in [1, 8]")
    return tuple(int.from_bytes(digest[4 * i : 4 * i + 4], "big") for i in range(count))


# --------------------------------------------------------------------------------------------
# Portable int64 path (NumPy int64 arrays or PyTorch int64 tensors, any device)
# --------------------------------------------------------------------------------------------


def mul32(x: Any, y: Any) -> Any:
    """``(x * y) mod 2^32`` for ``0 <= x, y < 2^32`` (int64 arrays, or a Python int ``y``), with every
    intermediate below 2^34: ``x y = (xh yl + xl yh) 2^16 + xl yl (mod 2^32)`` with 16-bit halves."""
    xl, xh = x & 0xFFFF, x >> 16
    yl, yh = y & 0xFFFF, y >> 16
    return ((((xh * yl + xl * yh) & 0xFFFF) << 16) + xl * yl) & M32


def fmix(x: Any) -> Any:
    """MurmurHash3's 32-bit finaliser on int64 values in [0, 2^32) (portable path)."""
    x = x ^ (x >> 16)
    x = mul32(x, FMIX_C1)
    x = x ^ (x >> 13)
    x = mul32(x, FMIX_C2)
    return x ^ (x >> 16)


def word(keys: tuple[int, ...], counters: Any) -> Any:
    """``word(K, t)`` for int64 counters in [0, 2^32) (portable path)."""
    x = counters
    for k in keys[:ROUNDS]:
        x = fmix(x ^ k)
    return x


def nibbles(words: Any, stack: Any) -> Any:
    """Entries from words, portable: ``[(w >> 4t) & 15) - 8 for t in 0..7]`` interleaved along the
    last axis by ``stack`` (``np.stack`` or ``torch.stack``, called with ``axis``/``dim`` -1)."""
    parts = [((words >> (4 * t)) & 15) - 8 for t in range(8)]
    out = stack(parts)
    return out.reshape(*out.shape[:-2], out.shape[-2] * 8)


# --------------------------------------------------------------------------------------------
# NumPy fast path (uint32 wrap-around arithmetic), tested bit-identical to the portable one
# --------------------------------------------------------------------------------------------


def _fmix_u32(x: np.ndarray) -> np.ndarray:
    x ^= x >> np.uint32(16)
    x *= np.uint32(FMIX_C1)
    x ^= x >> np.uint32(13)
    x *= np.uint32(FMIX_C2)
    x ^= x >> np.uint32(16)
    return x


def words_u32(keys: tuple[int, ...], counters: np.ndarray) -> np.ndarray:
    """``word(K, t)`` for uint32 counters (NumPy; a new array)."""
    x = np.array(counters, dtype=np.uint32, copy=True)
    for k in keys[:ROUNDS]:
        x ^= np.uint32(k)
        _fmix_u32(x)
    return x


def _check_counters(first_row: int, last_row: int, n: int) -> None:
    if first_row < 0 or last_row * words_per_row(n) > MAX_COUNTERS:
        raise ValueError(
            f"rows [{first_row}, {last_row}) of a {n}-column matrix exceed the 2^32 counters of one key"
        )


def derive_rows(keys: tuple[int, ...], n: int, first_row: int, last_row: int) -> np.ndarray:
    """Rows ``first_row .. last_row - 1`` (int8, entries in [-8, 7]) of the matrix of ``keys``."""
    _check_counters(first_row, last_row, n)
    w = words_per_row(n)
    counters = np.arange(first_row * w, last_row * w, dtype=np.uint64).astype(np.uint32)
    return entries_from_words(words_u32(keys, counters).reshape(last_row - first_row, w), n)


def derive_rows_at(keys: tuple[int, ...], n: int, rows: list[int] | np.ndarray) -> np.ndarray:
    """The rows with the given indices (any order, repeats allowed), O(n) each."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size:
        _check_counters(int(rows.min()), int(rows.max()) + 1, n)
    w = words_per_row(n)
    counters = (rows[:, None] * w + np.arange(w, dtype=np.int64)[None, :]).astype(np.uint32)
    return entries_from_words(words_u32(keys, counters), n)


def entries_from_words(words: np.ndarray, n: int) -> np.ndarray:
    """``rows x w`` uint32 words -> ``rows x n`` int8 entries (nibble t of word j is entry 8j + t)."""
    raw = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)  # byte b of a word: nibbles 2b, 2b+1
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.int8)
    out[:, 0::2] = (raw & 15).astype(np.int8)
    out[:, 1::2] = (raw >> 4).astype(np.int8)
    out -= 8
    return out[:, :n]


def column_keys(keys: tuple[int, ...], n: int) -> np.ndarray:
    """The digest's column keys: ``LANES x n`` uint32, lane ``l`` from key words ``keys[3l:3l+3]``."""
    counters = np.arange(n, dtype=np.uint32)
    return np.stack([words_u32(keys[ROUNDS * lane :], counters) for lane in range(LANES)])


def row_digests(c: np.ndarray, col_keys: np.ndarray, chunk_rows: int = 64) -> np.ndarray:
    """Digests of the rows of ``c`` (int32, ``rows x n``): ``rows x LANES`` uint32 (NumPy fast path,
    in chunks of rows that stay in cache)."""
    c = np.ascontiguousarray(c, dtype=np.int32)
    rows, n = c.shape
    if col_keys.shape != (LANES, n):
        raise ValueError(f"column keys have shape {col_keys.shape}, expected ({LANES}, {n})")
    out = np.empty((rows, LANES), dtype=np.uint32)
    buf = np.empty((min(chunk_rows, max(rows, 1)), n), dtype=np.uint32)
    for r0 in range(0, rows, chunk_rows):
        block = c[r0 : r0 + chunk_rows].view(np.uint32)
        u = buf[: block.shape[0]]
        for lane in range(LANES):
            np.bitwise_xor(block, col_keys[lane], out=u)
            np.multiply(u, u, out=u)
            out[r0 : r0 + block.shape[0], lane] = (u.sum(axis=1, dtype=np.uint64) & M32).astype(np.uint32)
    return out


def digest_bytes(digests: np.ndarray) -> bytes:
    """Canonical bytes of ``rows x LANES`` digests: uint32 little-endian, row after row."""
    return np.ascontiguousarray(digests, dtype="<u4").tobytes()


def row_digests_portable(c: Any, col_keys: Any, row_sum: Any) -> Any:
    """The same digests on the portable path: ``c`` int64 (values of an int32 row, any sign),
    ``col_keys`` int64 ``LANES x n``; ``row_sum(x)`` sums over the last axis (int64: at most
    16384 terms below 2^32). Returns ``rows x LANES`` int64 values in [0, 2^32)."""
    u32 = c & M32
    lanes = []
    for lane in range(LANES):
        u = u32 ^ col_keys[lane]
        lanes.append(row_sum(mul32(u, u)) & M32)
    return lanes


# --------------------------------------------------------------------------------------------
# PyTorch (lazy: an optional dependency; the functions below are the provider's device path)
# --------------------------------------------------------------------------------------------


def torch_derive_rows(keys: tuple[int, ...], n: int, first_row: int, last_row: int, device: Any) -> Any:
    """:func:`derive_rows` on a PyTorch device: an int8 tensor, the same bits."""
    import torch

    _check_counters(first_row, last_row, n)
    w = words_per_row(n)
    counters = torch.arange(first_row * w, last_row * w, dtype=torch.int64, device=device)
    words = word(keys, counters).reshape(last_row - first_row, w)
    return nibbles(words, lambda parts: torch.stack(parts, dim=-1))[:, :n].to(torch.int8)


def torch_column_keys(keys: tuple[int, ...], n: int, device: Any) -> Any:
    """:func:`column_keys` as an int64 tensor on ``device``."""
    import torch

    counters = torch.arange(n, dtype=torch.int64, device=device)
    return torch.stack([word(keys[ROUNDS * lane :], counters) for lane in range(LANES)])


def torch_row_digests(c: Any, col_keys: Any) -> Any:
    """:func:`row_digests` on a PyTorch device: ``c`` an integer tensor ``rows x n`` (int32 values);
    returns a ``rows x LANES`` int64 tensor of values in [0, 2^32)."""
    import torch

    lanes = row_digests_portable(c.to(torch.int64), col_keys, lambda x: x.sum(dim=-1))
    return torch.stack(lanes, dim=-1)
