"""The core of the fuzzer's state machine: one weighted rule that draws the operations, and the
money rules (fees, royalties, slashes, locks) applied to the model exactly as the contracts publish
them. The operations themselves live in the ``ops_*`` mixins, one per contract."""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from tests.fuzz.model import Job, Model, Prov
from tests.fuzz.params import BPS, ORACLE_SET, ZERO
from tests.fuzz.world import World
from tests.support.oracle import ORACLE_KEYS, OUTSIDER_KEYS

STATS: Counter = Counter()
_OPERATIONS: dict[type, list[tuple[str, object]]] = {}


def op(weight: int, pre=None, **strategies):
    """Mark a method as a fuzzed operation: drawn with `weight` (out of the total) by
    ``MachineBase.step`` when `pre(self)` holds, its arguments drawn from `strategies`.
    One weighted rule instead of many plain ones: hypothesis picks rules uniformly (and switches
    whole rules off per example), which starves the deep escrow and governance paths."""

    def mark(fn):
        fn.fuzz_op = (weight, pre, strategies)
        return fn

    return mark


class MachineBase(RuleBasedStateMachine):
    """One example = one sequence of operations from the same deployed base state."""

    world: World
    chain = None

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        self.snapshot = self.chain.snapshot()
        w.rpc("anvil_setBlockTimestampInterval", 1)
        self.m: Model = w.fresh_model()
        self.m.now = w.latest_timestamp()
        self.minted = 0
        self.proposals = 0
        STATS["sequences"] += 1

    def teardown(self) -> None:
        self.chain.restore(self.snapshot)

    # ------------------------------------------------------------------ model helpers

    @property
    def w(self) -> World:
        return self.world

    @property
    def t(self) -> int:
        """The timestamp the next transaction is mined with."""
        return self.m.now + 1

    def expect(self, expected, contract, fn, *args, sender) -> bool:
        STATS["transactions"] += 1
        if expected is not None:
            STATS["expected_reverts"] += 1
        ok = self.w.expect(self.m, expected, contract, fn, *args, sender=sender)
        STATS[f"rule:{fn}:{'ok' if ok else expected}"] += 1
        if ok:
            self.no_pay_to_the_party_at_fault()
        return ok

    def no_pay_to_the_party_at_fault(self) -> None:
        """Invariant on every mined transaction: no slash pays any share to the provider it slashes."""
        for ev in self.w.slashes_in(self.w.last_receipt):
            provider = ev.args.provider
            assert ev.args.finder != provider or ev.args.finderAmount == 0, f"finder share paid to {provider}"
            assert ev.args.harmed != provider or ev.args.harmedAmount == 0, f"harmed share paid to {provider}"
            STATS["slashes_checked_no_pay_to_fault"] += 1

    def move(self, frm: str, to: str, amount: int) -> None:
        self.m.balances[frm] -= amount
        self.m.balances[to] += amount
        if to == self.w.timelock:
            self.m.treasury_owed += amount

    def free(self, p: Prov) -> int:
        reserved = p.locked + len(p.nodes) * self.w.params["min_stake_per_gpu"]
        return max(p.staked - reserved, 0)

    def slash(self, p: Prov, amount: int, finder: str, harmed: str) -> int:
        """A fault slash: stake that is not locked (free, then unbonding), never a job's collateral."""
        from_staked = min(amount, p.staked - p.locked)
        p.staked -= from_staked
        from_unbonding = min(amount - from_staked, p.unbonding)
        p.unbonding -= from_unbonding
        return self._pay_slash(p, from_staked + from_unbonding, finder, harmed)

    def slash_locked(self, p: Prov, amount: int, finder: str, harmed: str) -> int:
        """A job's own collateral, whole (the escrow's slashLocked)."""
        assert p.locked >= amount, "a job's collateral was no longer locked"
        p.locked -= amount
        p.staked -= amount
        return self._pay_slash(p, amount, finder, harmed)

    def _pay_slash(self, p: Prov, slashed: int, finder: str, harmed: str) -> int:
        if harmed == p.addr:  # the party at fault earns no share of its own slash
            harmed = ZERO
        if finder == p.addr:  # ... its finder share goes to the harmed user (the treasury if none)
            finder = harmed
        staking = self.w.addr["ComputeStaking"]
        finder_amount = slashed * self.w.params["finder_share_bps"] // BPS if finder != ZERO else 0
        harmed_amount = slashed * self.w.params["harmed_share_bps"] // BPS if harmed != ZERO else 0
        if finder_amount:
            self.move(staking, finder, finder_amount)
        if harmed_amount:
            self.move(staking, harmed, harmed_amount)
        self.move(staking, self.w.timelock, slashed - finder_amount - harmed_amount)
        return slashed

    def pay(self, job: Job, price: int) -> None:
        escrow = self.w.addr["JobEscrow"]
        fee = price * self.w.params["fee_bps"] // BPS
        self.move(escrow, self.w.timelock, fee)
        receiver, bps = job.royalty  # the terms snapshotted at post time
        royalty = min(price * bps // BPS, price - fee)
        if royalty:
            self.move(escrow, receiver, royalty)
        self.move(escrow, job.provider, price - fee - royalty)

    def unlock(self, p: Prov, amount: int) -> None:
        assert p.locked >= amount, "a job's collateral was no longer locked"
        p.locked -= amount

    def job_ids(self):
        return sorted(self.m.jobs)

    def pick_job(self, i: int, *states: str) -> tuple[int, Job]:
        """Job number `i` (modulo) among the jobs in `states` when there are any (aimed draws reach
        deep paths), else among all jobs (every wrong-state revert stays reachable)."""
        ids = self.job_ids()
        aimed = [jid for jid in ids if self.m.jobs[jid].state in states]
        pool = aimed if aimed and i % 5 != 4 else ids  # small draws (hypothesis' favourites) aim
        jid = pool[(i // 5) % len(pool)]
        return jid, self.m.jobs[jid]

    def signatures(self, digest, mode, sign) -> tuple[list[bytes], str | None]:
        """Signatures for `mode` and the error the registry must give (None: a valid quorum).
        `sign(key)` returns an object with `.signer` and `.signature`."""
        valid = sorted((sign(k) for k in ORACLE_SET), key=lambda s: int(s.signer, 16))
        if mode == "quorum":
            return [s.signature for s in valid[:2]], None
        if mode == "all":
            return [s.signature for s in valid], None
        if mode == "duplicate":
            return [valid[0].signature, valid[0].signature], "AttestationRegistrySignersNotAscending"
        if mode == "descending":
            return [valid[1].signature, valid[0].signature], "AttestationRegistrySignersNotAscending"
        if mode == "too_few":
            return [valid[0].signature], "AttestationRegistryTooFewSignatures"
        stranger = sign(OUTSIDER_KEYS[0] if digest[0] % 2 else ORACLE_KEYS[3])
        mixed = sorted([valid[0], stranger], key=lambda s: int(s.signer, 16))
        return [s.signature for s in mixed], "AttestationRegistryUnknownSigner"

    def escrow_status(self, job: Job) -> str:
        return {"open": "Open", "accepted": "Accepted"}.get(job.state, job.state)

    @classmethod
    def operations(cls) -> list[tuple[str, object]]:
        """Every operation of the final machine class, plain time travel first (shrinking aims there)."""
        if cls not in _OPERATIONS:
            found = [(n, getattr(cls, n)) for n in dir(cls) if hasattr(getattr(cls, n), "fuzz_op")]
            _OPERATIONS[cls] = sorted(found, key=lambda item: (item[0] != "time_travel", item[0]))
        return _OPERATIONS[cls]

    @rule(data=st.data())
    def step(self, data):
        ops = [(n, fn) for n, fn in self.operations() if fn.fuzz_op[1] is None or fn.fuzz_op[1](self)]
        names = [name for name, fn in ops for _ in range(fn.fuzz_op[0])]
        name = data.draw(st.sampled_from(names), label="operation")
        fn = dict(ops)[name]
        kwargs = {k: data.draw(strategy, label=k) for k, strategy in fn.fuzz_op[2].items()}
        getattr(self, name)(**kwargs)
