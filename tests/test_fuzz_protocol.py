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

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default, 25 sequences x 30 steps) and ``long``
(``make fuzz``: 1000 sequences x 50 steps; ``FUZZ_EXAMPLES`` overrides the count). Counts are
written to ``test-artifacts/fuzz-stats.json`` and printed at the end. See tests/FUZZING.md.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from oracle.attest import (
    Attestation,
    Domain,
    Fault,
    attestation_digest,
    fault_digest,
    fault_struct_hash,
    gpu_model_bytes32,
    sign_attestation,
    sign_fault,
)
from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.fuzz_world import (
    BPS,
    DISPUTE_TIMEOUT,
    ETHER,
    EXPIRED_SHARE_BPS,
    FUNDING,
    FUZZ_PARAMS,
    GPU_MODEL,
    ZERO,
    Job,
    Model,
    Prov,
    World,
    impersonate,
    node_ids,
)
from tests.oracle_helpers import ORACLE_KEYS, ORACLES, OUTSIDER_KEYS

settings.register_profile(
    "ci",
    max_examples=25,
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

ROOT = Path(__file__).resolve().parents[1]
STATS_FILE = ROOT / "test-artifacts" / "fuzz-stats.json"
NODES = node_ids(4)
ORACLE_SET = ORACLE_KEYS[:3]  # registry oracles (threshold 2); ORACLE_KEYS[3:] are not in the set
SCORE = 9_000
#: how an attestation is signed: mostly a valid quorum, else each way the registry must refuse
SIGNER_MODES = ["quorum"] * 6 + ["all", "duplicate", "too_few", "outsider", "descending"]
BASE_STAKE = 20_000 * ETHER
STATS: Counter = Counter()


def op(weight: int, pre=None, **strategies):
    """Mark a method as a fuzzed operation: drawn with `weight` (out of the total) by
    ``ProtocolMachine.step`` when `pre(self)` holds, its arguments drawn from `strategies`.
    One weighted rule instead of many plain ones: hypothesis picks rules uniformly (and switches
    whole rules off per example), which starves the deep escrow and governance paths."""

    def mark(fn):
        fn.fuzz_op = (weight, pre, strategies)
        return fn

    return mark


def _owned() -> list[str]:
    return ["ComputeStaking", "ModelNFT", "JobEscrow", "AttestationRegistry", "ModelMarketplace"]


@pytest.fixture(scope="module")
def world(accounts, networks, chain):
    """The governed protocol, funded actors with standing approvals, the base model. Built eagerly
    at module scope (outside any per-example snapshot)."""
    deployer = accounts[0]
    arbiter = to_checksum_address(keccak(text="fuzz-arbiter")[:20])
    params = {
        **DAO_DEVNET,
        **FUZZ_PARAMS,
        "oracles": [to_checksum_address(o) for o in ORACLES[:3]],
        "arbiters": [arbiter],
    }
    contracts = deploy_governed_protocol(deployer, params)
    w3 = networks.provider.web3
    actors = {
        "deployer": deployer.address,
        "providers": [accounts[i].address for i in (1, 2, 3)],
        "requesters": [accounts[i].address for i in (4, 5)],
        "holders": [accounts[i].address for i in (6, 7, 8)],  # creators 6, 7; buyer 8
        "outsider": accounts[9].address,
        "arbiter": arbiter,
    }
    w = World(contracts, w3, actors, params)
    impersonate(w, arbiter)
    impersonate(w, w.addr["ComputeGovernor"])
    token = w.c["ComputeToken"].functions
    everyone = actors["providers"] + actors["requesters"] + actors["holders"] + [actors["outsider"], arbiter]
    max_uint = 2**256 - 1
    for who in everyone:
        token.transfer(who, FUNDING).transact({"from": deployer.address})
    token.delegate(deployer.address).transact({"from": deployer.address})
    for p in actors["providers"]:
        token.approve(w.addr["ComputeStaking"], max_uint).transact({"from": p})
    for r in actors["requesters"]:
        token.approve(w.addr["JobEscrow"], max_uint).transact({"from": r})
    for h in actors["holders"]:
        token.approve(w.addr["ModelMarketplace"], max_uint).transact({"from": h})
        w.c["ModelNFT"].functions.setApprovalForAll(w.addr["ModelMarketplace"], True).transact({"from": h})
    # Base state: every provider has staked BASE_STAKE and registered one node (NODES[i]).
    providers = {p: Prov(p) for p in actors["providers"]}
    node_owner = {}
    for i, p in enumerate(actors["providers"]):
        w.c["ComputeStaking"].functions.stake(BASE_STAKE).transact({"from": p})
        w.c["ComputeStaking"].functions.registerNode(NODES[i], GPU_MODEL, 81_559, "").transact({"from": p})
        providers[p].staked = BASE_STAKE
        providers[p].nodes.add(NODES[i])
        node_owner[NODES[i]] = p
    jobs = base_jobs(w, providers)
    chain.mine()
    balances = {a: token.balanceOf(a).call() for a in w.tracked}
    w.base = Model(
        now=w.latest_timestamp(), balances=balances, providers=providers, node_owner=node_owner, jobs=jobs
    )
    w.domain = Domain(w3.eth.chain_id, w.addr["AttestationRegistry"])
    w.privileged = privileged_calls(w)
    yield w


def base_jobs(w: World, providers: dict[str, Prov]) -> dict[int, Job]:
    """Jobs every sequence starts with, one per lifecycle state (open, accepted, submitted,
    disputed), so that short sequences reach settlement, disputes and governance resolution."""
    escrow = w.c["JobEscrow"].functions
    requesters, provs = w.actors["requesters"], w.actors["providers"]
    jobs: dict[int, Job] = {}

    def mined_at(tx_hash) -> int:
        receipt = w.w3.eth.wait_for_transaction_receipt(tx_hash)
        return int(w.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    for jid, state in enumerate(["open", "accepted", "submitted", "disputed"], start=1):
        requester, budget = requesters[jid % 2], jid * 1_000 * ETHER
        deadline = w.latest_timestamp() + 2 * 86_400
        escrow.postJob(budget, deadline, 0, 0, b"\x01" * 32).transact({"from": requester})
        job = Job(requester, budget, deadline, 0, 0, budget * w.params["collateral_bps"] // BPS)
        if state != "open":
            p = provs[jid - 2]
            escrow.acceptJob(jid, NODES[jid - 2], b"").transact({"from": p})
            job.provider, job.state = p, "accepted"
            providers[p].locked += job.collateral
        if state in ("submitted", "disputed"):
            t = mined_at(escrow.submitResult(jid, b"\x02" * 32).transact({"from": job.provider}))
            job.state, job.end = "submitted", t + w.params["challenge_window"]
        if state == "disputed":
            t = mined_at(escrow.dispute(jid, b"\x03" * 32).transact({"from": requester}))
            job.state, job.end = "disputed", t + DISPUTE_TIMEOUT
        jobs[jid] = job
    return jobs


def privileged_calls(w: World) -> list[tuple[str, str, tuple, str, bool]]:
    """(contract, function, args, expected error, may the governor send it) for the sampled
    "no admin power outside the timelock" check. `args` may use the sender placeholder "$"."""
    role = w.c["Treasury"].functions
    proposer, executor, admin = (
        role.PROPOSER_ROLE().call(),
        role.EXECUTOR_ROLE().call(),
        role.DEFAULT_ADMIN_ROLE().call(),
    )
    p0 = w.actors["providers"][0]
    own = "OwnableUnauthorizedAccount"
    calls = [
        ("ComputeStaking", "setMinStakePerGpu", (0,), own, True),
        ("ComputeStaking", "setTreasury", ("$",), own, True),
        ("ComputeStaking", "setSlasher", ("$", True), own, True),
        ("ComputeStaking", "setLocker", ("$", True), own, True),
        ("ComputeStaking", "slash", (p0, 1, "$", "$"), "ComputeStakingNotSlasher", True),
        ("ComputeStaking", "lockStake", (p0, 1), "ComputeStakingNotLocker", True),
        ("JobEscrow", "setFeeBps", (0,), own, True),
        ("JobEscrow", "setTreasury", ("$",), own, True),
        ("JobEscrow", "setArbiter", ("$", True), own, True),
        ("JobEscrow", "setScoreOracle", ("$",), own, True),
        ("ModelNFT", "setMaxRoyaltyBps", (5_000,), own, True),
        ("AttestationRegistry", "addOracle", ("$",), own, True),
        ("AttestationRegistry", "setThreshold", (1,), own, True),
        ("ModelMarketplace", "setFeeBps", (0,), own, True),
        ("ModelMarketplace", "setTreasury", ("$",), own, True),
        ("ComputeStaking", "transferOwnership", ("$",), own, True),
        ("JobEscrow", "transferOwnership", ("$",), own, True),
        ("Treasury", "updateDelay", (0,), "TimelockUnauthorizedCaller", True),
        ("Treasury", "grantRole", (proposer, "$"), "AccessControlUnauthorizedAccount", True),
        ("Treasury", "grantRole", (admin, "$"), "AccessControlUnauthorizedAccount", True),
        (
            "Treasury",
            "schedule",
            (p0, 0, b"", b"\0" * 32, b"\0" * 32, 10),
            "AccessControlUnauthorizedAccount",
            False,
        ),
        (
            "Treasury",
            "execute",
            (p0, 0, b"", b"\0" * 32, b"\0" * 32),
            "AccessControlUnauthorizedAccount",
            False,
        ),
        ("ComputeGovernor", "setVotingDelay", (0,), "GovernorOnlyExecutor", True),
        ("ComputeGovernor", "setProposalThreshold", (0,), "GovernorOnlyExecutor", True),
    ]
    del executor
    return calls


class ProtocolMachine(RuleBasedStateMachine):
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
        return ok

    def move(self, frm: str, to: str, amount: int) -> None:
        self.m.balances[frm] -= amount
        self.m.balances[to] += amount
        if to == self.w.timelock:
            self.m.treasury_owed += amount

    def free(self, p: Prov) -> int:
        reserved = p.locked + len(p.nodes) * self.w.params["min_stake_per_gpu"]
        return max(p.staked - reserved, 0)

    def slash(self, p: Prov, amount: int, finder: str, harmed: str) -> int:
        from_staked = min(amount, p.staked)
        p.locked -= min(from_staked, p.locked)
        p.staked -= from_staked
        from_unbonding = min(amount - from_staked, p.unbonding)
        p.unbonding -= from_unbonding
        slashed = from_staked + from_unbonding
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
        royalty = 0
        nft = self.m.nfts.get(job.model_id)
        if nft is not None and nft["bps"]:
            royalty = min(price * nft["bps"] // BPS, price - fee)
            self.move(escrow, nft["receiver"], royalty)
        self.move(escrow, job.provider, price - fee - royalty)

    def unlock(self, p: Prov, amount: int) -> None:
        p.locked -= min(amount, p.locked)

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

    def escrow_status(self, job: Job) -> str:
        return {"open": "Open", "accepted": "Accepted"}.get(job.state, job.state)

    @rule(data=st.data())
    def step(self, data):
        ops = [(name, fn) for name, fn in OPERATIONS if fn.fuzz_op[1] is None or fn.fuzz_op[1](self)]
        names = [name for name, fn in ops for _ in range(fn.fuzz_op[0])]
        name = data.draw(st.sampled_from(names), label="operation")
        fn = dict(ops)[name]
        kwargs = {k: data.draw(strategy, label=k) for k, strategy in fn.fuzz_op[2].items()}
        getattr(self, name)(**kwargs)

    # ------------------------------------------------------------------ staking

    @op(3, p=st.integers(0, 2), amount=st.integers(1, 20_000 * ETHER))
    def stake(self, p, amount):
        prov = self.m.providers[self.w.actors["providers"][p]]
        expected = "ERC20InsufficientBalance" if self.m.balances[prov.addr] < amount else None
        if self.expect(expected, "ComputeStaking", "stake", amount, sender=prov.addr):
            prov.staked += amount
            self.move(prov.addr, self.w.addr["ComputeStaking"], amount)

    @op(1, p=st.integers(0, 2), n=st.integers(0, len(NODES) - 1))
    def register_node(self, p, n):
        prov = self.m.providers[self.w.actors["providers"][p]]
        node = NODES[n]
        if node in self.m.node_owner:
            expected = "ComputeStakingNodeAlreadyRegistered"
        elif self.free(prov) < self.w.params["min_stake_per_gpu"]:
            expected = "ComputeStakingInsufficientFreeStake"
        else:
            expected = None
        if self.expect(
            expected, "ComputeStaking", "registerNode", node, GPU_MODEL, 81_559, "", sender=prov.addr
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

    # ------------------------------------------------------------------ escrow

    @op(
        4,
        r=st.integers(0, 1),
        budget=st.integers(1, 20_000 * ETHER),
        duration=st.sampled_from([3_600, 600, 86_400, 60]),
        min_score=st.sampled_from([0, 0, 0, 0, 1, SCORE, SCORE + 1]),
        model=st.integers(-1, 3),
    )
    def post_job(self, r, budget, duration, min_score, model):
        requester = self.w.actors["requesters"][r]
        nft_ids = sorted(self.m.nfts)
        model_id = 0 if model < 0 else (nft_ids[model % len(nft_ids)] if nft_ids else 12345)
        deadline = self.t + duration
        expected = "ERC20InsufficientBalance" if self.m.balances[requester] < budget else None
        args = (budget, deadline, min_score, model_id, b"\x01" * 32)
        if self.expect(expected, "JobEscrow", "postJob", *args, sender=requester):
            jid = len(self.m.jobs) + 1
            collateral = budget * self.w.params["collateral_bps"] // BPS
            self.m.jobs[jid] = Job(requester, budget, deadline, min_score, model_id, collateral)
            self.move(requester, self.w.addr["JobEscrow"], budget)

    @op(1, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def cancel_job(self, j, other):
        jid, job = self.pick_job(j, "open")
        sender, expected = self._requester_call(job, other, "open")
        if self.expect(expected, "JobEscrow", "cancelJob", jid, sender=sender):
            job.state = "closed"
            self.move(self.w.addr["JobEscrow"], job.requester, job.budget)

    def _other_requester(self, requester: str) -> str:
        return next(r for r in self.w.actors["requesters"] if r != requester)

    def _requester_call(self, job: Job, other: bool, state: str) -> tuple[str, str | None]:
        """Sender of a requester-only call (the job's requester, or another requester when
        ``other``) and the first error the escrow must give for it (None: it passes)."""
        sender = self._other_requester(job.requester) if other else job.requester
        if job.state != state:
            return sender, "JobEscrowWrongStatus"
        if sender != job.requester:
            return sender, "JobEscrowNotRequester"
        return sender, None

    @op(
        8,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        p=st.integers(0, 2),
        n=st.integers(0, len(NODES) - 1),
    )
    def accept_job(self, j, p, n):
        jid, job = self.pick_job(j, "open")
        prov = self.m.providers[self.w.actors["providers"][p]]
        own = sorted(prov.nodes)
        node = own[n % len(own)] if own and n != 3 else NODES[n]
        t = self.t
        rec = self.m.records.get(node)
        if job.state != "open":
            expected = "JobEscrowWrongStatus"
        elif t > job.deadline:
            expected = "JobEscrowDeadlinePassed"
        elif self.m.node_owner.get(node) != prov.addr:
            expected = "JobEscrowNotNodeOwner"
        elif job.min_score > 0 and (rec is None or rec[0] != prov.addr):
            expected = "AttestationRegistryNoRecord"
        elif job.min_score > 0 and rec[2] <= t:
            expected = "AttestationRegistryExpired"
        elif job.min_score > 0 and rec[3] < job.min_score:
            expected = "AttestationRegistryScoreTooLow"
        elif job.collateral > self.free(prov):
            expected = "ComputeStakingInsufficientFreeStake"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "acceptJob", jid, node, b"", sender=prov.addr):
            job.provider = prov.addr
            job.state = "accepted"
            prov.locked += job.collateral

    @op(8, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def submit_result(self, j, other):
        jid, job = self.pick_job(j, "accepted")
        providers = self.w.actors["providers"]
        sender = job.provider or providers[0]
        if other:
            sender = next(p for p in providers if p != sender)
        t = self.t
        if job.state != "accepted":
            expected = "JobEscrowWrongStatus"
        elif sender != job.provider:
            expected = "JobEscrowNotProvider"
        elif t > job.deadline:
            expected = "JobEscrowDeadlinePassed"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "submitResult", jid, b"\x02" * 32, sender=sender):
            job.state = "submitted"
            job.end = t + self.w.params["challenge_window"]

    def _settle(self, job: Job) -> None:
        job.state = "closed"
        self.pay(job, job.budget)
        self.unlock(self.m.providers[job.provider], job.collateral)

    @op(2, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def approve_result(self, j, other):
        jid, job = self.pick_job(j, "submitted")
        sender, expected = self._requester_call(job, other, "submitted")
        if self.expect(expected, "JobEscrow", "approveResult", jid, sender=sender):
            self._settle(job)

    @op(5, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def dispute(self, j, other):
        jid, job = self.pick_job(j, "submitted")
        sender, expected = self._requester_call(job, other, "submitted")
        if expected is None and self.t > job.end:
            expected = "JobEscrowChallengeWindowClosed"
        if self.expect(expected, "JobEscrow", "dispute", jid, b"\x03" * 32, sender=sender):
            job.state, job.end = "disputed", self.t + DISPUTE_TIMEOUT

    @op(3, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6))
    def finalize(self, j):
        jid, job = self.pick_job(j, "submitted")
        if job.state != "submitted":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.end:
            expected = "JobEscrowChallengeWindowOpen"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "finalize", jid, sender=self.w.actors["outsider"]):
            self._settle(job)

    @op(2, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6))
    def claim_timeout(self, j):
        jid, job = self.pick_job(j, "accepted")
        outsider = self.w.actors["outsider"]
        if job.state != "accepted":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.deadline:
            expected = "JobEscrowDeadlineNotPassed"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "claimTimeout", jid, sender=outsider):
            job.state = "closed"
            self.move(self.w.addr["JobEscrow"], job.requester, job.budget)
            if job.collateral:
                self.slash(self.m.providers[job.provider], job.collateral, outsider, job.requester)

    def _resolution_error(self, job: Job, share: int, slash: int) -> str | None:
        if job.state != "disputed":
            return "JobEscrowWrongStatus"
        if share > BPS:
            return "JobEscrowInvalidShare"
        if slash > job.collateral:
            return "JobEscrowSlashExceedsCollateral"
        return None

    def _resolve_model(self, job: Job, share: int, slash: int) -> None:
        job.state = "closed"
        price = job.budget * share // BPS
        if price:
            self.pay(job, price)
        if job.budget - price:
            self.move(self.w.addr["JobEscrow"], job.requester, job.budget - price)
        prov = self.m.providers[job.provider]
        if slash:
            self.slash(prov, slash, job.requester, job.requester)
        if job.collateral > slash:
            self.unlock(prov, job.collateral - slash)

    @op(
        3,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        share=st.integers(0, BPS + 1),
        slash_pct=st.integers(0, 101),
    )
    def resolve_by_arbiter(self, j, share, slash_pct):
        jid, job = self.pick_job(j, "disputed")
        slash = job.collateral * slash_pct // 100 + (1 if slash_pct == 101 else 0)
        expected = self._resolution_error(job, share, slash)
        args = (jid, share, slash)
        if self.expect(expected, "JobEscrow", "resolveDispute", *args, sender=self.w.actors["arbiter"]):
            self._resolve_model(job, share, slash)

    @op(2, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), wait=st.booleans())
    def expire_dispute(self, j, wait):
        """Anyone closes a dispute nobody resolved in time: 50/50, collateral unlocked, no slash.
        With ``wait`` the arbiters' 14 days first pass without a decision."""
        jid, job = self.pick_job(j, "disputed")
        if wait and job.state == "disputed" and self.t <= job.end:
            self.w.set_time(job.end)  # the next transaction is mined at job.end + 1
            self.m.now = self.w.latest_timestamp()
        if job.state != "disputed":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.end:
            expected = "JobEscrowDisputeNotExpired"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "expireDispute", jid, sender=self.w.actors["outsider"]):
            self._resolve_model(job, EXPIRED_SHARE_BPS, 0)

    @op(
        3,
        pre=lambda self: any(j.state == "disputed" for j in self.m.jobs.values()),
        j=st.integers(0, 10**6),
        share=st.integers(0, BPS),
        slash_pct=st.integers(0, 100),
    )
    def resolve_through_governance(self, j, share, slash_pct):
        """A full proposal: propose, vote, queue, wait the timelock delay, execute."""
        disputed = [jid for jid in self.job_ids() if self.m.jobs[jid].state == "disputed"]
        jid = disputed[j % len(disputed)]
        job = self.m.jobs[jid]
        slash = job.collateral * slash_pct // 100
        w, voter = self.w, self.w.actors["deployer"]
        calldata = w.c["JobEscrow"].encode_abi("resolveDispute", args=[jid, share, slash])
        self.proposals += 1
        description = f"fuzz: resolve job {jid} ({self.proposals}, {self.m.now})"
        targets, values, calldatas = [w.addr["JobEscrow"]], [0], [calldata]
        dhash = keccak(text=description)
        gov = w.c["ComputeGovernor"].functions
        assert self.expect(
            None, "ComputeGovernor", "propose", targets, values, calldatas, description, sender=voter
        )
        pid = gov.hashProposal(targets, values, calldatas, dhash).call()
        w.set_time(gov.proposalSnapshot(pid).call() + 1)
        assert self.expect(None, "ComputeGovernor", "castVote", pid, 1, sender=voter)
        w.set_time(gov.proposalDeadline(pid).call() + 1)
        assert self.expect(None, "ComputeGovernor", "queue", targets, values, calldatas, dhash, sender=voter)
        w.set_time(gov.proposalEta(pid).call())
        self.m.now = w.latest_timestamp()
        assert self.expect(
            None, "ComputeGovernor", "execute", targets, values, calldatas, dhash, sender=voter
        )
        self._resolve_model(job, share, slash)
        STATS["governance_proposals_executed"] += 1

    # ------------------------------------------------------------------ models and marketplace

    @op(
        2,
        c=st.integers(0, 1),
        bps=st.sampled_from([0, 300, 1_000, 1_500]),
        receiver_other=st.booleans(),
        reuse=st.booleans(),
    )
    def mint(self, c, bps, receiver_other, reuse):
        creators = self.w.actors["holders"][:2]
        creator = creators[c]
        receiver = creators[1 - c] if receiver_other else creator
        if reuse and self.m.nfts:
            weights = sorted(self.m.nfts)[0].to_bytes(32, "big")
        else:
            self.minted += 1
            weights = keccak(text=f"fuzz-weights-{self.minted}")
        model_id = int.from_bytes(weights, "big")
        if bps > 1_000:
            expected = "ModelNFTRoyaltyTooHigh"
        elif model_id in self.m.nfts:
            expected = "ModelNFTAlreadyMinted"
        else:
            expected = None
        args = (creator, weights, "ipfs://fuzz", receiver, bps)
        if self.expect(expected, "ModelNFT", "mint", *args, sender=creator):
            self.m.nfts[model_id] = {"owner": creator, "receiver": receiver if bps else ZERO, "bps": bps}

    @op(
        3,
        pre=lambda self: self.m.nfts,
        i=st.integers(0, 10**6),
        h=st.integers(0, 2),
        price=st.integers(0, 50_000 * ETHER),
    )
    def list_model(self, i, h, price):
        model_id = sorted(self.m.nfts)[i % len(self.m.nfts)]
        owner = self.m.nfts[model_id]["owner"]
        seller = owner if i % 4 != 3 else self.w.actors["holders"][h]
        if price == 0:
            expected = "ModelMarketplaceZeroPrice"
        elif owner != seller:
            expected = "ModelMarketplaceNotOwner"
        else:
            expected = None
        if self.expect(
            expected, "ModelMarketplace", "list", self.w.addr["ModelNFT"], model_id, price, sender=seller
        ):
            self.m.listings[model_id] = (seller, price)

    @op(3, pre=lambda self: self.m.nfts, i=st.integers(0, 10**6), h=st.integers(0, 2))
    def buy_model(self, i, h):
        listed = sorted(self.m.listings)
        aim = listed and i % 4 != 3
        model_id = listed[i % len(listed)] if aim else sorted(self.m.nfts)[i % len(self.m.nfts)]
        buyer = self.w.actors["holders"][h]
        listing = self.m.listings.get(model_id)
        price = listing[1] if listing else 1
        if listing is None:
            expected = "ModelMarketplaceNotListed"
        elif buyer == listing[0]:
            expected = "ModelMarketplaceSelfBuy"
        elif self.m.balances[buyer] < price:
            expected = "ERC20InsufficientBalance"
        else:
            expected = None
        if self.expect(
            expected, "ModelMarketplace", "buy", self.w.addr["ModelNFT"], model_id, price, sender=buyer
        ):
            seller = listing[0]
            nft = self.m.nfts[model_id]
            fee = price * self.w.params["market_fee_bps"] // BPS
            royalty = price * nft["bps"] // BPS if nft["bps"] else 0
            if royalty:
                self.move(buyer, nft["receiver"], royalty)
            self.move(buyer, self.w.timelock, fee)
            self.move(buyer, seller, price - fee - royalty)
            nft["owner"] = buyer
            del self.m.listings[model_id]
            STATS["marketplace_sales"] += 1

    @op(1, pre=lambda self: self.m.nfts, i=st.integers(0, 10**6), h=st.integers(0, 2))
    def cancel_listing(self, i, h):
        model_id = sorted(self.m.nfts)[i % len(self.m.nfts)]
        seller = self.w.actors["holders"][h]
        listing = self.m.listings.get(model_id)
        if listing is None:
            expected = "ModelMarketplaceNotListed"
        elif listing[0] != seller:
            expected = "ModelMarketplaceNotSeller"
        else:
            expected = None
        if self.expect(
            expected, "ModelMarketplace", "cancel", self.w.addr["ModelNFT"], model_id, sender=seller
        ):
            del self.m.listings[model_id]

    # ------------------------------------------------------------------ attestations and faults

    @op(
        6,
        n=st.integers(0, len(NODES) - 1),
        p=st.integers(0, 2),
        epoch_mode=st.sampled_from(["next", "next", "gap", "replay", "older"]),
        signers=st.integers(0, len(SIGNER_MODES) - 1).map(SIGNER_MODES.__getitem__),
        expiry_mode=st.sampled_from(["valid", "valid", "past", "too_far"]),
        score=st.sampled_from([SCORE, SCORE, 1, 0]),
        submitter=st.integers(0, 2),
    )
    def submit_attestation(self, n, p, epoch_mode, signers, expiry_mode, score, submitter):
        node = NODES[n]
        owner = self.m.node_owner.get(node)
        provider = owner if owner and p != 2 else self.w.actors["providers"][p]
        last = self.m.records.get(node, (None, 0, 0, 0))[1]
        epoch = {"next": last + 1, "gap": last + 7, "replay": last, "older": max(last - 1, 0)}[epoch_mode]
        t = self.t
        max_validity = self.w.params["attestation_max_validity"]
        expiry = {"valid": t + 3_600, "past": t - 1, "too_far": t + max_validity + 1}[expiry_mode]
        att = Attestation(
            provider=provider,
            nodeId=node,
            gpuModel=gpu_model_bytes32(GPU_MODEL),
            vramMiB=81_559,
            fp32=6_700,
            tf32=49_500,
            fp16=98_900,
            bf16=98_900,
            memBandwidth=3_350,
            powerW=700,
            score=score,
            epoch=epoch,
            reportHash=keccak(text=f"report-{epoch}"),
            expiry=expiry,
        )
        digest = attestation_digest(self.w.domain, att)
        sigs, sig_error = self._signatures(digest, signers, lambda k: sign_attestation(k, self.w.domain, att))
        if sig_error:
            expected = sig_error
        elif expiry <= t:
            expected = "AttestationRegistryExpired"
        elif expiry > t + max_validity:
            expected = "AttestationRegistryExpiryTooFar"
        elif epoch <= last:
            expected = "AttestationRegistryStaleEpoch"
        elif self.m.node_owner.get(node) != provider:
            expected = "AttestationRegistryNotNodeOwner"
        else:
            expected = None
        sender = [self.w.actors["outsider"], provider, self.w.actors["deployer"]][submitter]
        ok = self.expect(expected, "AttestationRegistry", "submit", att.as_tuple(), sigs, sender=sender)
        if expected == "AttestationRegistryStaleEpoch":
            STATS["replays_rejected"] += 1
        if ok:
            history = self.m.epochs_accepted.setdefault(node, [])
            assert not history or epoch > history[-1], f"epoch {epoch} accepted after {history}"
            history.append(epoch)
            self.m.records[node] = (provider, epoch, expiry, score)
            STATS["attestations_accepted"] += 1

    def _signatures(self, digest, mode, sign) -> tuple[list[bytes], str | None]:
        """Signatures for `mode` and the error the registry must give (None: a valid quorum)."""
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

    @op(
        2,
        p=st.integers(0, 2),
        amount=st.sampled_from([0, 1, 10 * ETHER, 999 * ETHER, 1_000 * ETHER, 1_000 * ETHER + 1]),
        finder=st.sampled_from(["outsider", "none"]),
        replay=st.booleans(),
        signers=st.sampled_from(["quorum", "quorum", "too_few", "outsider"]),
    )
    def report_fault(self, p, amount, finder, replay, signers):
        provider = self.w.actors["providers"][p]
        finder_addr = self.w.actors["outsider"] if finder == "outsider" else ZERO
        epoch = len(self.m.faults) + 1
        if replay and self.m.faults:
            fault = sorted(self.m.faults, key=lambda f: f.epoch)[0]
        else:
            fault = Fault(provider, NODES[p], epoch, keccak(text="fuzz-fault"), amount, finder_addr)
        digest = fault_digest(self.w.domain, fault)
        sigs, sig_error = self._signatures(digest, signers, lambda k: sign_fault(k, self.w.domain, fault))
        if fault.slashAmount > self.w.params["attestation_max_slash"]:
            expected = "AttestationRegistrySlashTooLarge"
        elif fault in self.m.faults:
            expected = "AttestationRegistryFaultAlreadyReported"
        elif sig_error:
            expected = sig_error
        elif fault.slashAmount == 0:
            expected = "ComputeStakingZeroAmount"
        else:
            expected = None
        if self.expect(
            expected, "AttestationRegistry", "reportFault", fault.as_tuple(), sigs, sender=provider
        ):
            self.m.faults.add(fault)
            self.slash(self.m.providers[fault.provider], fault.slashAmount, fault.finder, ZERO)
            assert fault_struct_hash(fault)  # the replay key
        if expected == "AttestationRegistryFaultAlreadyReported":
            STATS["replays_rejected"] += 1

    # ------------------------------------------------------------------ time

    @op(4, dt=st.sampled_from([1, 59, 600, 601, 3_600, 3_601, 86_400, 8 * 86_400, 15 * 86_400]))
    def time_travel(self, dt):
        self.w.set_time(self.m.now + dt)
        self.m.now += dt

    # ------------------------------------------------------------------ invariants

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
            for name in _owned():
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
        open_budgets = sum(j.budget for j in m.jobs.values() if j.state != "closed")
        assert balances[w.addr["JobEscrow"]] >= open_budgets
        assert balances[w.addr["JobEscrow"]] == open_budgets
        # stake accounting
        staking_balance = balances[w.addr["ComputeStaking"]]
        assert staking_balance == sum(i[0] + i[2] for i in infos) == total_staked + total_unbonding
        for p, info in zip(provs, infos, strict=True):
            assert (info[0], info[1], info[2], info[4]) == (p.staked, p.locked, p.unbonding, len(p.nodes)), (
                p.addr
            )
        # fee accounting: the treasury holds exactly the fees and slash shares it was owed
        assert balances[w.timelock] == w.base.balances[w.timelock] + m.treasury_owed
        # no replayed attestation: stored epochs are the model's (which only ever increased)
        for node, rec in zip(NODES, records, strict=True):
            assert rec[1] == m.records.get(node, (None, 0))[1]
        # no admin power outside the timelock
        assert all(o == w.timelock for o in owners)
        self._sample_privileged_call()
        STATS["invariant_checks"] += 9

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


OPERATIONS = sorted(
    ((name, fn) for name, fn in vars(ProtocolMachine).items() if hasattr(fn, "fuzz_op")),
    key=lambda item: item[0] != "time_travel",  # shrink towards plain time travel
)


def write_stats(seconds: float) -> dict:
    stats = {
        "profile": PROFILE,
        "seconds": round(seconds, 1),
        "sequences": STATS["sequences"],
        "steps": STATS["invariant_runs"] - STATS["sequences"],
        "invariant_checks": STATS["invariant_checks"],
        "transactions": STATS["transactions"],
        "expected_reverts": STATS["expected_reverts"],
        "replays_rejected": STATS["replays_rejected"],
        "attestations_accepted": STATS["attestations_accepted"],
        "governance_proposals_executed": STATS["governance_proposals_executed"],
        "marketplace_sales": STATS["marketplace_sales"],
        "privileged_calls_refused": STATS["privileged_calls_refused"],
        "outcomes": {k[5:]: v for k, v in sorted(STATS.items()) if k.startswith("rule:")},
    }
    STATS_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATS_FILE.write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def test_protocol_invariants_hold_under_random_operations(world, chain):
    ProtocolMachine.world = world
    ProtocolMachine.chain = chain
    STATS.clear()
    t0 = time.monotonic()
    try:
        run_state_machine_as_test(ProtocolMachine, settings=settings.get_profile(PROFILE))
    finally:
        world.rpc("anvil_removeBlockTimestampInterval")
        stats = write_stats(time.monotonic() - t0)
        print(
            f"\nfuzz ({PROFILE}): {stats['sequences']} sequences, {stats['steps']} steps, "
            f"{stats['invariant_checks']} invariant checks, {stats['transactions']} transactions "
            f"({stats['expected_reverts']} predicted reverts) in {stats['seconds']} s -> {STATS_FILE}"
        )
    assert STATS["sequences"] > 0 and STATS["invariant_runs"] > STATS["sequences"]
