"""Fuzzed operations on ComputeStaking: stake, nodes, unbonding, withdrawal."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.base import MachineBase, op
from tests.fuzz.params import ETHER, GPU_MODEL, NODES, UUIDS


class StakingOps(MachineBase):
    @op(3, p=st.integers(0, 2), amount=st.integers(1, 20_000 * ETHER))
    def stake(self, p, amount):
        prov = self.m.providers[self.w.actors["providers"][p]]
        expected = "ERC20InsufficientBalance" if self.m.balances[prov.addr] < amount else None
        if self.expect(expected, "ComputeStaking", "stake", amount, sender=prov.addr):
            prov.staked += amount
            self.move(prov.addr, self.w.addr["ComputeStaking"], amount)

    @op(1, p=st.integers(0, 2), n=st.integers(0, len(NODES) - 1), spelling=st.integers(0, 7))
    def register_node(self, p, n, spelling):
        """Register GPU ``UUIDS[n]``; one time in eight spelt in upper case, which is refused."""
        prov = self.m.providers[self.w.actors["providers"][p]]
        node, uuid = NODES[n], UUIDS[n] if spelling else UUIDS[n].upper()
        if not spelling:
            expected = "ComputeStakingInvalidGpuUuid"
        elif node in self.m.node_owner:
            expected = "ComputeStakingNodeAlreadyRegistered"
        elif self.free(prov) < self.w.params["min_stake_per_gpu"]:
            expected = "ComputeStakingInsufficientFreeStake"
        else:
            expected = None
        if self.expect(
            expected, "ComputeStaking", "registerNode", uuid, GPU_MODEL, 81_559, "", sender=prov.addr
        ):
            self.m.node_owner[node] = prov.addr
            prov.nodes.add(node)

    @op(1, p=st.integers(0, 2), n=st.integers(0, len(NODES) - 1))
    def deregister_node(self, p, n):
        prov = self.m.providers[self.w.actors["providers"][p]]
        node = NODES[n]
        expected = None if self.m.node_owner.get(node) == prov.addr else "ComputeStakingNotNodeOwner"
        if self.expect(expected, "ComputeStaking", "deregisterNode", node, sender=prov.addr):
            del self.m.node_owner[node]
            prov.nodes.discard(node)

    @op(2, p=st.integers(0, 2), pct=st.integers(1, 120))
    def request_unbond(self, p, pct):
        prov = self.m.providers[self.w.actors["providers"][p]]
        amount = max(1, self.free(prov) * pct // 100)
        expected = "ComputeStakingInsufficientFreeStake" if amount > self.free(prov) else None
        t = self.t
        if self.expect(expected, "ComputeStaking", "requestUnbond", amount, sender=prov.addr):
            prov.staked -= amount
            prov.unbonding += amount
            prov.release = t + self.w.params["unbonding_period"]

    @op(1, p=st.integers(0, 5))
    def withdraw(self, p):
        unbonding = [q for q in self.m.providers.values() if q.unbonding]
        if unbonding and p < 3:
            prov = unbonding[p % len(unbonding)]
        else:
            prov = self.m.providers[self.w.actors["providers"][p % 3]]
        if prov.unbonding == 0:
            expected = "ComputeStakingNothingToWithdraw"
        elif self.t < prov.release:
            expected = "ComputeStakingStillUnbonding"
        else:
            expected = None
        if self.expect(expected, "ComputeStaking", "withdraw", sender=prov.addr):
            self.move(self.w.addr["ComputeStaking"], prov.addr, prov.unbonding)
            prov.unbonding = 0
            prov.release = 0
