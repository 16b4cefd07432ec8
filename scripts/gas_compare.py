"""Our gas side by side with plain reference implementations, in ONE anvil run (``ape run
gas_compare``, ``make gas-compare``): prints the table and writes ``contracts/GAS_COMPARE.md``.

References (``contracts/reference/``): BareERC721 (a bare OpenZeppelin ERC-721), PlainEscrow (an
ERC-20 escrow that only holds and releases) and PlainAttestationStore (one oracle, one call, one
vote). Each comparison runs on a fresh snapshot of the same deployment (``gas_report.collect``),
with the reference measured under the same storage conditions as our contract (same token, same
holders, balances already non-zero or zero in both). The theoretical floor of an operation is built
by ``gas_floor.Floor`` from our transaction's actual input bytes: 21,000 + calldata + the storage
writes, token transfers and signature checks no implementation of the operation can avoid.
"""

import datetime
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ape import accounts, chain, project
from eth_utils import keccak

from oracle.inventory import node_id, synthetic_uuid
from scripts.gas_floor import ECRECOVER, ERC721_TRANSFER_LOG, Floor
from scripts.gas_oracle import BATCH_SIZE, GAS_ORACLE_KEYS, deploy_gas_registry, sample_attestation
from scripts.gas_report import (
    ETHER,
    MODEL_URI,
    GasContext,
    _mint_model,
    _post,
    _provider_with_node,
    collect,
)
from scripts.gas_table import CompareRow, Comparison, render, row_of

OUT = Path(__file__).resolve().parent.parent / "contracts" / "GAS_COMPARE.md"


# ---------------------------------------------------------------------- ERC-721


def nft_comparison(ctx: GasContext) -> list[Comparison]:
    """ModelNFT mint/transfer vs BareERC721 (OpenZeppelin `_mint` / `transferFrom`)."""
    bare = ctx.deployer.deploy(project.BareERC721)
    cmp = Comparison(
        "ModelNFT vs a bare OpenZeppelin ERC-721 (contracts/reference/BareERC721.sol)",
        notes=[
            "Floor of a mint: the owner slot (0 -> owner) + the holder's balance + the ERC-721 "
            f"Transfer log ({ERC721_TRANSFER_LOG:,}); ModelNFT's calldata carries the URI and royalty.",
            "Floor of a transfer: owner slot + both balances + Transfer log (no approval to clear).",
        ],
    )
    ids = []

    def mint_pair(holder, label: str, new_holder: bool) -> None:
        weights = keccak(text=f"compare-weights-{len(ids)}")
        ids.append(int.from_bytes(weights, "big"))
        ref = bare.mint(holder, ids[-1], sender=holder).gas_used
        tx = ctx.nft.mint(holder, weights, MODEL_URI, holder, 500, sender=holder)
        floor = Floor.of(tx).store("owner", True).store("balance", new_holder).add("log", ERC721_TRANSFER_LOG)
        cmp.rows.append(row_of(label, tx, ref, floor, floor.note()))

    mint_pair(ctx.creator, f"mint to a new holder ({len(MODEL_URI)}-byte URI, 5% royalty to self)", True)
    mint_pair(ctx.creator, "mint to a holder with tokens (same)", False)

    def transfer_pair(frm, to, label: str, to_new: bool, from_empties: bool) -> None:
        ref = bare.transferFrom(frm, to, ids[0], sender=frm).gas_used
        tx = ctx.nft.transferFrom(frm, to, ids[0], sender=frm)
        floor = (
            Floor.of(tx)
            .store("owner", False)
            .store("balance[from]", False, from_empties)
            .store("balance[to]", to_new)
            .add("log", ERC721_TRANSFER_LOG)
        )
        cmp.rows.append(row_of(label, tx, ref, floor, floor.note()))

    transfer_pair(
        ctx.creator,
        ctx.keeper,
        "first transfer of a token, to a new holder (ModelNFT stores the implicit royalty receiver once)",
        True,
        False,
    )
    transfer_pair(ctx.keeper, ctx.creator, "later transfer (back; sender's balance -> 0)", False, True)
    return [cmp]


# ---------------------------------------------------------------------- escrow


def escrow_comparison(ctx: GasContext) -> list[Comparison]:
    """JobEscrow's lifecycle vs PlainEscrow deposit/release, both in steady state: the escrows
    already hold tokens (a background deposit/job) and every payee already holds tokens."""
    _, node_id = _provider_with_node(ctx)
    model_id = _mint_model(ctx)
    budget = 100 * ETHER
    plain = ctx.deployer.deploy(project.PlainEscrow, ctx.token)

    # Warm-up: one settled job (treasury, royalty receiver, provider hold tokens) and one open job
    # (the escrow's balance stays non-zero); the same for the plain escrow.
    _, job = _post(ctx, budget, model_id)
    ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    ctx.escrow.approveResult(job, sender=ctx.requester)
    _post(ctx, budget, model_id)
    ctx.token.approve(plain, budget, sender=ctx.requester)
    plain.deposit(ctx.provider, budget, sender=ctx.requester)

    ctx.token.approve(plain, budget, sender=ctx.requester)
    deposited = plain.deposit(ctx.provider, budget, sender=ctx.requester)
    released = plain.release(plain.count(), sender=ctx.requester)

    posted, job = _post(ctx, budget, model_id)
    accepted = ctx.escrow.acceptJob(job, node_id, b"", sender=ctx.provider)
    submitted = ctx.escrow.submitResult(job, b"\x22" * 32, sender=ctx.provider)
    settled = ctx.escrow.approveResult(job, sender=ctx.requester)

    f_post = Floor.of(posted).store("job slot", True).erc20_transfer("requester", "escrow")
    f_accept = Floor.of(accepted).store("job provider", False)
    f_submit = Floor.of(submitted).store("job status", False)
    f_settle = Floor.of(settled).store("job slot", False, True, "job slot cleared")
    for payee in ("treasury", "royalty receiver", "provider"):
        f_settle.erc20_transfer("escrow", payee)

    cmp = Comparison(
        "JobEscrow vs a plain ERC-20 escrow (contracts/reference/PlainEscrow.sol: deposit -> release)",
        notes=[
            "Steady state for both: the escrow holds other deposits, the payees already hold tokens, "
            "the requester approves the exact amount before each deposit (same allowance refund in both).",
            "Floors count no allowance write (an unlimited approval avoids it), no SLOAD/check, no "
            "event but the ERC-20 Transfer logs; the escrow's balance is written cold once, then warm.",
            "postJob/approveResult do more than deposit/release by design: the job record (deadline, "
            "min score, collateral rate, model id), fee + royalty (3 transfers instead of 1), the "
            "staking lock/unlock of the provider's collateral (accept/approve), the ERC-2981 lookup.",
            "The reference's deposit writes two new slots (depositor | amount, payee) and its counter; "
            "a job needs three (requester | deadline | min score | status | collateral rate, "
            "provider | budget, model id). Above the floor, the lifecycle pays mostly for what the "
            "floor leaves out on purpose: the two staking calls (collateral lock and unlock, ~12k "
            "each), ERC20Votes' delegate reads on every transfer, two more job slots, events, checks.",
        ],
    )
    cmp.rows += [
        row_of("postJob vs deposit", posted, deposited.gas_used, f_post, f_post.note()),
        row_of("acceptJob (no reference step)", accepted, None, f_accept, f_accept.note()),
        row_of("submitResult (no reference step)", submitted, None, f_submit, f_submit.note()),
        row_of(
            "approveResult (fee + royalty + provider) vs release",
            settled,
            released.gas_used,
            f_settle,
            f_settle.note(),
        ),
    ]
    ours = posted.gas_used + accepted.gas_used + submitted.gas_used + settled.gas_used
    floor = sum(f.total for f in (f_post, f_accept, f_submit, f_settle))
    cmp.rows.append(
        CompareRow(
            "lifecycle post+accept+submit+approve vs deposit+release",
            ours,
            deposited.gas_used + released.gas_used,
            floor,
            "sum of the four floors above",
        )
    )
    return [cmp]


# ---------------------------------------------------------------------- attestations


def attestation_comparison(ctx: GasContext) -> list[Comparison]:
    """AttestationRegistry (one tx, k=3 signatures; or a 256-node batch root) vs
    PlainAttestationStore (each of k=3 oracles sends attest(nodeId, score, epoch) itself)."""
    from oracle.attest import (
        Batch,
        Domain,
        aggregate,
        attestation_digest,
        attestation_struct_hash,
        batch_digest,
        sign_digest,
    )
    from oracle.attest_batch import MerkleTree

    registry, register = deploy_gas_registry(ctx, GAS_ORACLE_KEYS)
    oracles = [accounts.test_accounts[i] for i in (6, 7, 8)]
    plain = ctx.deployer.deploy(project.PlainAttestationStore, [o.address for o in oracles], 3)
    domain = Domain(chain_id=chain.chain_id, verifying_contract=str(registry.address))
    keys = GAS_ORACLE_KEYS[:3]

    def quorum(digest: bytes) -> list[bytes]:
        return aggregate([sign_digest(k, digest) for k in keys], 3)

    uuid = synthetic_uuid("compare-node-0")
    node = node_id(uuid)
    provider = register(uuid)
    expiry = chain.pending_timestamp + 86400

    def plain_round(epoch: int, score: int) -> list[int]:
        return [plain.attest(node, score, epoch, sender=o).gas_used for o in oracles]

    rows: list[CompareRow] = []
    for epoch, label in ((1, "node's first attestation"), (2, "next epoch")):
        att = replace(
            sample_attestation(provider, node, epoch, expiry), score=9000 + 100 * epoch
        )  # a new score each epoch
        tx = registry.submit(att.as_tuple(), quorum(attestation_digest(domain, att)), sender=ctx.keeper)
        calls = plain_round(epoch, att.score)
        floor = Floor.of(tx).add("3 ecrecover", 3 * ECRECOVER).store("node record", epoch == 1)
        rows.append(
            row_of(
                f"k=3 quorum, {label}: submit (1 tx) vs 3 x attest ({' + '.join(f'{c:,}' for c in calls)})",
                tx,
                sum(calls),
                floor,
                floor.note(),
            )
        )
        if epoch == 2:
            next_epoch_calls = sum(calls)

    atts = [
        sample_attestation(provider, keccak(text=f"compare-batch-{i}"), 3, expiry) for i in range(BATCH_SIZE)
    ]
    tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
    batch = Batch(tree.root, 3, expiry)
    tx = registry.submitBatch(batch.root, 3, expiry, quorum(batch_digest(domain, batch)), sender=ctx.keeper)
    floor = Floor.of(tx).add("3 ecrecover", 3 * ECRECOVER).store("batch root", True)
    rows.append(
        CompareRow(
            f"k=3 quorum, per node of a {BATCH_SIZE}-node batch: submitBatch / {BATCH_SIZE} vs 3 x attest",
            round(tx.gas_used / BATCH_SIZE),
            next_epoch_calls,
            round(floor.total / BATCH_SIZE),
            f"({floor.note()}) / {BATCH_SIZE}; the reference's next-epoch cost (its cheapest case)",
        )
    )
    return [
        Comparison(
            "AttestationRegistry vs one signature per call (contracts/reference/PlainAttestationStore.sol)",
            rows,
            notes=[
                "Reference: each oracle's own transaction is its signature; a round slot (score, vote "
                "count, voted bitmap) per (node, epoch), the third agreeing call also writes the node's "
                "latest score. It stores 2 fields; our attestation carries 14 (GPU model, VRAM, 4 "
                "throughputs, bandwidth, power, score, epoch, report hash, expiry, provider, node).",
                "Floor of a quorum: 21,000 + our calldata + k=3 ecrecover (3,000 each) + one slot for "
                "the node's record (new the first time, updated later); for a batch: one new slot for "
                f"the root, all divided by {BATCH_SIZE} (a node's score is then proven with a Merkle "
                "proof when used).",
            ],
        )
    ]


# ---------------------------------------------------------------------- marketplace


def market_comparison(ctx: GasContext) -> list[Comparison]:
    """ModelMarketplace.buy vs ReferenceSale (NFT transferFrom + the 3 token transfers of a sale) on
    the SAME ModelNFT token from the SAME chain state (a snapshot): secondary sale, every payee holds
    tokens, the buyer has a standing allowance, the seller an operator approval. Measured twice: the
    buyer holds no NFT of the collection yet (its NFT balance 0 -> 1), and it already holds one."""
    from scripts.deploy_dao import DAO_DEVNET, deploy_governance
    from scripts.gas_dao import PRICE, ROYALTY_BPS, model_nft_minter

    dao = deploy_governance(ctx.deployer, ctx.token, params=DAO_DEVNET)
    market, treasury = dao["ModelMarketplace"], dao["Treasury"]
    seller, buyer, creator, nft = ctx.keeper, ctx.requester, ctx.creator, ctx.nft
    reference = ctx.deployer.deploy(project.ReferenceSale)
    for who in (seller, creator, treasury, buyer):
        ctx.token.transfer(who, 10 * PRICE, sender=ctx.deployer)
    for spender in (market, reference):
        ctx.token.approve(spender, 10 * PRICE, sender=buyer)
        nft.setApprovalForAll(spender, True, sender=seller)
    mint = model_nft_minter(nft, creator, seller)
    sale_id, held_id = mint(0xC001), mint(0xC002)
    mint(0xC003)  # kept by the seller: its NFT balance never reaches zero
    listed = market.list(nft, sale_id, PRICE, sender=seller)
    royalty = PRICE * ROYALTY_BPS // 10_000
    fee = PRICE * market.feeBps() // 10_000
    payees = [creator.address, treasury.address, seller.address]
    amounts = [royalty, fee, PRICE - royalty - fee]

    f_list = Floor.of(listed).store("listing slot", True)
    rows = [row_of("list (no reference step)", listed, None, f_list, f_list.note())]
    for buyer_holds in (False, True):
        if buyer_holds:
            nft.transferFrom(seller, buyer, held_id, sender=seller)
        snap = chain.snapshot()
        ref = reference.settle(nft, sale_id, seller, ctx.token, payees, amounts, sender=buyer).gas_used
        chain.restore(snap)  # a snapshot is used up by a restore: take it again
        snap = chain.snapshot()
        buy = market.buy(nft, sale_id, PRICE, sender=buyer)
        f_buy = Floor.of(buy)  # reads the input from the node: before the restore forgets the tx
        chain.restore(snap)
        (
            f_buy.store("listing slot", False, True, "listing cleared")
            .erc20_transfer("buyer", "royalty receiver")
            .erc20_transfer("buyer", "treasury")
            .erc20_transfer("buyer", "seller")
            .call("nft")
            .store("nft owner", False)
            .store("nft balance[seller]", False)
            .store("nft balance[buyer]", not buyer_holds)
            .add("ERC-721 Transfer log", ERC721_TRANSFER_LOG)
        )
        label = "buyer already holds one" if buyer_holds else "buyer's first NFT of the collection"
        rows.append(
            row_of(
                f"buy (5% royalty + 2.5% fee + seller) vs NFT transferFrom + 3 token transfers, {label}",
                buy,
                ref,
                f_buy,
                f_buy.note(),
            )
        )
    return [
        Comparison(
            "ModelMarketplace vs a bare sale (contracts/reference/ReferenceSale.sol)",
            rows,
            notes=[
                "Both sides sell the same ModelNFT token (royalty receiver already stored) from the same "
                "chain snapshot, so every storage slot starts in the same state.",
                "Floor of a buy: the listing slot cleared + 3 ERC-20 transfers out of the buyer's balance "
                "+ the NFT's owner slot and both NFT balances + the ERC-721 Transfer log.",
            ],
        )
    ]


COMPARE_BUILDERS: list[Callable[[GasContext], list[Comparison]]] = [
    nft_comparison,
    escrow_comparison,
    attestation_comparison,
    market_comparison,
]


def compare(builders: list[Callable[[GasContext], list[Comparison]]] | None = None) -> list[Comparison]:
    """Deploy once, then run each comparison on a fresh snapshot (gas_report's machinery)."""
    return collect(builders if builders is not None else COMPARE_BUILDERS)


def main() -> None:
    """``ape run gas_compare``: print the tables and rewrite contracts/GAS_COMPARE.md."""
    text = render(compare(), datetime.date.today().isoformat())
    print(text)
    OUT.write_text(text)
    print(f"written to {OUT}")
