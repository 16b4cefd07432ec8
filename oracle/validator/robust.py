"""Robust statistics in integer arithmetic, so every validator gets the same bits.

Everything here takes and returns Python ``int``: no float ever enters, so the result does not
depend on summation order, the platform's libm or NumPy's pairwise sums. Inputs are sorted before
any order-dependent step, so the result does not depend on the order the caller passed them in.

* :func:`median` -- the middle value; for an even count the floor of the mean of the two middle
  values (``(a + b) // 2``, Python's floor division, the same on every machine).
* :func:`mad` -- the median absolute deviation from :func:`median`.
* :func:`spread` -- ``MAD * 1.4826`` (the factor that makes the MAD estimate a normal
  distribution's standard deviation), computed as ``MAD * 14826 // 10000``, floored at a relative
  minimum ``floor_ppm`` of ``|centre|`` and at 1 so a population of identical values still has a
  spread to divide by.
* :func:`robust_z_milli` -- ``(x - centre) / spread`` in thousandths, floor-rounded.
"""

from __future__ import annotations

from collections.abc import Iterable

PPM = 1_000_000
"""Parts per million: the fixed-point unit of every ratio in the anomaly module."""

MAD_TO_SIGMA_NUM = 14826
MAD_TO_SIGMA_DEN = 10000


def median(values: Iterable[int]) -> int:
    """Median of integers (floor of the mean of the two middle values for an even count).
    Raises ``ValueError`` on an empty input: callers check their minimum counts first."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of no values")
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


def mad(values: Iterable[int], centre: int | None = None) -> int:
    """Median absolute deviation from ``centre`` (default: the median of ``values``)."""
    ordered = sorted(values)
    c = median(ordered) if centre is None else centre
    return median(abs(v - c) for v in ordered)


def spread(values: Iterable[int], floor_ppm: int, centre: int | None = None) -> int:
    """Robust standard deviation: ``max(MAD * 1.4826, |centre| * floor_ppm / 1e6, 1)`` in integers."""
    ordered = sorted(values)
    c = median(ordered) if centre is None else centre
    sigma = mad(ordered, c) * MAD_TO_SIGMA_NUM // MAD_TO_SIGMA_DEN
    return max(sigma, abs(c) * floor_ppm // PPM, 1)


def robust_z_milli(x: int, centre: int, sigma: int) -> int:
    """``(x - centre) / sigma`` in thousandths (floor division; ``sigma`` >= 1)."""
    return (x - centre) * 1000 // max(1, sigma)


def ratio_ppm(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` in parts per million (floor); 0 when the denominator is 0."""
    if denominator <= 0:
        return 0
    return numerator * PPM // denominator
