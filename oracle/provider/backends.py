"""Compute backends of the provider: ``challenge -> C``, the exact int32 product of
:mod:`oracle.challenge`'s matrices. NumPy on the CPU; PyTorch on a CUDA device (imported lazily,
the ``gpu`` extra)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oracle import challenge as ch
from oracle.errors import ProviderError

ProductFn = Callable[[ch.Challenge], np.ndarray]
"""A compute backend: ``challenge -> C`` (``derive_a(seed) @ derive_b(b_seed)``), int32 n x n."""

BACKENDS = ("auto", "numpy", "torch")


def numpy_product(challenge: ch.Challenge) -> np.ndarray:
    """CPU backend: exact float32 BLAS GEMM whatever the precision named (see :mod:`oracle.challenge`)."""
    return ch.compute_product(challenge.seed, challenge.n, challenge.b_seed)


def torch_product(challenge: ch.Challenge) -> np.ndarray:
    """GPU backend (PyTorch, CUDA): computes in the challenge precision, exact by construction.

    fp16/bf16 accumulate and output in fp32 (``torch.mm(..., out_dtype=torch.float32)``; older
    PyTorch: K-split into chunks whose partial products are exact in the 16-bit output)."""
    import torch  # lazy: optional dependency

    n, precision = challenge.n, challenge.precision
    dev = torch.device("cuda")
    a = torch.from_numpy(np.ascontiguousarray(ch.derive_a(challenge.seed, n))).to(dev)
    b = torch.from_numpy(np.ascontiguousarray(ch.derive_b(challenge.b_seed, n))).to(dev)
    if precision == "fp64":
        c = a.double() @ b.double()
    elif precision in ("fp32", "tf32", "int8"):
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            c = a.float() @ b.float()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    else:
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        a16, b16 = a.to(dtype), b.to(dtype)
        try:
            c = torch.mm(a16, b16, out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            exact_limit = 2048 if precision == "fp16" else 256  # integers exact in the 16-bit format
            chunk = max(1, exact_limit // 64)
            c = torch.zeros((n, n), dtype=torch.float32, device=dev)
            for k in range(0, n, chunk):
                c += (a16[:, k : k + chunk] @ b16[k : k + chunk]).float()
    return c.round().to(torch.int32).cpu().numpy()


def select_backend(name: str = "auto") -> tuple[str, ProductFn]:
    """``"numpy"``, ``"torch"`` or ``"auto"`` (torch when it imports and sees a CUDA device)."""
    if name == "numpy":
        return "numpy", numpy_product
    if name in ("torch", "auto"):
        try:
            import torch  # noqa: F401

            if torch.cuda.is_available():
                return "torch", torch_product
        except ImportError:
            pass
        if name == "torch":
            raise ProviderError("backend 'torch' needs PyTorch with a CUDA device; use --backend numpy")
        return "numpy", numpy_product
    raise ProviderError(f"unknown backend {name!r}: use auto, numpy or torch")
