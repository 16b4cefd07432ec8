"""The devnet's provider: the agent ``oracle serve --bench`` (this machine's GPU, else its CPU),
registered on chain with its URL as ``metadataURI`` after staking."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from oracle.inventory import node_id, synthetic_uuid
from scripts.devnet.accounts import ROLE_PROVIDER
from scripts.devnet.context import TOKEN, FlowContext, fmt
from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import VENV_BIN


@dataclass
class NodeFacts:
    gpu_uuid: str
    """In NVML's canonical form (ComputeStaking refuses any other); the node id is its keccak256."""
    gpu_model: str
    vram_mib: int
    url: str

    @property
    def node_id(self) -> bytes:
        return node_id(self.gpu_uuid)


def _http_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def start_provider_agent(
    ctx: FlowContext, port: int, jobs_url: str | None = None, paid_url: str | None = None
) -> NodeFacts:
    """`oracle serve --bench` on 127.0.0.1:port (the GPU if this machine has one, else the CPU),
    naming `jobs_url` as the node's job agent and `paid_url` as its paid endpoint in GET /services.
    Returns the node it reports in GET /inventory (the first GPU, or the CPU)."""
    url = f"http://127.0.0.1:{port}"
    ctx.sup.start(
        # --bench: the agent measures itself once and publishes the figures the validators attest
        "provider-agent",
        [str(VENV_BIN / "oracle"), "serve", "--host", "127.0.0.1", "--port", str(port), "--bench"]
        + (["--jobs-url", jobs_url] if jobs_url else [])
        + (["--paid-url", paid_url] if paid_url else []),
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
    return facts_from_inventory(inventory, url, ctx.acct(ROLE_PROVIDER).address)


def facts_from_inventory(inventory: dict[str, Any], url: str, provider: str) -> NodeFacts:
    """The node to register from an `oracle serve` inventory: its first GPU (its NVML UUID), or
    this machine's CPU when there is no GPU (a UUID derived from the provider's address)."""
    gpus = inventory.get("gpus") or []
    if gpus:
        g = gpus[0]
        vram = int(g.get("memory_total_bytes") or 0) // 2**20
        return NodeFacts(g["uuid"], g["name"][:64], max(vram, 1), url)
    cpu = inventory.get("cpu") or {}
    facts = cpu_node_facts(provider)
    mem = int(cpu.get("memory_total_bytes") or 0) // 2**20
    name = f"CPU {cpu.get('model') or facts.gpu_model}"[:64]
    return NodeFacts(facts.gpu_uuid, name, mem or facts.vram_mib, url)


def cpu_node_facts(provider: str) -> NodeFacts:
    """This machine's CPU as the node of ``provider``, for an agent without a GPU: a canonical fake
    UUID derived from the provider's address, so each devnet account has one CPU node of its own."""
    import platform

    name = f"CPU {platform.machine()} ({os.cpu_count()} cores)"
    uuid = synthetic_uuid(f"devnet-cpu-node:{provider.lower()}")
    mem_mib = 1024
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_mib = max(1024, pages // (1024 * 1024))
    except (ValueError, OSError):
        pass
    return NodeFacts(gpu_uuid=uuid, gpu_model=name[:64], vram_mib=int(mem_mib), url="")


def register_provider(ctx: FlowContext, facts: NodeFacts) -> None:
    token, staking = ctx.contracts["ComputeToken"], ctx.contracts["ComputeStaking"]
    provider = ctx.acct(ROLE_PROVIDER)
    amount = max(staking.minStakePerGpu() * 2, 10_000 * TOKEN)
    token.approve(staking, amount, sender=provider)
    staking.stake(amount, sender=provider)
    staking.registerNode(facts.gpu_uuid, facts.gpu_model, facts.vram_mib, facts.url, sender=provider)
    ctx.say(
        f"provider {provider.address} staked {fmt(amount)} and registered {facts.gpu_model} "
        f"(UUID {facts.gpu_uuid}) at {facts.url}"
    )
