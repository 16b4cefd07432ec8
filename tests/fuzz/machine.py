"""``ProtocolMachine``: the fuzzer's operations per contract and its invariants put together."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.base import op
from tests.fuzz.invariants import Invariants
from tests.fuzz.ops_escrow import EscrowOps
from tests.fuzz.ops_market import MarketOps
from tests.fuzz.ops_oracle import OracleOps
from tests.fuzz.ops_staking import StakingOps


class ProtocolMachine(StakingOps, EscrowOps, MarketOps, OracleOps, Invariants):
    """One example = one sequence of operations from the same deployed base state."""

    @op(4, dt=st.sampled_from([1, 59, 600, 601, 3_600, 3_601, 86_400, 8 * 86_400, 15 * 86_400]))
    def time_travel(self, dt):
        self.w.set_time(self.m.now + dt)
        self.m.now += dt
