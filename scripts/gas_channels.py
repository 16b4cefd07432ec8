"""Gas of pay-per-use over PaymentChannels, side by side with one ERC-20 transfer per request (the
x402 way) and Livepeer's published ticket redemption figure, in ONE anvil run:
``ape run gas_channels`` prints the table and writes ``contracts/GAS_CHANNELS.md``.

Measured: open (with and without a royalty-bearing model), top-up, the first and a later redemption,
request-close and withdraw; then the on-chain cost per request when one redemption settles 1, 100 and
10,000 requests (each redemption is a real transaction whose voucher covers that many requests at
PRICE each), and the whole channel life (open + redemption + close + withdraw) spread over the same
counts. The x402 column is a real `transfer` of PRICE between two accounts that already hold tokens.
"""

import datetime
from dataclasses import dataclass
from pathlib import Path

from ape import accounts, chain, project
from eth_account import Account
from eth_utils import keccak

from oracle.client.pay_voucher import Voucher, channels_domain, sign_voucher

OUT = Path(__file__).resolve().parent.parent / "contracts" / "GAS_CHANNELS.md"
ETHER = 10**18
PRICE = 10**15  # 0.001 token per request
FEE_BPS = 250
ROYALTY_BPS = 500
CLOSE_DELAY = 3600
COUNTS = (1, 100, 10_000)
GOAL_PER_REQUEST = 10
#: Livepeer's published cost of redeeming one winning probabilistic micropayment ticket on L1.
LIVEPEER_TICKET_GAS = (190_000, 300_000)
SESSION = Account.from_key(keccak(text="gas-channels-session"))


@dataclass
class Measured:
    operation: str
    gas: int
    note: str = ""


def _gas(tx) -> int:
    return int(tx.gas_used)


def measure() -> tuple[list[Measured], list[tuple[int, int, int, int]], int]:
    """(operation rows, per-count rows (n, redeem gas, lifecycle gas, x402 gas for n), x402 transfer gas)."""
    deployer, user, provider, creator, treasury, payee = (accounts.test_accounts[i] for i in range(6))
    token = deployer.deploy(project.ComputeToken, deployer, 100_000_000 * ETHER)
    nft = deployer.deploy(project.ModelNFT, 1_000, "ipfs://models/")
    channels = deployer.deploy(project.PaymentChannels, token, nft, treasury, FEE_BPS, CLOSE_DELAY)
    for who in (user, provider, creator, treasury, payee):
        token.transfer(who, 1_000 * ETHER, sender=deployer)  # every receiver already holds tokens
    model = int.from_bytes(keccak(text="gas-channels-model"), "big")
    nft.mint(creator, model.to_bytes(32, "big"), "ipfs://card", creator, ROYALTY_BPS, sender=creator)
    domain = channels_domain(chain.chain_id, str(channels.address))
    token.approve(channels, 2**255, sender=user)

    rows: list[Measured] = []

    def open_channel(model_id: int, amount: int) -> tuple[int, int]:
        tx = channels.open(provider, SESSION.address, model_id, amount, sender=user)
        return next(iter(tx.events.filter(channels.ChannelOpened))).channelId, _gas(tx)

    def redeem(cid: int, cumulative: int, model_id: int) -> int:
        sig = sign_voucher(domain, Voucher(cid, cumulative, model_id), SESSION.key)
        return _gas(channels.redeem(cid, cumulative, sig, sender=provider))

    deposit = max(COUNTS) * PRICE * 2
    cid, g = open_channel(model, deposit)
    rows.append(Measured("open (model with royalty)", g, "5 slots + counter; token transferFrom"))
    _, g = open_channel(0, deposit)
    rows.append(Measured("open (no model)", g, "3 slots + counter"))
    rows.append(Measured("topUp", _gas(channels.topUp(cid, PRICE, sender=user))))
    rows.append(
        Measured("redeem, later (fee + royalty + provider)", redeem(cid, PRICE, model), "3 transfers")
    )
    rows.append(
        Measured(
            "setSigner (rotate the session key)", _gas(channels.setSigner(cid, SESSION.address, sender=user))
        )
    )
    rows.append(Measured("requestClose", _gas(channels.requestClose(cid, sender=user))))
    chain.pending_timestamp += CLOSE_DELAY
    rows.append(Measured("withdraw (refund, slots deleted)", _gas(channels.withdraw(cid, sender=user))))

    x402 = _gas(token.transfer(payee, PRICE, sender=user))
    per_count = []
    for n in COUNTS:
        cid, open_gas = open_channel(model, deposit)
        redeem(cid, PRICE, model)  # the provider's first redemption happened earlier in real use
        g = redeem(cid, PRICE + n * PRICE, model)
        close_gas = _gas(channels.requestClose(cid, sender=user))
        chain.pending_timestamp += CLOSE_DELAY
        withdraw_gas = _gas(channels.withdraw(cid, sender=user))
        per_count.append((n, g, open_gas + g + close_gas + withdraw_gas, x402 * n))
    return rows, per_count, x402


def render(rows: list[Measured], per_count, x402: int) -> str:
    today = datetime.date.today().isoformat()
    lo, hi = LIVEPEER_TICKET_GAS
    lines = [
        "# Gas: pay per use over payment channels",
        "",
        f"Written by `ape run gas_channels` (scripts/gas_channels.py) on {today}, one anvil run, solc 0.8.37",
        "optimizer 1000 runs, EVM prague. Token: ComputeToken (ERC-20 + permit + votes, no delegates set).",
        f"Price {PRICE / ETHER} token per request, fee {FEE_BPS} bps, model royalty {ROYALTY_BPS} bps; every receiver",
        "already holds tokens (the steady state of a running provider). Gas is the whole transaction's",
        "(21,000 base and calldata included).",
        "",
        "## Operations",
        "",
        "| operation | gas | note |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {r.operation} | {r.gas:,} | {r.note} |" for r in rows]
    lines += [
        "",
        "## On-chain cost per request",
        "",
        "One redemption settles every request the voucher's cumulative amount covers, so its gas does not",
        "grow with the count. 'Channel life' spreads open + that redemption + requestClose + withdraw over",
        f"the same requests. x402 style: one ERC-20 `transfer` per request ({x402:,} gas each). Livepeer:",
        f"{lo:,}-{hi:,} gas per winning ticket redeemed on L1 (Livepeer's published figure, cited as",
        "published, not measured here); a ticket pays for many segments in expectation, so its cost per",
        "request depends on the win probability the orchestrator sets.",
        "",
        "| requests per redemption | redeem gas | gas / request (redeem) | gas / request (channel life) | x402: gas / request | Livepeer: gas per winning ticket |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, g, life, x in per_count:
        lines.append(f"| {n:,} | {g:,} | {g / n:,.1f} | {life / n:,.1f} | {x / n:,.0f} | {lo:,}-{hi:,} |")
    n, g, _, _ = per_count[-1]
    verdict = "met" if g / n < GOAL_PER_REQUEST else "NOT met"
    lines += [
        "",
        f"Goal: under {GOAL_PER_REQUEST} gas per request at {n:,} requests per redemption: **{verdict}** "
        f"({g / n:.1f} gas/request).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    rows, per_count, x402 = measure()
    text = render(rows, per_count, x402)
    OUT.write_text(text)
    print(text)
    print(f"wrote {OUT}")
