"""The sampling check in numbers: escape odds, measured pass rates, and the economics that set the
defaults.

A provider whose outputs are wrong on ``w`` of ``n`` items passes a check of ``s`` distinct
uniformly drawn items with probability ``C(n - w, s) / C(n, s)`` (:func:`pass_probability`),
which is at most ``(1 - f)^s`` for ``f = w / n`` (:func:`escape_bound`). Sampling alone rarely
catches a small cheat: one wrong item in 360 escapes 16 samples 95.6% of the time.

What makes cheating not pay is what a caught cheat loses. A provider that skips (or fakes) a
fraction ``f`` of a job saves about ``f * C`` (``C`` its cost of doing the whole job); caught --
with probability ``q = 1 - pass`` -- it loses the payment ``P`` (refunded to the requester) and its
collateral ``K`` (slashed). Its expected gain over honest work is ``f C - q (P + K)``
(:func:`cheating_gain`). Because ``q >= f`` for every ``s >= 1`` and ``C <= P`` (a provider
works for at most what it is paid), the gain is at most ``f (C - P - K) < 0``: cheating never
pays against a requester who checks, at any collateral, and the default ``s = 16`` with the
default 50% collateral leaves a wide margin (:func:`economics_table`). ``s`` then sets how
sure the requester is (the escape odds above), not whether cheating pays. A requester who checks
only a share ``r`` of jobs scales ``q`` by ``r``; cheating still does not pay while
``r q (P + K) > f C``, i.e. for ``r > C / (P + K)`` at small ``f`` with ``s >= 1`` samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

DEFAULT_COLLATERAL_BPS = 5_000
DEFAULT_COST_SHARE = 0.8
"""Provider's cost as a share of the price, for the table (an assumption; the result holds for any share <= 1)."""


def escape_bound(f: float, samples: int) -> float:
    """``(1 - f)^s``: the most a provider wrong on a fraction ``f`` passes ``s`` samples."""
    return float((1.0 - f) ** samples)


def pass_probability(n: int, wrong: int, samples: int) -> float:
    """Exact: ``C(n - w, s) / C(n, s)`` (``s`` distinct items drawn from ``n``, ``w`` wrong)."""
    s = min(samples, n)
    return comb(n - wrong, s) / comb(n, s)


def measured_pass_rate(
    n: int, wrong: int, samples: int, trials: int, rng: np.random.Generator | None = None
) -> float:
    """Share of ``trials`` random checks that a provider wrong on ``wrong`` of ``n`` items passes.
    Each trial draws ``s`` distinct items uniformly (the ``s`` smallest of ``n`` uniform keys, the
    same distribution as :func:`oracle.work.job.sample_indices`); the sampler does not know which
    items are wrong, so they can be taken as items ``0 .. wrong - 1`` without loss."""
    rng = rng or np.random.default_rng()
    s = min(samples, n)
    picks = np.argpartition(rng.random((trials, n)), s - 1, axis=1)[:, :s]
    return float(np.mean(~(picks < wrong).any(axis=1)))


def cheating_gain(
    f: float, samples: int, price: float, cost: float, collateral: float, check_rate: float = 1.0
) -> float:
    """Expected gain of skipping a fraction ``f`` over doing the job honestly (module doc)."""
    caught = check_rate * (1.0 - escape_bound(f, samples))
    return f * cost - caught * (price + collateral)


@dataclass(frozen=True)
class EconomicsRow:
    f: float
    samples: int
    caught: float
    saved: float
    expected_loss: float

    @property
    def gain(self) -> float:
        return self.saved - self.expected_loss


def economics_table(
    fractions: tuple[float, ...] = (1 / 360, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
    samples: tuple[int, ...] = (1, 4, 16),
    collateral_bps: int = DEFAULT_COLLATERAL_BPS,
    cost_share: float = DEFAULT_COST_SHARE,
    price: float = 1.0,
) -> list[EconomicsRow]:
    """Per ``f`` and ``s``: chance of being caught, the saving ``f C`` and the expected loss
    ``q (P + K)``, for a job of price ``P = price``, ``C = cost_share * P``, ``K = collateral_bps * P``."""
    cost, collateral = cost_share * price, collateral_bps / 10_000 * price
    rows = []
    for s in samples:
        for f in fractions:
            caught = 1.0 - escape_bound(f, s)
            rows.append(EconomicsRow(f, s, caught, f * cost, caught * (price + collateral)))
    return rows
