"""Randomised property test of staking + escrow + royalties.

Seeded episodes of mixed operations by several requesters, providers, a keeper and governance run on
one deployment (each episode starts from the same chain snapshot). A Python model tracks what every
account is owed; after EVERY step the test checks:

- the escrow's token balance equals (so is >=) the sum of the budgets of jobs not yet closed;
- the staking contract's token balance equals the sum of every provider's staked + unbonding stake;
- every tracked account's token balance equals the model's exactly (nobody gets more than owed);
- each provider's staked / locked / unbonding amounts equal the model's.
"""

import random
from dataclasses import dataclass, field

import ape
import pytest

from tests.support.core import BPS, ETHER, MODEL_URI, as_int, gpu_uuid, node_id, weights_hash
from tests.support.reverts import reverts

STEPS = 60
SEEDS = [11, 23, 37]
MARGIN = 300  # seconds kept clear of every time boundary (anvil's clock also follows wall time)
MAX_UINT = 2**256 - 1


@dataclass
class Job:
    requester: object
    budget: int
    deadline: int
    model_id: int
    collateral: int
    provider: object = None
    state: str = "open"  # open | accepted | submitted | disputed | closed
    end: int = 0


@dataclass
class Provider:
    account: object
    staked: int = 0
    locked: int = 0
    unbonding: int = 0
    release: int = 0
    nodes: int = 0
    node: bytes = b""


@dataclass
class World:
    token: object
    staking: object
    escrow: object
    nft: object
    chain: object
    governance: object
    keeper: object
    treasury: object
    requesters: list
    providers: list[Provider]
    royalty: dict[int, tuple[object, int]]  # model id -> (receiver, bps)
    balances: dict[str, int] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    fee_bps: int = 0
    min_stake: int = 0
    finder_bps: int = 0
    harmed_bps: int = 0

    def __post_init__(self) -> None:
        # Governed values are cached here (the test changes them through op_governance_params only)
        # and the per-step checks read the chain through plain web3 calls (4x faster than Ape's).
        self.fee_bps = self.escrow.feeBps()
        self.min_stake = self.staking.minStakePerGpu()
        self.finder_bps = self.staking.finderShareBps()
        self.harmed_bps = self.staking.harmedShareBps()
        web3 = self.chain.provider.web3
        self._token = web3.eth.contract(address=str(self.token.address), abi=_abi(self.token))
        self._staking = web3.eth.contract(address=str(self.staking.address), abi=_abi(self.staking))

    # ---------------------------------------------------------------- model helpers

    def credit(self, who, amount: int) -> None:
        self.balances[str(who)] += amount

    def move(self, frm, to, amount: int) -> None:
        self.credit(frm, -amount)
        self.credit(to, amount)

    def free(self, p: Provider) -> int:
        reserved = p.locked + p.nodes * self.min_stake
        return max(p.staked - reserved, 0)

    def provider_of(self, account) -> Provider:
        return next(p for p in self.providers if p.account == account)

    def model_slash(self, p: Provider, amount: int, finder, harmed) -> int:
        """A fault slash: stake that is not locked (free, then unbonding), never a job's collateral."""
        from_staked = min(amount, p.staked - p.locked)
        p.staked -= from_staked
        from_unbonding = min(amount - from_staked, p.unbonding)
        p.unbonding -= from_unbonding
        return self._pay_slash(from_staked + from_unbonding, finder, harmed)

    def model_slash_locked(self, p: Provider, amount: int, finder, harmed) -> int:
        """A job's own collateral, whole (the escrow's slashLocked)."""
        assert p.locked >= amount, "a job's collateral was no longer locked"
        p.locked -= amount
        p.staked -= amount
        return self._pay_slash(amount, finder, harmed)

    def _pay_slash(self, slashed: int, finder, harmed) -> int:
        finder_amount = slashed * self.finder_bps // BPS if finder else 0
        harmed_amount = slashed * self.harmed_bps // BPS if harmed else 0
        if finder:
            self.move(self.staking, finder, finder_amount)
        if harmed:
            self.move(self.staking, harmed, harmed_amount)
        self.move(self.staking, self.treasury, slashed - finder_amount - harmed_amount)
        return slashed

    def model_pay(self, job: Job, price: int) -> None:
        fee = price * self.fee_bps // BPS
        self.move(self.escrow, self.treasury, fee)
        royalty = 0
        if job.model_id:
            receiver, bps = self.royalty[job.model_id]
            royalty = min(price * bps // BPS, price - fee)
            self.move(self.escrow, receiver, royalty)
        self.move(self.escrow, job.provider, price - fee - royalty)

    def model_unlock(self, p: Provider, amount: int) -> None:
        assert p.locked >= amount, "a job's collateral was no longer locked"
        p.locked -= amount

    # ---------------------------------------------------------------- checks

    def check(self) -> None:
        balance_of = self._token.functions.balanceOf
        open_budgets = sum(j.budget for j in self.jobs.values() if j.state != "closed")
        escrow_balance = balance_of(str(self.escrow.address)).call()
        assert escrow_balance >= open_budgets
        staking_balance = balance_of(str(self.staking.address)).call()
        on_chain = [self._staking.functions.providerInfo(str(p.account)).call() for p in self.providers]
        assert staking_balance == sum(info[0] + info[2] for info in on_chain)
        for p, info in zip(self.providers, on_chain, strict=True):
            assert (info[0], info[1], info[2]) == (p.staked, p.locked, p.unbonding), p.account
        for address, expected in self.balances.items():
            assert balance_of(address).call() == expected, address
        assert escrow_balance == open_budgets


def _abi(contract) -> list[dict]:
    return [item.model_dump(mode="json", by_alias=True) for item in contract.contract_type.abi]


def _open(world: World, state: str) -> list[int]:
    return [i for i, j in world.jobs.items() if j.state == state]


# -------------------------------------------------------------------- operations
# Each returns True when it acted (False: nothing to act on), and updates the model.


def op_post(w: World, rng: random.Random) -> bool:
    requester = rng.choice(w.requesters)
    budget = rng.randint(1, 400) * ETHER + rng.randint(0, 10**17)
    deadline = w.chain.pending_timestamp + rng.randint(2, 5) * 3600
    model_id = rng.choice([0, *w.royalty])
    tx = w.escrow.postJob(budget, deadline, 0, model_id, b"\x01" * 32, sender=requester)
    job_id = tx.return_value
    collateral = budget * w.escrow.collateralBps() // BPS
    w.jobs[job_id] = Job(requester, budget, deadline, model_id, collateral)
    w.move(requester, w.escrow, budget)
    return True


def op_cancel(w: World, rng: random.Random) -> bool:
    ids = _open(w, "open")
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    w.escrow.cancelJob(job_id, sender=job.requester)
    w.move(w.escrow, job.requester, job.budget)
    job.state = "closed"
    return True


def op_accept(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ids = [i for i in _open(w, "open") if w.jobs[i].deadline > now + MARGIN]
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    p = rng.choice(w.providers)
    if w.free(p) < job.collateral:
        with reverts(w.staking.ComputeStakingInsufficientFreeStake, p.account, job.collateral, w.free(p)):
            w.escrow.acceptJob(job_id, p.node, b"", sender=p.account)
        return True
    w.escrow.acceptJob(job_id, p.node, b"", sender=p.account)
    p.locked += job.collateral
    job.provider, job.state = p.account, "accepted"
    return True


def op_submit(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ids = [i for i in _open(w, "accepted") if w.jobs[i].deadline > now + MARGIN]
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    tx = w.escrow.submitResult(job_id, b"\x02" * 32, sender=job.provider)
    job.end = w.chain.blocks[tx.block_number].timestamp + w.escrow.challengeWindow()
    job.state = "submitted"
    return True


def _settle(w: World, job: Job) -> None:
    w.model_pay(job, job.budget)
    w.model_unlock(w.provider_of(job.provider), job.collateral)
    job.state = "closed"


def op_approve(w: World, rng: random.Random) -> bool:
    ids = _open(w, "submitted")
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    if rng.random() < 0.1:  # someone else tries first: refused, nothing moves
        with reverts(w.escrow.JobEscrowNotRequester, job_id, w.keeper, job.requester):
            w.escrow.approveResult(job_id, sender=w.keeper)
        return True
    w.escrow.approveResult(job_id, sender=job.requester)
    _settle(w, job)
    return True


def op_finalize(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ids = [i for i in _open(w, "submitted") if w.jobs[i].end + MARGIN < now]
    if not ids:
        return False
    job_id = rng.choice(ids)
    w.escrow.finalize(job_id, sender=w.keeper)
    _settle(w, w.jobs[job_id])
    return True


def op_dispute(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ids = [i for i in _open(w, "submitted") if w.jobs[i].end > now + MARGIN]
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    w.escrow.dispute(job_id, b"\x02" * 32, [1], sender=job.requester)
    job.state = "disputed"
    return True


def op_resolve(w: World, rng: random.Random) -> bool:
    ids = _open(w, "disputed")
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    share = rng.choice([0, 2_500, 5_000, 10_000, rng.randint(0, BPS)])
    slash = rng.randint(0, job.collateral)
    w.escrow.resolveDispute(job_id, share, slash, sender=w.governance)
    price = job.budget * share // BPS
    if price:
        w.model_pay(job, price)
    w.move(w.escrow, job.requester, job.budget - price)
    p = w.provider_of(job.provider)
    if slash:
        w.model_slash_locked(p, slash, job.requester, job.requester)
    if job.collateral > slash:
        w.model_unlock(p, job.collateral - slash)
    job.state = "closed"
    return True


def op_timeout(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ids = [i for i in _open(w, "accepted") if w.jobs[i].deadline + MARGIN < now]
    if not ids:
        return False
    job_id = rng.choice(ids)
    job = w.jobs[job_id]
    w.escrow.claimTimeout(job_id, sender=w.keeper)
    w.move(w.escrow, job.requester, job.budget)
    if job.collateral:
        w.model_slash_locked(w.provider_of(job.provider), job.collateral, w.keeper, job.requester)
    job.state = "closed"
    return True


def op_stake(w: World, rng: random.Random) -> bool:
    p = rng.choice(w.providers)
    amount = rng.randint(1, 300) * ETHER
    w.staking.stake(amount, sender=p.account)
    p.staked += amount
    w.move(p.account, w.staking, amount)
    return True


def op_unbond(w: World, rng: random.Random) -> bool:
    p = rng.choice(w.providers)
    free = w.free(p)
    if free == 0:
        return False
    amount = rng.randint(1, free)
    tx = w.staking.requestUnbond(amount, sender=p.account)
    p.staked -= amount
    p.unbonding += amount
    p.release = w.chain.blocks[tx.block_number].timestamp + w.staking.unbondingPeriod()
    return True


def op_withdraw(w: World, rng: random.Random) -> bool:
    now = w.chain.pending_timestamp
    ready = [p for p in w.providers if p.unbonding and p.release + MARGIN < now]
    if not ready:
        return False
    p = rng.choice(ready)
    w.staking.withdraw(sender=p.account)
    w.move(w.staking, p.account, p.unbonding)
    p.unbonding = 0
    return True


def op_governance_slash(w: World, rng: random.Random) -> bool:
    p = rng.choice(w.providers)
    amount = rng.randint(1, 200) * ETHER
    finder, harmed = rng.choice([(w.keeper, w.requesters[0]), (None, None)])
    zero = ape.utils.ZERO_ADDRESS
    w.staking.slash(p.account, amount, finder or zero, harmed or zero, sender=w.governance)
    w.model_slash(p, amount, finder, harmed)
    return True


def op_governance_params(w: World, rng: random.Random) -> bool:
    if rng.random() < 0.5:
        w.fee_bps = rng.randint(0, 1_000)
        w.escrow.setFeeBps(w.fee_bps, sender=w.governance)
    else:
        w.escrow.setCollateralBps(rng.randint(0, 20_000), sender=w.governance)
    return True


def op_advance(w: World, rng: random.Random) -> bool:
    seconds = rng.choice([rng.randint(600, 3 * 3600), rng.randint(86_400, 8 * 86_400)])
    w.chain.pending_timestamp += seconds
    w.chain.mine()
    return True


OPERATIONS = [
    (op_post, 9),
    (op_cancel, 3),
    (op_accept, 12),
    (op_submit, 10),
    (op_approve, 6),
    (op_finalize, 4),
    (op_dispute, 3),
    (op_resolve, 3),
    (op_timeout, 3),
    (op_stake, 3),
    (op_unbond, 3),
    (op_withdraw, 2),
    (op_governance_slash, 2),
    (op_governance_params, 1),
    (op_advance, 8),
]


# -------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def world_setup(protocol, token, deployer, accounts, chain):
    staking, escrow, nft = protocol["ComputeStaking"], protocol["JobEscrow"], protocol["ModelNFT"]
    requesters = [accounts[2], accounts[5]]
    provider_accounts = [accounts[1], accounts[6]]
    creator, keeper, treasury = accounts[3], accounts[4], accounts[9]
    for who in (*requesters, *provider_accounts):
        if token.balanceOf(who) < 1_000_000 * ETHER:
            token.transfer(who, 1_000_000 * ETHER, sender=deployer)
    for r in requesters:
        token.approve(escrow, MAX_UINT, sender=r)
    providers = []
    for i, account in enumerate(provider_accounts):
        token.approve(staking, MAX_UINT, sender=account)
        staking.stake(3_000 * ETHER, sender=account)
        nid = node_id(f"GPU-property-{i}")
        staking.registerNode(gpu_uuid(f"GPU-property-{i}"), "NVIDIA L4", 23_034, "", sender=account)
        info = staking.providerInfo(account)
        providers.append(Provider(account, info[0], info[1], info[2], info[3], info[4], nid))
    royalty = {}
    for seed, receiver, bps in (("prop-a", creator, 500), ("prop-b", keeper, 800)):
        wh = weights_hash(seed)
        nft.mint(creator, wh, MODEL_URI, receiver, bps, sender=creator)
        royalty[as_int(wh)] = (receiver, bps)
    return {
        "contracts": (token, staking, escrow, nft),
        "actors": (deployer, keeper, treasury, requesters, providers),
        "royalty": royalty,
        "tracked": [*requesters, *provider_accounts, creator, keeper, treasury, escrow, staking],
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_random_operations_keep_every_balance_exact(world_setup, chain, seed):
    token, staking, escrow, nft = world_setup["contracts"]
    deployer, keeper, treasury, requesters, providers = world_setup["actors"]
    snapshot = chain.snapshot()  # every episode starts from the same state
    try:
        world = World(
            token,
            staking,
            escrow,
            nft,
            chain,
            deployer,
            keeper,
            treasury,
            requesters,
            [Provider(**vars(p)) for p in providers],
            world_setup["royalty"],
        )
        world.balances = {str(a): token.balanceOf(a) for a in world_setup["tracked"]}
        world.check()
        rng = random.Random(seed)
        ops, weights = zip(*OPERATIONS, strict=True)
        done = 0
        while done < STEPS:
            op = rng.choices(ops, weights)[0]
            if op(world, rng):
                done += 1
                world.check()
    finally:
        chain.restore(snapshot)
