"""The sampling check's odds measured against the exact ones, and the economics that set the
defaults: at the default collateral (50%) and s = 16, cheating never pays."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.client.jobs import DEFAULT_SAMPLES
from oracle.client.sampling import (
    DEFAULT_COLLATERAL_BPS,
    cheating_gain,
    economics_table,
    escape_bound,
    measured_pass_rate,
    pass_probability,
)
from tests.conftest import CORE_PARAMS


@pytest.mark.parametrize(("wrong", "samples"), [(1, 16), (18, 16), (36, 16), (90, 4), (180, 16)])
def test_measured_pass_rate_matches_the_exact_odds(wrong, samples):
    n, trials = 360, 5000
    exact = pass_probability(n, wrong, samples)
    measured = measured_pass_rate(n, wrong, samples, trials, np.random.default_rng(wrong * 100 + samples))
    sigma = max((exact * (1 - exact) / trials) ** 0.5, 1 / trials)
    assert abs(measured - exact) <= 5 * sigma
    assert exact <= escape_bound(wrong / n, samples) + 1e-12


def test_one_wrong_item_in_360_escapes_16_samples_most_of_the_time():
    assert pass_probability(360, 1, 16) == pytest.approx(344 / 360)
    assert escape_bound(1 / 360, 16) == pytest.approx(0.9565, abs=1e-4)


def test_cheating_never_pays_at_the_default_collateral_and_samples():
    assert DEFAULT_SAMPLES == 16 and CORE_PARAMS["collateral_bps"] == DEFAULT_COLLATERAL_BPS
    for f in np.linspace(0.001, 1.0, 400):
        for cost_share in (0.1, 0.5, 0.8, 1.0):
            assert cheating_gain(float(f), DEFAULT_SAMPLES, 1.0, cost_share, 0.5) < 0
    rows = economics_table()
    assert rows and all(r.gain < 0 for r in rows)


def test_a_requester_who_rarely_checks_makes_small_cheats_pay():
    # checked in 1 job of 100, skipping 1% of the work pays: the table's rule needs r > C / (P + K)
    assert cheating_gain(0.01, 16, 1.0, 0.8, 0.5, check_rate=0.01) > 0
    assert cheating_gain(0.01, 16, 1.0, 0.8, 0.5, check_rate=0.8 / 1.5 / 0.9) < 0
