"""Compute backends of the provider: a challenge's whole job, ``challenge -> RowCommitment``
(derive ``A`` and ``B``, multiply, digest the rows, build the tree; see :mod:`oracle.challenge`).
NumPy on the CPU; PyTorch on a CUDA device (:mod:`oracle.provider.device`, imported lazily, the
``gpu`` extra)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from oracle import challenge as ch
from oracle import commitment as cm
from oracle.errors import ProviderError

CommitFn = Callable[..., cm.RowCommitment]
"""``(challenge, *, hook=None, pace=None, give_up_at=None) -> RowCommitment``: see
:func:`oracle.challenge.compute_commitment`."""

BACKENDS = ("auto", "numpy", "torch")


_B_CACHE: OrderedDict[tuple[bytes, int], np.ndarray] = OrderedDict()
_B_LOCK = threading.Lock()


def epoch_b(challenge: ch.Challenge) -> np.ndarray:
    """``B`` of the challenge's ``b_seed``, kept for the two newest (b_seed, n): a validator shares one
    ``B`` across its challenges of an epoch, so deriving it (O(n^2)) is paid once, not per challenge."""
    ident = (bytes(challenge.b_seed), challenge.n)
    with _B_LOCK:
        b = _B_CACHE.get(ident)
    if b is None:
        b = ch.derive_b(challenge.b_seed, challenge.n)
        with _B_LOCK:
            _B_CACHE[ident] = b
            while len(_B_CACHE) > 2:
                _B_CACHE.popitem(last=False)
    return b


def numpy_commit(
    challenge: ch.Challenge, *, hook: cm.BlockHook | None = None, pace=None, give_up_at: float | None = None
) -> cm.RowCommitment:
    """CPU backend: exact float32 BLAS GEMM whatever the precision named (see :mod:`oracle.challenge`)."""
    return cm.compute_commitment(challenge, hook=hook, pace=pace, give_up_at=give_up_at, b=epoch_b(challenge))


def torch_commit(
    challenge: ch.Challenge, *, hook: cm.BlockHook | None = None, pace=None, give_up_at: float | None = None
) -> cm.RowCommitment:
    """GPU backend: everything on the CUDA device in the challenge's precision. Misbehaviour drills
    (``hook``) and paced stand-ins (``pace``) run on the CPU path instead."""
    if hook is not None or pace is not None:
        return numpy_commit(challenge, hook=hook, pace=pace, give_up_at=give_up_at)
    from oracle.provider.device import torch_commitment

    return torch_commitment(challenge, "cuda", give_up_at=give_up_at)


def select_backend(name: str = "auto") -> tuple[str, CommitFn]:
    """``"numpy"``, ``"torch"`` or ``"auto"`` (torch when it imports and sees a CUDA device)."""
    if name == "numpy":
        return "numpy", numpy_commit
    if name in ("torch", "auto"):
        try:
            import torch

            if torch.cuda.is_available():
                return "torch", torch_commit
        except ImportError:
            pass
        if name == "torch":
            raise ProviderError("backend 'torch' needs PyTorch with a CUDA device; use --backend numpy")
        return "numpy", numpy_commit
    raise ProviderError(f"unknown backend {name!r}: use auto, numpy or torch")
