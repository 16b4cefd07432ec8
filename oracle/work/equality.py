"""When two runs of a job's model agree: the equality rule of each output.

- ``exact`` -- integer outputs (labels, token ids): equal bit for bit.
- ``close`` -- floating-point outputs: ``|a - b| <= atol + rtol * |b|`` element-wise (``b`` the
  reference run), and no NaN on either side (a NaN never matches).

Defaults :data:`DEFAULT_ATOL` = :data:`DEFAULT_RTOL` = ``1e-4``. Why they are safe for honest runs:
float32 ONNX Runtime on the CPU is bitwise reproducible across runs, sessions, thread counts and
batch sizes; a NumPy float32 forward pass of the same weights differs by up to 3.6e-7 absolute /
4.8e-6 relative (TOOLCHAIN.md, and ``tests/test_work_equality.py`` measures it again on the demo
models); a GPU in fp32 (TF32 switched off, as :mod:`oracle.work.runtime` does) differs by the same
order. Measured on the demo models (1000 items): the NumPy reference used at most 0.85% of the
tolerance (4.8e-6 absolute on logits up to 26), so it is more than 100x the largest honest
difference seen. What it cannot see: a
float changed by less than the tolerance, which is by definition the same answer; anything a
reader acts on (a class label) is an integer output and compared exactly. Tolerances are written
as decimal strings in the manifest (floats have no single canonical JSON spelling across
languages) and are bounded by :data:`MAX_TOLERANCE`, so a manifest cannot make the check vacuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracle.work.errors import ManifestError

EXACT, CLOSE = "exact", "close"
DEFAULT_ATOL = "1e-4"
DEFAULT_RTOL = "1e-4"
MAX_TOLERANCE = 1e-2


def _tolerance(text: Any, what: str) -> float:
    if not isinstance(text, str):
        raise ManifestError(f'{what} must be a decimal string such as "1e-4", got {text!r}')
    try:
        value = float(text)
    except ValueError:
        raise ManifestError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_TOLERANCE:
        raise ManifestError(f"{what} must be in [0, {MAX_TOLERANCE}], got {text}")
    return value


@dataclass(frozen=True)
class Equality:
    """The rule one output is compared by (see the module doc)."""

    rule: str = EXACT
    atol: str = "0"
    rtol: str = "0"

    @classmethod
    def close(cls, atol: str = DEFAULT_ATOL, rtol: str = DEFAULT_RTOL) -> Equality:
        return cls(CLOSE, atol, rtol)

    @classmethod
    def for_dtype(cls, dtype: str) -> Equality:
        """The default rule: exact for integers, :meth:`close` with the defaults for floats."""
        return cls() if dtype.startswith("int") else cls.close()

    def to_json(self) -> dict[str, str]:
        return (
            {"rule": EXACT} if self.rule == EXACT else {"rule": CLOSE, "atol": self.atol, "rtol": self.rtol}
        )

    @classmethod
    def from_json(cls, data: Any, dtype: str, what: str) -> Equality:
        if not isinstance(data, dict) or data.get("rule") not in (EXACT, CLOSE):
            raise ManifestError(f'{what} must be {{"rule": "exact"}} or {{"rule": "close", "atol", "rtol"}}')
        if data["rule"] == EXACT:
            if set(data) != {"rule"}:
                raise ManifestError(f"{what}: the exact rule takes no other field, got {sorted(data)}")
            return cls()
        if dtype.startswith("int"):
            raise ManifestError(
                f'{what}: integer outputs ({dtype}) are compared exactly; use {{"rule": "exact"}}'
            )
        if set(data) != {"rule", "atol", "rtol"}:
            raise ManifestError(
                f"{what}: the close rule takes exactly rule, atol and rtol, got {sorted(data)}"
            )
        _tolerance(data["atol"], f"{what}.atol")
        _tolerance(data["rtol"], f"{what}.rtol")
        return cls(CLOSE, data["atol"], data["rtol"])

    def mismatches(self, got: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Boolean per item (axis 0): True where ``got`` differs from ``reference`` under the rule."""
        if got.shape != reference.shape:
            raise ValueError(f"shapes differ: {got.shape} vs {reference.shape}")
        n = got.shape[0]
        if self.rule == EXACT:
            bad = got != reference
        else:
            a, b = got.astype(np.float64), reference.astype(np.float64)
            limit = float(self.atol) + float(self.rtol) * np.abs(b)
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(a - b) <= limit)  # NaN compares False, so it counts as a mismatch
        return bad.reshape(n, -1).any(axis=1)

    def used(self, got: np.ndarray, reference: np.ndarray) -> float:
        """The largest share of the allowed difference used, ``max |a - b| / (atol + rtol |b|)``
        (0 for exact outputs that match; above 1 means a mismatch)."""
        if self.rule == EXACT:
            return 0.0 if np.array_equal(got, reference) else float("inf")
        a, b = got.astype(np.float64), reference.astype(np.float64)
        limit = float(self.atol) + float(self.rtol) * np.abs(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(np.abs(a - b) == 0, 0.0, np.abs(a - b) / limit)
        return float(np.nan_to_num(share, nan=np.inf).max(initial=0.0))

    def max_error(self, got: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
        """Largest absolute and relative difference (for reports)."""
        a, b = got.astype(np.float64), reference.astype(np.float64)
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
        return float(diff.max(initial=0.0)), float(rel.max(initial=0.0))
