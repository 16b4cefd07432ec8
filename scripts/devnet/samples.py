"""The devnet's sample activity, so that every section of the page has something to show: funded
dev accounts, a model NFT listed on the marketplace, a job run to settlement (and one left open),
a governance proposal open for votes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from scripts.devnet.accounts import ROLE_CREATOR, ROLE_DEPLOYER, ROLE_PROVIDER, ROLE_REQUESTER
from scripts.devnet.context import TOKEN, FlowContext, fmt

FUND = {ROLE_PROVIDER: 200_000, ROLE_REQUESTER: 50_000, ROLE_CREATOR: 10_000}  # dev account -> GPU tokens
JOB_BUDGET = 250 * TOKEN
MODEL_ROYALTY_BPS = 500  # 5 %
MODEL_PRICE = 500 * TOKEN


def _tx_events(tx: Any, contract: Any, name: str) -> list[Any]:
    return list(tx.events.filter(getattr(contract, name)))


def fund_accounts(ctx: FlowContext) -> None:
    token = ctx.contracts["ComputeToken"]
    deployer = ctx.acct(ROLE_DEPLOYER)
    for index, amount in FUND.items():
        token.transfer(ctx.acct(index), amount * TOKEN, sender=deployer)
    # the deployer's votes count in governance once delegated (ERC20Votes)
    token.invoke_transaction("delegate", deployer, sender=deployer)
    # a community allocation for the DAO to spend (grants are voted on the page)
    token.transfer(ctx.contracts["Treasury"], 1_000_000 * TOKEN, sender=deployer)
    ctx.say("funded the dev accounts (provider, requester, model creator)")


def mint_and_list_model(ctx: FlowContext) -> int:
    nft = ctx.contracts["ModelNFT"]
    creator = ctx.acct(ROLE_CREATOR)
    weights_hash = hashlib.sha256(b"devnet sample model: tiny-llama-q4.safetensors").digest()
    nft.mint(creator, weights_hash, "ipfs://devnet/tiny-llama-q4", creator, MODEL_ROYALTY_BPS, sender=creator)
    model_id = int.from_bytes(weights_hash, "big")
    ctx.say(
        f"model NFT 0x{weights_hash.hex()[:12]}… minted by {creator.address} ({MODEL_ROYALTY_BPS / 100}% royalty)"
    )
    market = ctx.contracts["ModelMarketplace"]
    nft.approve(market, model_id, sender=creator)
    market.list(nft, model_id, MODEL_PRICE, sender=creator)
    return model_id


def run_sample_job(ctx: FlowContext, model_id: int, node_id: bytes | None, min_score: int) -> list[str]:
    token, escrow = ctx.contracts["ComputeToken"], ctx.contracts["JobEscrow"]
    requester, provider = ctx.acct(ROLE_REQUESTER), ctx.acct(ROLE_PROVIDER)
    deadline = ctx.ape.chain.pending_timestamp + 3600
    spec = hashlib.sha256(b"devnet sample job: 1000 prompts on the sample model").digest()
    token.approve(escrow, JOB_BUDGET + 100 * TOKEN, sender=requester)
    tx = escrow.postJob(JOB_BUDGET, deadline, min_score, model_id, spec, sender=requester)
    job_id = _tx_events(tx, escrow, "JobPosted")[0].jobId
    lines = [
        f"job #{job_id} posted by {requester.address}: budget {fmt(JOB_BUDGET)}, model id {hex(model_id)[:14]}…"
    ]
    if node_id is None:
        lines.append("no registered node: the job stays open")
        return lines
    escrow.acceptJob(job_id, node_id, b"", sender=provider)
    lines.append(f"accepted by {provider.address} (min verified score {min_score})")
    escrow.submitResult(job_id, hashlib.sha256(b"devnet sample result").digest(), sender=provider)
    tx = escrow.approveResult(job_id, sender=requester)
    settled = _tx_events(tx, escrow, "JobSettled")[0]
    lines.append(
        f"settled: provider {fmt(settled.providerAmount)}, royalty {fmt(settled.royalty)} to "
        f"{settled.royaltyReceiver}, protocol fee {fmt(settled.fee)} to the treasury"
    )
    # a second job left open, for the page to show
    escrow.postJob(100 * TOKEN, deadline, 0, model_id, spec, sender=requester)
    return lines


def open_sample_proposal(ctx: FlowContext) -> list[str]:
    gov, token = ctx.contracts["ComputeGovernor"], ctx.contracts["ComputeToken"]
    deployer = ctx.acct(ROLE_DEPLOYER)
    data = token.transfer.encode_input(ctx.acct(ROLE_CREATOR).address, 1_000 * TOKEN)
    description = "Grant 1,000 GPU from the treasury to the sample model's creator"
    # votes are checkpointed by timestamp and read at clock() - 1: let a couple of seconds pass
    ctx.ape.chain.provider.make_request("evm_increaseTime", [2])
    ctx.ape.chain.mine()
    tx = gov.propose([token.address], [0], [data], description, sender=deployer)
    pid = _tx_events(tx, gov, "ProposalCreated")[0].proposalId
    # let the voting delay pass so the proposal is open for votes on the page
    delay = int(gov.votingDelay())
    ctx.ape.chain.mine(timestamp=ctx.ape.chain.pending_timestamp + delay + 1)
    deadline = int(gov.proposalDeadline(pid))
    now = int(ctx.ape.chain.pending_timestamp)
    votes = int(token.getVotes(deployer.address)) // TOKEN
    ends = datetime.fromtimestamp(deadline, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        f"proposal {str(pid)[:12]}… ({description}) is {['Pending', 'Active'][int(gov.state(pid)) == 1]}",
        f"the vote ends {ends} (chain time, in {max(0, deadline - now) // 60} min); dev account "
        f"{ROLE_DEPLOYER} ({deployer.address}) holds the {votes:,} GPU of delegated votes (tokens vote once delegated)",
    ]
