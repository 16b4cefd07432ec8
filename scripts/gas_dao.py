"""Gas rows for the DAO and the marketplace: propose, vote, queue, execute, list, buy, and the bare
reference a sale is compared with (an ERC-721 transferFrom plus the token transfers of a sale, done by
contracts/reference/ReferenceSale.sol in the same run and under the same storage conditions).

`dao_gas_rows(accounts, chain)` deploys its own contracts on the connected (local) network and returns
rows (operation, gas, reference gas or None). Run alone: `ape run gas_dao`.
"""

from dataclasses import dataclass

from eth_utils import keccak

from scripts.deploy_dao import DAO_DEVNET, deploy_governance

TOKEN = 10**18
PRICE = 1_000 * TOKEN
ROYALTY_BPS = 500


@dataclass(frozen=True)
class GasRow:
    operation: str
    gas: int
    reference: int | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.reference else self.gas / self.reference


def _advance(chain, seconds: int) -> None:
    chain.pending_timestamp += seconds
    chain.mine()


def model_nft_minter(nft, creator, seller):
    """Mint ModelNFTs for a SECONDARY sale: minted by `creator` (5 % royalty to the creator), then
    moved to `seller` once (ModelNFT stores the implicit royalty receiver on the first transfer, a
    one-off cost that should not be charged to the sale or to the reference)."""

    def mint(token_id: int) -> int:
        weights = token_id.to_bytes(32, "big")
        nft.mint(creator, weights, "ipfs://gas-model", creator, ROYALTY_BPS, sender=creator)
        nft.transferFrom(creator, seller, token_id, sender=creator)
        return token_id

    return mint


def reference_minter(nft, creator, seller):
    """Mint ReferenceRoyaltyNFTs straight to `seller` with a 5 % royalty to `creator`."""

    def mint(token_id: int) -> int:
        nft.mint(seller, token_id, creator, ROYALTY_BPS, sender=seller)
        return token_id

    return mint


def market_rows(project, deployer, token, market, treasury, seller, buyer, creator, nft=None) -> list[GasRow]:
    """list / buy (royalty + fee) and the bare reference, measured on the same collection: the
    protocol's ModelNFT when given, else a fresh ReferenceRoyaltyNFT."""
    from ape import chain

    if nft is None:
        nft = deployer.deploy(project.ReferenceRoyaltyNFT)
        mint = reference_minter(nft, creator, seller)
    else:
        mint = model_nft_minter(nft, creator, seller)
    reference = deployer.deploy(project.ReferenceSale)
    # Steady state for both measurements: every payee already holds tokens, the buyer has a standing
    # allowance, the seller uses operator approvals (no per-token approval to clear).
    for who in (seller, creator, treasury, buyer):
        token.transfer(who, 10 * PRICE, sender=deployer)
    for spender in (market, reference):
        token.approve(spender, 10 * PRICE, sender=buyer)
        nft.setApprovalForAll(spender, True, sender=seller)
    sale_id = mint(0xDA02)
    mint(0xDA03)  # kept by the seller: no NFT balance reaches zero (no refund skews either number)

    royalty = PRICE * ROYALTY_BPS // 10_000
    fee = PRICE * market.feeBps() // 10_000
    payees3 = [creator.address, treasury.address, seller.address]
    amounts3 = [royalty, fee, PRICE - royalty - fee]
    listed = market.list(nft, sale_id, PRICE, sender=seller).gas_used

    # Each sale is measured on the SAME token from the SAME snapshot, so every storage slot (the
    # buyer's NFT balance included) starts in the same state on both sides.
    def measured(send) -> int:
        snap = chain.snapshot()
        gas = send().gas_used
        chain.restore(snap)
        return gas

    ref3 = measured(lambda: reference.settle(nft, sale_id, seller, token, payees3, amounts3, sender=buyer))
    ref2 = measured(
        lambda: reference.settle(
            nft, sale_id, seller, token, payees3[1:], [fee + royalty, PRICE - royalty - fee], sender=buyer
        )
    )
    bought = measured(lambda: market.buy(nft, sale_id, PRICE, sender=buyer))
    return [
        GasRow("market: list", listed),
        GasRow("reference: NFT transferFrom + 2 token transfers", ref2),
        GasRow("reference: NFT transferFrom + 3 token transfers", ref3),
        GasRow("market: buy (royalty + fee) vs ref 3 transfers", bought, ref3),
        GasRow("market: buy (royalty + fee) vs ref 2 transfers", bought, ref2),
    ]


def governance_rows(deployer, token, voter, chain, dao) -> list[GasRow]:
    """propose / castVote / queue / execute of a one-action proposal (set the market fee)."""
    governor, market = dao["ComputeGovernor"], dao["ModelMarketplace"]
    token.transfer(voter, 5_000_000 * TOKEN, sender=deployer)
    token.invoke_transaction("delegate", voter, sender=voter)
    _advance(chain, 1)
    calldata = bytes(market.setFeeBps.encode_input(300))
    args = ([market.address], [0], [calldata])
    description = "gas: set the market fee to 3 %"
    tx = governor.propose(*args, description, sender=voter)
    pid = tx.events.filter(governor.ProposalCreated)[0].proposalId
    _advance(chain, governor.proposalSnapshot(pid) - chain.pending_timestamp + 1)
    vote = governor.castVote(pid, 1, sender=voter)
    _advance(chain, governor.proposalDeadline(pid) - chain.pending_timestamp + 1)
    dh = keccak(text=description)
    queue = governor.queue(*args, dh, sender=voter)
    _advance(chain, DAO_DEVNET["timelock_delay"] + 1)
    execute = governor.execute(*args, dh, sender=voter)
    return [
        GasRow("governor: propose (1 action)", tx.gas_used),
        GasRow("governor: castVote", vote.gas_used),
        GasRow("governor: queue (timelock scheduleBatch)", queue.gas_used),
        GasRow("governor: execute (timelock executeBatch)", execute.gas_used),
    ]


def dao_gas_rows(accounts, chain, project=None) -> list[GasRow]:
    """Deploy a fresh token, ModelNFT and DAO on the connected network and measure every DAO and
    marketplace operation (standalone: `ape run gas_dao`)."""
    if project is None:
        from ape import project
    deployer = accounts[0]
    token = deployer.deploy(project.ComputeToken, deployer, 100_000_000 * TOKEN)
    nft = deployer.deploy(project.ModelNFT, 1_000, "ipfs://")
    dao = deploy_governance(deployer, token, params=DAO_DEVNET)
    market, treasury = dao["ModelMarketplace"], dao["Treasury"]
    rows = market_rows(project, deployer, token, market, treasury, accounts[1], accounts[2], accounts[3], nft)
    rows += governance_rows(deployer, token, accounts[5], chain, dao)
    return rows


def dao_sections(ctx) -> list[tuple[str, list[tuple[str, int, int | None]]]]:
    """Builder for scripts/gas_report.py (its GasContext): the DAO and marketplace sections."""
    from ape import chain, project

    dao = deploy_governance(ctx.deployer, ctx.token, params=DAO_DEVNET)
    market, treasury = dao["ModelMarketplace"], dao["Treasury"]
    market_ = market_rows(
        project, ctx.deployer, ctx.token, market, treasury, ctx.keeper, ctx.requester, ctx.creator, ctx.nft
    )
    gov = governance_rows(ctx.deployer, ctx.token, ctx.provider, chain, dao)
    as_rows = lambda rows: [(r.operation, r.gas, r.reference) for r in rows]  # noqa: E731
    return [
        (
            "ModelMarketplace (ModelNFT secondary sale: 5% royalty + 2.5% fee; target ratio <= 1.15)",
            as_rows(market_),
        ),
        ("ComputeGovernor + Treasury timelock (1-action proposal)", as_rows(gov)),
    ]


def format_rows(rows: list[GasRow]) -> str:
    lines = [f"{'operation':<52} | {'gas':>9} | {'reference':>9} | ratio", "-" * 85]
    for r in rows:
        ref = f"{r.reference:>9}" if r.reference else " " * 9
        ratio = f"{r.ratio:.3f}" if r.ratio else ""
        lines.append(f"{r.operation:<52} | {r.gas:>9} | {ref} | {ratio}")
    return "\n".join(lines)


def main() -> None:
    from ape import accounts, chain

    print(format_rows(dao_gas_rows(accounts.test_accounts, chain)))
