"""Stateful fuzzing of the whole governed protocol (staking, escrow, attestations, marketplace,
governance together, deployed by ``deploy_governed_protocol``).

A hypothesis ``RuleBasedStateMachine`` lets random actors (three providers, two requesters, two
creators, a buyer, an outsider, the arbiter, the oracles signing with their dev keys through
oracle/attest.py, and governance through real proposals) run random operations, time travel
included. Every transaction's outcome (success, or the exact custom error) is predicted by a Python
model before it is sent, and after EVERY step the invariants below are checked against the chain:

- escrow solvency: the escrow's token balance == (so >=) the sum of the budgets of open jobs;
- stake accounting: the staking balance == sum(staked + unbonding) == totalStaked + totalUnbonding,
  and every provider's staked / locked / unbonding equals the model's;
- fee accounting to the wei: the treasury (timelock) balance == the fees and slash shares it was
  owed, and every tracked account's balance equals the model's;
- no replayed attestation: each node's stored epoch equals the model's, accepted epochs strictly
  increase, and replays revert with ``AttestationRegistryStaleEpoch``;
- no admin power outside the timelock: every owned contract's owner is the timelock and a sampled
  privileged call from a non-timelock account (deployer, outsider, provider, arbiter, governor)
  reverts with its access-control error;
- total token supply conserved: totalSupply is constant and equals the sum of the tracked balances.

The machine lives in the package tests/fuzz/ (model, operations per contract, invariants); this
file is its pytest entry.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default, 25 sequences x 30 steps) and ``long``
(``make fuzz``: 1000 sequences x 50 steps; ``FUZZ_EXAMPLES`` overrides the count). Counts are
written to ``test-artifacts/fuzz-stats.json`` and printed at the end. See tests/FUZZING.md.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.fuzz.base import STATS
from tests.fuzz.machine import ProtocolMachine
from tests.fuzz.setup import build_world
from tests.fuzz.stats import STATS_FILE, write_stats

settings.register_profile(
    "ci",
    max_examples=15,  # a smoke run inside make test's 10 minutes; `make fuzz` is the long run
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    PROFILE = "ci"


@pytest.fixture(scope="module")
def world(accounts, networks, chain):
    """The world, built eagerly at module scope (outside any per-example snapshot)."""
    return build_world(accounts, networks, chain)


def test_protocol_invariants_hold_under_random_operations(world, chain):
    ProtocolMachine.world = world
    ProtocolMachine.chain = chain
    STATS.clear()
    t0 = time.monotonic()
    try:
        run_state_machine_as_test(ProtocolMachine, settings=settings.get_profile(PROFILE))
    finally:
        world.rpc("anvil_removeBlockTimestampInterval")
        stats = write_stats(PROFILE, time.monotonic() - t0)
        print(
            f"\nfuzz ({PROFILE}): {stats['sequences']} sequences, {stats['steps']} steps, "
            f"{stats['invariant_checks']} invariant checks, {stats['transactions']} transactions "
            f"({stats['expected_reverts']} predicted reverts) in {stats['seconds']} s -> {STATS_FILE}"
        )
    assert STATS["sequences"] > 0 and STATS["invariant_runs"] > STATS["sequences"]
