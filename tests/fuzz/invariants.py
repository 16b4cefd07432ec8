"""What must hold after every step of the fuzzer, checked against the chain in one batched round
trip (see tests/FUZZING.md for the list)."""

from __future__ import annotations

from hypothesis.stateful import invariant

from tests.fuzz.base import STATS, MachineBase
from tests.fuzz.params import NODES

RUNNING = ("accepted", "submitted", "disputed")
OWNED = ["ComputeStaking", "ModelNFT", "JobEscrow", "AttestationRegistry", "ModelMarketplace"]


class Invariants(MachineBase):
    @invariant()
    def chain_matches_model(self):
        w, m = self.w, self.m
        STATS["invariant_runs"] += 1
        token, staking, registry = (
            w.c[n].functions for n in ("ComputeToken", "ComputeStaking", "AttestationRegistry")
        )
        provs = list(m.providers.values())
        with w.w3.batch_requests() as batch:
            batch.add(w.w3.eth.get_block("latest"))
            batch.add(token.totalSupply())
            batch.add(staking.totalStaked())
            batch.add(staking.totalUnbonding())
            for a in w.tracked:
                batch.add(token.balanceOf(a))
            for p in provs:
                batch.add(staking.providerInfo(p.addr))
            for node in NODES:
                batch.add(registry.recordOf(node))
            for name in OWNED:
                batch.add(w.c[name].functions.owner())
            results = batch.execute()
        block, supply, total_staked, total_unbonding = results[:4]
        rest = results[4:]
        balances = dict(zip(w.tracked, rest[: len(w.tracked)], strict=True))
        rest = rest[len(w.tracked) :]
        infos, rest = rest[: len(provs)], rest[len(provs) :]
        records, owners = rest[: len(NODES)], rest[len(NODES) :]

        assert block["timestamp"] == m.now, "the model's clock drifted from the chain's"
        # total token supply conserved, and every tracked balance exactly as owed
        assert supply == w.supply
        assert sum(balances.values()) == supply, "tokens left the tracked accounts"
        for address, expected in m.balances.items():
            assert balances[address] == expected, (
                f"balance of {address}: chain {balances[address]}, model {expected}"
            )
        # escrow solvency
        # escrow solvency: every open budget and every open dispute's bond, nothing else
        open_budgets = sum(j.budget for j in m.jobs.values() if j.state != "closed")
        open_bonds = sum(j.bond for j in m.jobs.values() if j.state == "disputed")
        assert balances[w.addr["JobEscrow"]] >= open_budgets + open_bonds
        assert balances[w.addr["JobEscrow"]] == open_budgets + open_bonds
        # stake accounting
        staking_balance = balances[w.addr["ComputeStaking"]]
        assert staking_balance == sum(i[0] + i[2] for i in infos) == total_staked + total_unbonding
        for p, info in zip(provs, infos, strict=True):
            assert (info[0], info[1], info[2], info[4]) == (p.staked, p.locked, p.unbonding, len(p.nodes)), (
                p.addr
            )
        # collateral coverage: every provider's locked stake covers the collateral of its open jobs
        for p, info in zip(provs, infos, strict=True):
            owed = sum(j.collateral for j in m.jobs.values() if j.provider == p.addr and j.state in RUNNING)
            assert info[1] >= owed, f"{p.addr}: locked {info[1]} < collateral of its open jobs {owed}"
            assert info[1] == owed  # only jobs lock stake
        # fee accounting: the treasury holds exactly the fees and slash shares it was owed
        assert balances[w.timelock] == w.base.balances[w.timelock] + m.treasury_owed
        # no replayed attestation: stored epochs are the model's (which only ever increased)
        for node, rec in zip(NODES, records, strict=True):
            assert rec[1] == m.records.get(node, (None, 0))[1]
        # no admin power outside the timelock
        assert all(o == w.timelock for o in owners)
        self._sample_privileged_call()
        STATS["invariant_checks"] += 10

    def _sample_privileged_call(self) -> None:
        w = self.w
        calls = w.privileged
        i = (STATS["invariant_runs"] * 7) % len(calls)
        contract, fn, args, error, governor_ok = calls[i]
        senders = [w.actors["deployer"], w.actors["outsider"], w.actors["providers"][0], w.actors["arbiter"]]
        if governor_ok:
            senders.append(w.addr["ComputeGovernor"])
        sender = senders[STATS["invariant_runs"] % len(senders)]
        args = tuple(sender if a == "$" else a for a in args)
        got = w.simulate(getattr(w.c[contract].functions, fn)(*args), sender)
        assert got == error, f"{contract}.{fn} from {sender}: expected {error}, got {got or 'success'}"
        STATS["privileged_calls_refused"] += 1
