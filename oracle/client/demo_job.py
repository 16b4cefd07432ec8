"""The devnet demo's real AI job: the demo digit classifier minted as a ModelNFT, a job posted on
held-out digits (the files handed to the provider's job agent with ``PUT /blobs/<sha256>``, as
the page does), the agent running it on ONNX Runtime, the outputs fetched and checked
(16 items re-run here as one batch), approved, and the royalty paid -- all over the deployment
file and RPC the devnet writes, with plain dev keys (the flow's anvil accounts).

``run_demo_job(...)`` returns the numbers and lines for the demo's output; ``say`` prints progress.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account import Account

from oracle.chain import ChainClient
from oracle.client.jobs import JobClient, JobClientError
from oracle.deployment import load_deployment
from oracle.inventory import node_id, synthetic_uuid
from oracle.provider.jobs_agent import JobAgent
from oracle.provider.jobs_policy import JobPolicy
from oracle.work import demo_model
from oracle.work.content import cid_of, sha256
from oracle.work.escrow import Escrow, Status

DEMO_ROYALTY_BPS = 500
DEMO_NODE_UUID = synthetic_uuid("devnet-job-agent")
"""The demo's CPU node: a canonical fake UUID (ComputeStaking accepts only NVML's form)."""
TOKEN = 10**18


@dataclass
class DemoJobResult:
    job_id: int
    model_id: int
    items: int
    accuracy: float
    check_ok: bool
    royalty: int
    royalty_receiver: str
    fee: int
    provider_amount: int
    post_to_checked_s: float
    gas: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _escrow(rpc: str, deployment: str, key: str) -> Escrow:
    return Escrow(ChainClient(rpc, load_deployment(deployment), Account.from_key(key)))


def ensure_model_minted(creator: Escrow, data: bytes, royalty_bps: int = DEMO_ROYALTY_BPS) -> tuple[int, int]:
    """Mint the model whose weights are ``data`` to the creator (royalty to the creator) unless it
    exists; returns (model id, gas used, 0 when it existed)."""
    digest = sha256(data)
    model_id = int.from_bytes(digest, "big")
    if creator.model_exists(model_id):
        return model_id, 0
    tx = creator.chain.transact(
        "ModelNFT", "mint", creator.me, digest, f"ipfs://{cid_of(data)}", creator.me, royalty_bps
    )
    return model_id, tx.gas_used


def ensure_job_node(provider: Escrow, url: str, collateral: int) -> bytes:
    """A node of the provider whose endpoint is the job agent's URL, and free stake for the job's
    ``collateral`` (staking what is missing)."""
    node = node_id(DEMO_NODE_UUID)
    registered = int(provider.chain.call("ComputeStaking", "nodeOwner", node), 16) != 0
    need = collateral + (0 if registered else int(provider.chain.call("ComputeStaking", "minStakePerGpu")))
    missing = need - provider.free_stake(provider.me)
    if missing > 0:
        staking = provider.chain.deployment.get("ComputeStaking").address
        provider.chain.transact("ComputeToken", "approve", staking, missing)
        provider.chain.transact("ComputeStaking", "stake", missing)
    if not registered:
        ram_mib = (
            os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
        )  # no GPU: the CPU's memory
        gpu = "CPU (ONNX Runtime)"
        provider.chain.transact(
            "ComputeStaking", "registerNode", DEMO_NODE_UUID, gpu, min(ram_mib, 2**32 - 1), url
        )
    return node


def _tx_gas(escrow: Escrow, event: str, job_id: int) -> int:
    logs = escrow.events(event, job_id)
    receipt = escrow.chain.receipt("0x" + bytes(logs[-1]["transactionHash"]).hex()) if logs else None
    return int(receipt["gasUsed"]) if receipt else 0


def run_demo_job(
    deployment: str,
    rpc: str,
    requester_key: str,
    provider_key: str,
    creator_key: str,
    *,
    jobs_url: str | None = None,
    items: int = 360,
    budget: int = 100 * TOKEN,
    state_dir: str | Path | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float = 120.0,
) -> DemoJobResult:
    """Run one real inference job end to end on the devnet (module doc). ``jobs_url``: the
    provider's running job agent (the devnet's, whose node is registered); without it an agent
    runs here, on a node of its own, for this one job."""
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="demo-job-"))
    data = demo_model.model_bytes(demo_model.SMALL.name)
    model_id, mint_gas = ensure_model_minted(_escrow(rpc, deployment, creator_key), data)
    say(
        f"model NFT {model_id:#x} = sha256 of the demo ONNX file ({len(data):,} bytes), royalty {DEMO_ROYALTY_BPS / 100}%"
    )
    client = JobClient(_escrow(rpc, deployment, requester_key), state / "requester", port=_free_port())
    client.start()
    agent = None
    if jobs_url is None:
        port = _free_port()
        provider = _escrow(rpc, deployment, provider_key)
        collateral = budget * int(provider.chain.call("JobEscrow", "collateralBps")) // 10_000
        node = ensure_job_node(provider, f"http://127.0.0.1:{port}", collateral)
        policy = JobPolicy(node_id=node, deadline_margin_s=30, batch_size=4096)
        agent = JobAgent(provider, policy, state / "provider", port=port, on_step=None)
        jobs_url = agent.start()
    try:
        x, y = demo_model.test_set(items)
        deadline = client.escrow.chain.block_timestamp() + 3600
        t0 = time.perf_counter()
        client.push(jobs_url, client.prepare(data, x, deadline))  # the files to the agent, as the page does
        posted = client.post(data, x, budget, deadline)
        say(
            f"job #{posted.job_id} posted: {items} digits, budget {budget / TOKEN:g}, specHash 0x{posted.spec_hash.hex()[:16]}…"
        )
        end = time.monotonic() + timeout_s
        while client.escrow.job(posted.job_id).status < Status.SUBMITTED and time.monotonic() < end:
            if agent is not None:
                agent.poll_once()
            time.sleep(0.05)
        if client.escrow.job(posted.job_id).status < Status.SUBMITTED:
            raise JobClientError(
                f"the job agent at {jobs_url} did not submit job {posted.job_id} within {timeout_s:.0f} s: see its log"
            )
        labels, _ = client.outputs(posted.job_id)
        accuracy = float(np.mean(labels == y))
        report = client.check(posted.job_id, samples=16)
        elapsed = time.perf_counter() - t0
        approve_gas = client.approve(posted.job_id)
        settled = client.escrow.events("JobSettled", posted.job_id)[-1]["args"]
        gas = {
            "mint": mint_gas,
            "post (permit)": posted.gas_used,
            "accept": _tx_gas(client.escrow, "JobAccepted", posted.job_id),
            "submit": _tx_gas(client.escrow, "ResultSubmitted", posted.job_id),
            "approve + settle": approve_gas,
        }
        result = DemoJobResult(
            posted.job_id,
            model_id,
            items,
            accuracy,
            report.ok,
            int(settled["royalty"]),
            settled["royaltyReceiver"],
            int(settled["fee"]),
            int(settled["providerAmount"]),
            elapsed,
            gas,
        )
        result.lines = [
            f"job #{posted.job_id}: {items} digits classified by ONNX Runtime on the provider, outputs root "
            f"0x{client.escrow.result_hash(posted.job_id).hex()[:16]}… on chain",
            f"outputs fetched and checked against the root; accuracy {accuracy:.1%} against the true labels",
            f"check: 16 items re-run here as one batch {'passed' if report.ok else 'FAILED'} "
            f"({report.rerun_seconds * 1000:.1f} ms); post to checked result {elapsed:.1f} s",
            f"settled: royalty {result.royalty / TOKEN:g} to {result.royalty_receiver}, fee {result.fee / TOKEN:g}, "
            f"provider {result.provider_amount / TOKEN:g}; gas "
            + ", ".join(f"{k} {v:,}" for k, v in gas.items()),
        ]
        for line in result.lines:
            say(line)
        return result
    finally:
        if agent is not None:
            agent.stop()
        client.stop()
