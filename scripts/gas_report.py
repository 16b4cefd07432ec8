"""Gas per protocol operation, measured on the local anvil network (``ape run gas_report``, ``make gas``).

Every area contributes row groups: a function ``(GasContext) -> list[Section]`` added to
``SECTION_BUILDERS``. A ``Section`` is ``(title, [(operation, gas, reference_gas | None), ...])``;
the reference column is a measured baseline (or a target) and the ratio column is gas / reference.
Each builder runs on a fresh snapshot of the same deployment, so builders do not affect each other.

Numbers are ``gasUsed`` of the transaction receipts (after refunds), i.e. what the sender pays for.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ape import accounts, chain, project

from scripts._signing import dispute_verdict_typed_data, evidence_hash, token_permit, verdict_signatures
from scripts.deploy import deploy_protocol
from scripts.gas_dao import dao_sections
from scripts.gas_oracle import GAS_ORACLE_KEYS, deploy_gas_registry, oracle_section

Row = tuple[str, int, int | None]
Section = tuple[str, list[Row]]

LIFECYCLE_TARGET = 300_000
MINT_TARGET_RATIO = 1.10
ETHER = 10**18
MODEL_URI = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"  # 66 bytes, CIDv1
GPU_MODEL = "NVIDIA H100 80GB HBM3"
NODE_URI = "ipfs://bafybeihkoviema7g3gxyt6la7vd5ho32ictqbilu3wnlo3rs7ewhnp7lly"


@dataclass
class GasContext:
    """What builders get: the deployed protocol and named local accounts (all funded with tokens)."""

    contracts: dict[str, Any]
    deployer: Any
    treasury: Any
    provider: Any
    requester: Any
    creator: Any
    keeper: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self):
        return self.contracts["ComputeToken"]

    @property
    def staking(self):
        return self.contracts["ComputeStaking"]

    @property
    def nft(self):
        return self.contracts["ModelNFT"]

    @property
    def escrow(self):
        return self.contracts["JobEscrow"]


def advance(seconds: int) -> None:
    """Move the chain's clock forward and mine a block."""
    chain.pending_timestamp += seconds
    chain.mine()


def setup_context() -> GasContext:
    """Deploy everything with a separate treasury and fund the actors."""
    acct = accounts.test_accounts
    deployer, treasury, provider, requester, creator, keeper = (acct[i] for i in range(6))
    contracts = deploy_protocol(deployer, treasury)
    token = contracts["ComputeToken"]
    for who in (provider, requester, creator, keeper):
        token.transfer(who, 1_000_000 * ETHER, sender=deployer)
    return GasContext(contracts, deployer, treasury, provider, requester, creator, keeper)


# ---------------------------------------------------------------------- core builders


def _provider_with_node(ctx: GasContext, stake: int = 50_000 * ETHER) -> tuple[list[Row], bytes]:
    ctx.token.approve(ctx.staking, stake, sender=ctx.provider)
    staked = ctx.staking.stake(stake, sender=ctx.provider)
    uuid = "GPU-0f3b5c2e-1111-2222-3333-444455556666"
    node_id = chain.provider.web3.keccak(text=uuid)
    registered = ctx.staking.registerNode(uuid, GPU_MODEL, 81_559, NODE_URI, sender=ctx.provider)
    return [("stake (first)", staked.gas_used, None), ("registerNode", registered.gas_used, None)], node_id


def _mint_model(ctx: GasContext, seed: str = "llama-weights") -> int:
    weights = chain.provider.web3.keccak(text=seed)
    ctx.nft.mint(ctx.creator, weights, MODEL_URI, ctx.creator, 500, sender=ctx.creator)
    return int.from_bytes(weights, "big")


def _post(ctx: GasContext, budget: int, model_id: int, deadline_in: int = 3600, approve: bool = True):
    if approve:
        ctx.token.approve(ctx.escrow, budget, sender=ctx.requester)
    deadline = chain.pending_timestamp + deadline_in
    tx = ctx.escrow.postJob(budget, deadline, 0, model_id, b"\x11" * 32, sender=ctx.requester)
    return tx, ctx.escrow.jobCount()


def _lifecycle(ctx: GasContext, node_id: bytes, model_id: int, budget: int) -> list[Row]:
    posted, job = _post(ctx, budget, model_id)
    accepted = ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    submitted = ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    settled = ctx.escrow.approveResult(job, sender=ctx.requester)
    return [
        ("postJob", posted.gas_used, None),
        ("acceptJob", accepted.gas_used, None),
        ("submitResult", submitted.gas_used, None),
        ("approveResult (settle: fee + royalty)", settled.gas_used, None),
    ]


def staking_section(ctx: GasContext) -> list[Section]:
    """stake, registerNode, requestUnbond, withdraw."""
    rows, _ = _provider_with_node(ctx)
    ctx.token.approve(ctx.staking, ETHER, sender=ctx.provider)
    rows.append(("stake (top-up)", ctx.staking.stake(ETHER, sender=ctx.provider).gas_used, None))
    rows.append(("requestUnbond", ctx.staking.requestUnbond(10 * ETHER, sender=ctx.provider).gas_used, None))
    advance(ctx.staking.unbondingPeriod() + 1)
    rows.append(("withdraw", ctx.staking.withdraw(sender=ctx.provider).gas_used, None))
    return [("ComputeStaking", rows)]


def escrow_section(ctx: GasContext) -> list[Section]:
    """Every escrow operation, plus the whole lifecycle against the 300k target.

    Steady state: one earlier job was settled (treasury, royalty receiver and provider hold tokens)
    and another job is open (the escrow's balance is non-zero), as on a live network. The first-ever
    job of a fresh deployment is measured too (cold balances: more expensive first writes).
    """
    _, node_id = _provider_with_node(ctx)
    model_id = _mint_model(ctx)
    budget = 100 * ETHER
    sections: list[Section] = []

    snap = chain.snapshot()
    cold = _lifecycle(ctx, node_id, model_id, budget)
    chain.restore(snap)

    _lifecycle(ctx, node_id, model_id, budget)  # warm-up: treasury, receiver, provider get balances
    _post(ctx, budget, model_id)  # a background open job keeps the escrow's balance non-zero
    steady = _lifecycle(ctx, node_id, model_id, budget)

    rows: list[Row] = list(steady)
    deadline = chain.pending_timestamp + 3600
    permit = token_permit(
        ctx.token, chain.chain_id, ctx.requester, ctx.requester.private_key, ctx.escrow, budget, deadline
    )
    with_permit = ctx.escrow.postJobWithPermit(
        budget,
        deadline,
        0,
        model_id,
        b"\x11" * 32,
        deadline,
        permit.v,
        permit.r,
        permit.s,
        sender=ctx.requester,
    )
    rows.append(("postJobWithPermit", with_permit.gas_used, None))

    _, job = _post(ctx, budget, model_id)
    ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    advance(ctx.escrow.challengeWindow() + 1)
    rows.append(
        ("finalize (settle: fee + royalty)", ctx.escrow.finalize(job, sender=ctx.keeper).gas_used, None)
    )

    _, job = _post(ctx, budget, model_id)
    ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    ctx.token.approve(ctx.escrow, ctx.escrow.disputeBond(), sender=ctx.requester)
    disputed = ctx.escrow.dispute(job, b"\x22" * 32, [3, 17, 255], sender=ctx.requester)
    rows.append(("dispute (3 items, takes the bond)", disputed.gas_used, None))
    collateral = ctx.escrow.collateralOf(job)
    resolved = ctx.escrow.resolveDispute(job, 5_000, collateral // 2, sender=ctx.deployer)
    rows.append(("resolveDispute (50% paid, half collateral slashed)", resolved.gas_used, None))

    _, job = _post(ctx, budget, model_id)
    ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    ctx.token.approve(ctx.escrow, ctx.escrow.disputeBond(), sender=ctx.requester)
    ctx.escrow.dispute(job, b"\x22" * 32, [3, 17, 255], sender=ctx.requester)
    advance(ctx.escrow.DISPUTE_TIMEOUT() + 1)
    expired = ctx.escrow.expireDispute(job, sender=ctx.keeper)
    rows.append(("expireDispute (undecided after 14 days: 50/50, no slash)", expired.gas_used, None))

    _, job = _post(ctx, budget, model_id)
    rows.append(("cancelJob", ctx.escrow.cancelJob(job, sender=ctx.requester).gas_used, None))

    _, job = _post(ctx, budget, model_id)
    ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    advance(3601)
    rows.append(
        ("claimTimeout (refund + slash)", ctx.escrow.claimTimeout(job, sender=ctx.keeper).gas_used, None)
    )
    sections.append(("JobEscrow", rows))

    sections.append(
        (
            "Job lifecycle (post + accept + submit + approve), target 300k",
            [
                ("lifecycle, steady state", sum(g for _, g, _ in steady), LIFECYCLE_TARGET),
                ("lifecycle, first job of a fresh deployment", sum(g for _, g, _ in cold), LIFECYCLE_TARGET),
            ]
            + [(f"  first job: {op}", g, None) for op, g, _ in cold],
        )
    )
    return sections


def verdict_section(ctx: GasContext) -> list[Section]:
    """Disputes settled by the validators' verdict (k = 3 of 4 oracles), in the same steady state as
    `escrow_section`, and the whole lifecycle of a job whose dispute a verdict settles."""
    registry, _ = deploy_gas_registry(ctx, GAS_ORACLE_KEYS)
    ctx.escrow.setScoreOracle(registry, sender=ctx.deployer)
    _, node_id = _provider_with_node(ctx)
    model_id = _mint_model(ctx)
    budget, result, items = 100 * ETHER, b"\x22" * 32, [3, 17, 255]
    _lifecycle(ctx, node_id, model_id, budget)  # warm-up, as in escrow_section
    ctx.token.approve(ctx.escrow, 2**256 - 1, sender=ctx.requester)  # budgets and bonds from here on
    _post(ctx, budget, model_id, approve=False)

    def disputed_job() -> tuple[list[Row], int]:
        posted, job = _post(ctx, budget, model_id, approve=False)
        accepted = ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
        submitted = ctx.escrow.submitResult(job, result, sender=ctx.provider)
        disputed = ctx.escrow.dispute(job, result, items, sender=ctx.requester)
        return [
            ("postJob", posted.gas_used, None),
            ("acceptJob", accepted.gas_used, None),
            ("submitResult", submitted.gas_used, None),
            ("dispute (3 items, takes the bond)", disputed.gas_used, None),
        ], job

    def settle(job: int, at_fault: bool) -> int:
        expiry = chain.pending_timestamp + 3600
        data = dispute_verdict_typed_data(
            chain.chain_id, str(ctx.escrow.address), job, result, evidence_hash(items), at_fault, expiry
        )
        sigs = verdict_signatures(GAS_ORACLE_KEYS[:3], data)
        args = (job, result, evidence_hash(items), at_fault, expiry, sigs)
        return ctx.escrow.settleDispute(*args, sender=ctx.keeper).gas_used

    rows, job = disputed_job()
    false_claim = settle(job, False)
    rows.append(("settleDispute, claim false (k=3: provider paid + bond, unlock)", false_claim, None))
    lifecycle = sum(g for _, g, _ in rows)
    _, job = disputed_job()
    at_fault = settle(job, True)
    return [
        (
            "Dispute settled by a validators' verdict (k=3 of 4 oracles)",
            [
                ("settleDispute, provider at fault (refund budget + bond, slash collateral)", at_fault, None),
                *rows,
                ("lifecycle with a verdict-settled dispute (post ... settleDispute)", lifecycle, None),
            ],
        )
    ]


def model_nft_section(ctx: GasContext) -> list[Section]:
    """ModelNFT.mint against a bare OpenZeppelin ERC-721 _mint (same holders' state, same run)."""
    bare = ctx.deployer.deploy(project.BareERC721)
    web3 = chain.provider.web3
    rows: list[Row] = []
    counter = iter(range(1_000))

    def pair(holder, uri: str = MODEL_URI, receiver=None, bps: int = 500) -> tuple[int, int]:
        weights = web3.keccak(text=f"weights-{next(counter)}")
        ref = bare.mint(holder, int.from_bytes(weights, "big"), sender=holder).gas_used
        gas = ctx.nft.mint(holder, weights, uri, receiver or holder, bps, sender=holder).gas_used
        return gas, ref

    gas, ref = pair(ctx.creator)
    rows.append(("bare ERC721 mint to a new holder", ref, None))
    rows.append((f"ModelNFT.mint to a new holder (5% royalty to self, {len(MODEL_URI)}-byte URI)", gas, ref))
    gas, ref = pair(ctx.creator)
    rows.append(("bare ERC721 mint to a holder with tokens", ref, None))
    rows.append((f"ModelNFT.mint to a holder with tokens (same, {len(MODEL_URI)}-byte URI)", gas, ref))
    gas, ref = pair(ctx.creator, uri="")
    rows.append(("ModelNFT.mint, holder with tokens, empty URI (fixed overhead)", gas, ref))
    gas, ref = pair(ctx.creator, bps=800)
    rows.append(("ModelNFT.mint, holder with tokens, 8% royalty (reads the governed max)", gas, ref))
    gas, ref = pair(ctx.keeper, receiver=ctx.creator)
    rows.append(("ModelNFT.mint to a new holder, royalty to another receiver (stored)", gas, ref))

    token_id = int.from_bytes(web3.keccak(text="weights-0"), "big")
    transfer = ctx.nft.transferFrom(ctx.creator, ctx.keeper, token_id, sender=ctx.creator).gas_used
    bare_transfer = bare.transferFrom(ctx.creator, ctx.keeper, token_id, sender=ctx.creator).gas_used
    rows.append(("ModelNFT first transfer (stores the implicit receiver)", transfer, bare_transfer))
    transfer = ctx.nft.transferFrom(ctx.keeper, ctx.creator, token_id, sender=ctx.keeper).gas_used
    bare_transfer = bare.transferFrom(ctx.keeper, ctx.creator, token_id, sender=ctx.keeper).gas_used
    rows.append(("ModelNFT later transfer", transfer, bare_transfer))
    return [("ModelNFT (reference: bare OpenZeppelin ERC721, same run; target ratio <= 1.10)", rows)]


SECTION_BUILDERS: list[Callable[[GasContext], list[Section]]] = [
    staking_section,
    escrow_section,
    verdict_section,
    model_nft_section,
    oracle_section,
    dao_sections,  # scripts/gas_dao.py: marketplace (vs a bare reference) and governance
]


# ---------------------------------------------------------------------- rendering


def collect(builders: list[Callable[[GasContext], list[Section]]] | None = None) -> list[Section]:
    """Deploy once, then run each builder on a fresh snapshot of that deployment."""
    ctx = setup_context()
    base = chain.snapshot()
    sections: list[Section] = []
    for build in builders if builders is not None else SECTION_BUILDERS:
        sections.extend(build(ctx))
        chain.restore(base)
        base = chain.snapshot()
    return sections


def render(sections: list[Section]) -> str:
    """A Markdown table per section: operation | gas | reference | ratio."""
    out: list[str] = []
    for title, rows in sections:
        out.append(f"\n### {title}\n")
        out.append("| operation | gas | reference | ratio |")
        out.append("| --- | ---: | ---: | ---: |")
        for op, gas, ref in rows:
            ref_s = f"{ref:,}" if ref else ""
            ratio = f"{gas / ref:.3f}" if ref else ""
            out.append(f"| {op} | {gas:,} | {ref_s} | {ratio} |")
    return "\n".join(out) + "\n"


def main() -> None:
    """``ape run gas_report``: print the table."""
    print(render(collect()))
