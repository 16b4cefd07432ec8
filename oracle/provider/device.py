"""The provider's device path (PyTorch, imported lazily: the optional ``gpu`` extra): derive the
blocks of ``A`` and ``B``, multiply in the challenge's precision and digest the rows, all on the
device; only the digests (8 bytes per row) come back to the host for the Merkle tree.

The bits are those of :mod:`oracle.mixer`'s portable path (tested against NumPy on CPU PyTorch
where PyTorch is installed). The product is exact in every precision (see :mod:`oracle.challenge`):
fp16/bf16 multiply 16-bit inputs and accumulate and output in fp32 (``torch.mm(...,
out_dtype=torch.float32)``; a PyTorch without it falls back to K-split chunks whose partial products
are exact in the 16-bit output). Not yet measured on a GPU: no session had one lent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from oracle import challenge as ch
from oracle import commitment as cm
from oracle import mixer

BLOCK_ENTRIES = 1 << 25
"""Entries of ``C`` per block (the int64 digest temporaries are 256 MiB each at this size)."""


def _matmul(torch: Any, a: Any, b: Any, precision: str) -> Any:
    if precision == "fp64":
        return a.double() @ b.double()
    if precision in ("fp32", "tf32", "int8"):
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            return a.float() @ b.float()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    a16, b16 = a.to(dtype), b.to(dtype)
    try:
        return torch.mm(a16, b16, out_dtype=torch.float32)
    except (TypeError, RuntimeError):
        exact_limit = 2048 if precision == "fp16" else 256  # integers exact in the 16-bit format
        chunk = max(1, exact_limit // (ch.ENTRY_ABS_MAX**2))
        out = torch.zeros((a.shape[0], b.shape[1]), dtype=torch.float32, device=a.device)
        for k in range(0, a.shape[1], chunk):
            out += (a16[:, k : k + chunk] @ b16[k : k + chunk]).float()
        return out


def torch_commitment(
    challenge: ch.Challenge,
    device: str = "cuda",
    block_rows: int | None = None,
    give_up_at: float | None = None,
) -> cm.RowCommitment:
    """:func:`oracle.challenge.compute_commitment` on a PyTorch device (the same root)."""
    import torch

    dev = torch.device(device)
    n, rows = challenge.n, challenge.rows
    b = mixer.torch_derive_rows(ch.b_keys(challenge.b_seed), n, 0, n, dev)
    keys = mixer.torch_column_keys(ch.digest_keys(challenge.seed), n, dev)
    a_keys = ch.a_keys(challenge.seed)
    block = block_rows or max(1, min(rows, BLOCK_ENTRIES // n))
    digests = torch.empty((rows, mixer.LANES), dtype=torch.int64, device=dev)
    for r0 in range(0, rows, block):
        if give_up_at is not None and time.monotonic() > give_up_at:
            raise ch.ChallengeError(f"gave up after {r0} of {rows} rows: past the challenge's deadline")
        r1 = min(rows, r0 + block)
        a = mixer.torch_derive_rows(a_keys, n, r0, r1, dev)
        c = _matmul(torch, a, b, challenge.precision).round().to(torch.int32)
        digests[r0:r1] = mixer.torch_row_digests(c, keys)
    return cm.RowCommitment(digests.cpu().numpy().astype(np.uint32), challenge.group)
