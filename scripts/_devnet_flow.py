"""The devnet's protocol walk-through, run by scripts/devnet.py after the deploy (not an Ape script).

Steps (each one uses what the deployment holds, so a partial deployment still gives a working
devnet): fund the dev accounts, start the provider agent and register its GPU (stake +
registerNode with metadataURI = the agent's URL), start the validators and wait for the first
epoch's attestation, mint a model NFT and list it, post a job that uses the model, have the
provider accept and submit, approve it as the requester, and open a sample governance proposal.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR_THRESHOLD_FLOW = 2
TOKEN = 10**18
FUND = {1: 200_000, 5: 50_000, 6: 10_000}  # dev account index -> GPU tokens
JOB_BUDGET = 250 * TOKEN
MODEL_ROYALTY_BPS = 500  # 5 %
MODEL_PRICE = 500 * TOKEN


def fmt(amount: int) -> str:
    whole, frac = divmod(int(amount), TOKEN)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:018d}".rstrip("0")[:4]
    return f"{text} GPU"


@dataclass
class FlowContext:
    ape: Any
    contracts: dict[str, Any]
    doc: dict[str, Any]
    sup: Any
    rpc_url: str
    say: Callable[[str], None]
    state_dir: Path
    sections: list[dict[str, Any]] = field(default_factory=list)

    def acct(self, index: int) -> Any:
        return self.ape.accounts.test_accounts[index]

    def has(self, *names: str) -> bool:
        return all(n in self.contracts for n in names)

    def section(self, title: str, lines: list[str]) -> None:
        self.sections.append({"title": title, "lines": lines})


def _tx_events(tx: Any, contract: Any, name: str) -> list[Any]:
    return list(tx.events.filter(getattr(contract, name)))


def fund_accounts(ctx: FlowContext) -> None:
    token = ctx.contracts["ComputeToken"]
    deployer = ctx.acct(0)
    for index, amount in FUND.items():
        token.transfer(ctx.acct(index), amount * TOKEN, sender=deployer)
    # the deployer's votes count in governance once delegated (ERC20Votes)
    token.invoke_transaction("delegate", deployer, sender=deployer)
    if ctx.has("Treasury"):
        # a community allocation for the DAO to spend (grants are voted on the page)
        token.transfer(ctx.contracts["Treasury"], 1_000_000 * TOKEN, sender=deployer)
    ctx.say("funded the dev accounts (provider, requester, model creator)")


# ---------------------------------------------------------------------------------------------
# Provider agent
# ---------------------------------------------------------------------------------------------


@dataclass
class NodeFacts:
    node_id: bytes
    gpu_model: str
    vram_mib: int
    url: str


def _http_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def start_provider_agent(ctx: FlowContext, port: int) -> NodeFacts:
    """`oracle serve --bench` on 127.0.0.1:port (the GPU if this machine has one, else the CPU).
    Returns the node it reports in GET /inventory (the first GPU, or the CPU)."""
    from devnet import VENV_BIN, DevnetError

    url = f"http://127.0.0.1:{port}"
    ctx.sup.start(
        # --bench: the agent measures itself once and publishes the figures the validators attest
        "provider-agent",
        [str(VENV_BIN / "oracle"), "serve", "--host", "127.0.0.1", "--port", str(port), "--bench"],
    )
    deadline = time.monotonic() + 60
    while True:
        ctx.sup.check_alive()
        try:
            inventory = _http_json(url + "/inventory")
            break
        except OSError as e:
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"the provider agent did not answer on {url}/inventory within 60 s ({e})"
                ) from e
            time.sleep(0.2)
    return facts_from_inventory(inventory, url)


def facts_from_inventory(inventory: dict[str, Any], url: str) -> NodeFacts:
    """The node to register from an `oracle serve` inventory: its first GPU (id = keccak of the
    GPU UUID, as oracle.inventory computes it), or this machine's CPU when there is no GPU."""
    gpus = inventory.get("gpus") or []
    if gpus:
        g = gpus[0]
        vram = int(g.get("memory_total_bytes") or 0) // 2**20
        return NodeFacts(bytes.fromhex(g["node_id"].removeprefix("0x")), g["name"][:64], max(vram, 1), url)
    cpu = inventory.get("cpu") or {}
    facts = local_node_facts()
    mem = int(cpu.get("memory_total_bytes") or 0) // 2**20
    name = f"CPU {cpu.get('model') or facts.gpu_model}"[:64]
    return NodeFacts(facts.node_id, name, mem or facts.vram_mib, url)


def oracle_commands() -> set[str]:
    """The `oracle` CLI sub-commands this checkout has (empty when oracle.cli is absent)."""
    import importlib.util

    if importlib.util.find_spec("oracle.cli") is None:
        return set()
    import subprocess

    from devnet import VENV_BIN

    out = subprocess.run([str(VENV_BIN / "oracle"), "--help"], capture_output=True, text=True, timeout=60)
    return {c for c in ("serve", "run", "inventory", "bench", "challenge") if c in out.stdout}


def local_node_facts() -> NodeFacts:
    """This machine's compute device without the agent: the CPU (no GPU driver here)."""
    import platform
    import socket

    from eth_utils import keccak

    name = f"CPU {platform.machine()} ({os.cpu_count()} cores)"
    node_id = keccak(text=f"devnet-cpu-node:{socket.gethostname()}")
    mem_mib = 1024
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_mib = max(1024, pages // (1024 * 1024))
    except (ValueError, OSError):
        pass
    return NodeFacts(node_id=node_id, gpu_model=name[:64], vram_mib=int(mem_mib), url="")


def register_provider(ctx: FlowContext, facts: NodeFacts) -> None:
    token, staking = ctx.contracts["ComputeToken"], ctx.contracts["ComputeStaking"]
    provider = ctx.acct(1)
    amount = max(staking.minStakePerGpu() * 2, 10_000 * TOKEN)
    token.approve(staking, amount, sender=provider)
    staking.stake(amount, sender=provider)
    staking.registerNode(facts.node_id, facts.gpu_model, facts.vram_mib, facts.url, sender=provider)
    ctx.say(
        f"provider {provider.address} staked {fmt(amount)} and registered {facts.gpu_model} at {facts.url}"
    )


# ---------------------------------------------------------------------------------------------
# Validators and the first epoch's attestation
# ---------------------------------------------------------------------------------------------

EPOCH_SECONDS = 300
VALIDITY_SECONDS = 12 * 3600


def validator_command(commands: set[str]) -> list[str] | None:
    """`oracle run` when the CLI has it, else the same daemon as `python -m oracle run`."""
    import importlib.util

    from devnet import VENV_BIN

    if "run" in commands:
        return [str(VENV_BIN / "oracle"), "run"]
    if importlib.util.find_spec("oracle.cli_run") is not None:
        return [sys.executable, "-m", "oracle", "run"]
    return None


def start_validators(ctx: FlowContext, base: list[str]) -> list[str]:
    """Three validators (dev accounts 2-4, threshold 2 in the registry), each serving its
    signatures on its own port and knowing the other two. Returns their URLs."""
    from devnet import ROLE_VALIDATORS, dev_accounts, free_port

    keys = {a.index: a.private_key for a in dev_accounts()}
    ports = [free_port() for _ in ROLE_VALIDATORS]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    genesis = int(ctx.ape.chain.blocks.head.timestamp)
    deployment = ctx.state_dir / "deployment.json"
    for n, (index, port) in enumerate(zip(ROLE_VALIDATORS, ports, strict=True)):
        peers = ",".join(u for u in urls if u != urls[n])
        argv = [
            *base,
            "--deployment",
            str(deployment),
            "--rpc",
            ctx.rpc_url,
            "--private-key",
            keys[index],
            "--journal",
            str(ctx.state_dir / "validators" / f"journal-{n + 1}.sqlite"),
            "--peers",
            peers,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--genesis",
            str(genesis),
            "--epoch-seconds",
            str(EPOCH_SECONDS),
            "--validity-seconds",
            str(VALIDITY_SECONDS),
            "--finder",
            ctx.acct(index).address,
        ]
        ctx.sup.start(f"validator-{n + 1}", argv)
    ctx.say(f"started 3 validators ({', '.join(urls)}), threshold 2, {EPOCH_SECONDS} s epochs")
    return urls


def validators_gave_up(ctx: FlowContext) -> str | None:
    """If every validator's JSON log shows a finished epoch with nothing signed, the reason the
    last challenge gave (e.g. the provider reports no benchmark); else None."""
    reasons = []
    logs = sorted((ctx.state_dir / "logs").glob("validator-*.log"))
    if not logs:
        return None
    for log in logs:
        done, reason = False, ""
        for line in log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "challenge":
                reason = f"{event.get('result')}: {event.get('reason')}"
            if event.get("event") == "epoch_done" and event.get("nodes") and not event.get("signed"):
                done = True
        if not done:
            return None
        reasons.append(reason)
    return reasons[-1] or "no reason logged"


def wait_for_attestation(ctx: FlowContext, node_id: bytes, timeout: float = 150.0) -> dict[str, Any]:
    """Wait until the validators' first attestation of `node_id` is on chain; returns it."""
    from devnet import DevnetError

    registry = ctx.contracts["AttestationRegistry"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ctx.sup.check_alive()
        gave_up = validators_gave_up(ctx)
        if gave_up:
            raise DevnetError(f"every validator finished its epoch without signing: {gave_up}")
        record = registry.recordOf(node_id)
        if int(record.epoch) > 0:
            from oracle.attest import Attestation

            # the stored record holds epoch and score; the figures are in the event of that epoch
            att = next(
                a
                for a in (
                    Attestation(*log.attestation)
                    for log in registry.AttestationRecorded.range(0, registry.chain_manager.blocks.height + 1)
                )
                if a.nodeId == node_id and a.epoch == int(record.epoch)
            )
            return {
                "epoch": int(record.epoch),
                "score": int(record.score),
                "fp32": att.fp32 / 100,
                "fp16": att.fp16 / 100,
                "signers": VALIDATOR_THRESHOLD_FLOW,
            }
        time.sleep(0.5)
    raise DevnetError(
        f"no attestation of node 0x{node_id.hex()} within {timeout:.0f} s: see the validator logs in "
        f"{ctx.state_dir / 'logs'}"
    )


def attest_directly(ctx: FlowContext, facts: NodeFacts, epoch: int = 1) -> dict[str, Any]:
    """Without `oracle run`: measure the CPU node here, have the three dev validators sign the
    attestation with the oracle package's EIP-712 code (oracle.attest) and submit it (2-of-3)."""
    from oracle import attest as A
    from oracle.bench import run_bench

    registry = ctx.contracts["AttestationRegistry"]
    from devnet import dev_accounts

    keys = {a.index: a.private_key for a in dev_accounts()}
    # the protocol's own benchmark (oracle.bench: GPU through torch when present, else the CPU)
    on_gpu = not facts.gpu_model.startswith("CPU")
    bench = run_bench("auto", n=None if on_gpu else 256, repeats=3)
    tflops = {g.precision: g.tflops for g in bench.gemm}
    gbps = bench.bandwidth.gb_s if bench.bandwidth else 0.0
    now = ctx.ape.chain.pending_timestamp
    att = A.Attestation(
        provider=ctx.acct(1).address,
        nodeId=facts.node_id,
        gpuModel=A.gpu_model_bytes32(facts.gpu_model),
        vramMiB=facts.vram_mib,
        fp32=A.tflops_fixed(tflops.get("fp32", 0.0)),
        tf32=A.tflops_fixed(tflops.get("tf32", 0.0)),
        fp16=A.tflops_fixed(tflops.get("fp16", 0.0)),
        bf16=A.tflops_fixed(tflops.get("bf16", 0.0)),
        memBandwidth=round(gbps),
        powerW=0,
        score=max(1, bench.score),
        epoch=epoch,
        reportHash=hashlib.sha256(bench.to_json().encode()).digest(),
        expiry=now + 12 * 3600,
    )
    domain = A.Domain(chain_id=ctx.ape.chain.chain_id, verifying_contract=registry.address)
    from devnet import ROLE_VALIDATORS, VALIDATOR_THRESHOLD

    sigs = [A.sign_attestation(keys[i], domain, att) for i in ROLE_VALIDATORS]
    digest = A.attestation_digest(domain, att)
    signatures = A.aggregate(sigs, VALIDATOR_THRESHOLD, digest=digest)
    registry.submit(att.as_tuple(), signatures, sender=ctx.acct(ROLE_VALIDATORS[0]))
    return {
        "epoch": epoch,
        "score": att.score,
        "fp32": tflops.get("fp32", 0.0),
        "fp16": tflops.get("fp16", 0.0),
        "signers": VALIDATOR_THRESHOLD,
    }


# ---------------------------------------------------------------------------------------------
# Models, jobs, governance
# ---------------------------------------------------------------------------------------------


def mint_and_list_model(ctx: FlowContext) -> int:
    nft = ctx.contracts["ModelNFT"]
    creator = ctx.acct(6)
    weights_hash = hashlib.sha256(b"devnet sample model: tiny-llama-q4.safetensors").digest()
    nft.mint(creator, weights_hash, "ipfs://devnet/tiny-llama-q4", creator, MODEL_ROYALTY_BPS, sender=creator)
    model_id = int.from_bytes(weights_hash, "big")
    ctx.say(
        f"model NFT 0x{weights_hash.hex()[:12]}… minted by {creator.address} ({MODEL_ROYALTY_BPS / 100}% royalty)"
    )
    if ctx.has("ModelMarketplace"):
        market = ctx.contracts["ModelMarketplace"]
        nft.approve(market, model_id, sender=creator)
        market.list(nft, model_id, MODEL_PRICE, sender=creator)
    return model_id


def run_sample_job(ctx: FlowContext, model_id: int, node_id: bytes | None, min_score: int) -> list[str]:
    token, escrow = ctx.contracts["ComputeToken"], ctx.contracts["JobEscrow"]
    requester, provider = ctx.acct(5), ctx.acct(1)
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
    deployer = ctx.acct(0)
    data = token.transfer.encode_input(ctx.acct(6).address, 1_000 * TOKEN)
    description = "Grant 1,000 GPU from the treasury to the sample model's creator"
    # votes are checkpointed by timestamp and read at clock() - 1: let a couple of seconds pass
    ctx.ape.chain.provider.make_request("evm_increaseTime", [2])
    ctx.ape.chain.mine()
    tx = gov.propose([token.address], [0], [data], description, sender=deployer)
    pid = _tx_events(tx, gov, "ProposalCreated")[0].proposalId
    # let the voting delay pass so the proposal is open for votes on the page
    delay = int(gov.votingDelay())
    ctx.ape.chain.mine(timestamp=ctx.ape.chain.pending_timestamp + delay + 1)
    return [f"proposal {str(pid)[:12]}… ({description}) is {['Pending', 'Active'][int(gov.state(pid)) == 1]}"]


def run_flow(  # noqa: C901 (one straight walk-through)
    ape: Any,
    contracts: dict[str, Any],
    doc: dict[str, Any],
    sup: Any,
    rpc_url: str,
    say: Callable[[str], None],
    state_dir: Path,
    agent_port: int,
    with_oracle: bool = True,
) -> list[dict[str, Any]]:
    from devnet import DevnetError

    ctx = FlowContext(ape, contracts, doc, sup, rpc_url, say, state_dir)
    if not ctx.has("ComputeToken"):
        return ctx.sections
    fund_accounts(ctx)
    node_id: bytes | None = None
    commands = oracle_commands() if with_oracle else set()
    validator_cmd = validator_command(commands) if with_oracle else None
    if ctx.has("ComputeStaking"):
        if "serve" in commands:
            facts = start_provider_agent(ctx, agent_port)
        else:
            facts = local_node_facts()
            say("no `oracle serve` in this checkout: registering this machine's CPU node directly")
        register_provider(ctx, facts)
        node_id = facts.node_id
        ctx.section(
            "provider",
            [
                f"{facts.gpu_model} ({facts.vram_mib} MiB), node id 0x{facts.node_id.hex()}",
                f"agent {facts.url or '(none: registered directly)'}",
            ],
        )
    min_score = 0
    if node_id is not None and ctx.has("AttestationRegistry"):
        a = None
        if validator_cmd and facts.url:
            start_validators(ctx, validator_cmd)
            try:
                a = wait_for_attestation(ctx, node_id, timeout=45)
                how = "by the validator daemons: challenged the provider agent, signed, aggregated, submitted"
            except DevnetError as e:
                reason = str(e).splitlines()[0]
                say(f"the validators did not attest ({reason}); attesting with their dev keys directly")
                a = attest_directly(ctx, facts)
                how = f"the validators did not attest ({reason}): measured here with oracle.bench, signed with the dev validator keys"
        if a is None:
            a = attest_directly(ctx, facts)
            how = (
                "measured here with oracle.bench: "
                + (
                    "no provider agent to challenge"
                    if validator_cmd
                    else "this checkout has no validator daemon"
                )
                + "; signed with the dev validator keys through oracle.attest"
            )
            if validator_cmd and not facts.url:
                start_validators(ctx, validator_cmd)  # running, though without an agent to challenge
        min_score = 1
        ctx.section(
            "first epoch",
            [
                f"epoch {a['epoch']}: attestation by {a['signers']} of 3 validators (threshold 2) recorded on "
                f"chain: score {a['score']}, fp32 {a['fp32']:.3f} TFLOPS, fp16 {a['fp16']:.4f} TFLOPS",
                f"({how})",
            ],
        )
    model_id = 0
    if ctx.has("ModelNFT"):
        model_id = mint_and_list_model(ctx)
    if ctx.has("JobEscrow"):
        ctx.section("sample job", run_sample_job(ctx, model_id, node_id, min_score))
    if ctx.has("ComputeGovernor"):
        ctx.section("governance", open_sample_proposal(ctx))
    return ctx.sections
