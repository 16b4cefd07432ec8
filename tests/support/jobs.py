"""A job world on the real anvil chain: the protocol deployed by scripts/deploy.py, the demo model
minted as a ModelNFT, provider nodes registered with their job agents' URLs, and builders for the
requester's client and the providers' agents (each with its own ChainClient over web3)."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from oracle.chain import ChainClient
from oracle.client.jobs import JobClient
from oracle.deployment import load_deployment
from oracle.provider.jobs_agent import JobAgent
from oracle.provider.jobs_policy import JobPolicy
from oracle.work import job as work
from oracle.work.content import sha256
from oracle.work.escrow import Escrow
from tests.conftest import CORE_PARAMS
from tests.support.core import ETHER, gpu_uuid, node_id
from tests.support.work import demo_bytes

ROYALTY_BPS = 500
PROVIDER_STAKE = 20_000 * ETHER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JobWorld:
    deployment: str
    rpc: str
    contracts: dict[str, Any]
    requester: Any
    creator: Any
    providers: list[Any]
    nodes: list[bytes]
    ports: list[int]
    model_id: int
    tmp: Path
    agents: list[JobAgent] = field(default_factory=list)

    def chain_for(self, account) -> ChainClient:
        return ChainClient(self.rpc, load_deployment(self.deployment), Account.from_key(account.private_key))

    def client(self, state: str = "client") -> JobClient:
        client = JobClient(Escrow(self.chain_for(self.requester)), self.tmp / state)
        client.start()
        return client

    def agent(
        self,
        index: int = 0,
        state: str | None = None,
        on_step=None,
        client: JobClient | None = None,
        cls: type[JobAgent] = JobAgent,
        meter_args: dict | None = None,
        **policy,
    ):
        settings = {
            "manifest_sources": (client.server.url,) if client else (),
            "flops_per_s": 1e9,
            "deadline_margin_s": 60,
            "batch_size": 64,
            **policy,
        }
        agent = cls(
            Escrow(self.chain_for(self.providers[index])),
            JobPolicy(node_id=self.nodes[index], **settings),
            self.tmp / (state or f"agent-{index}-{len(self.agents)}-{id(settings)}"),
            port=self.ports[index],
            on_step=on_step,
            meter_args=meter_args,
        )
        agent.start()
        self.agents.append(agent)
        return agent

    def stop(self) -> None:
        for a in self.agents:
            with contextlib.suppress(Exception):  # already stopped by the test
                a.stop()
        self.agents.clear()


def build_world(accounts, networks, tmp: Path, providers: int = 1, params: dict | None = None) -> JobWorld:
    from scripts.deploy import deploy_protocol, write_deployment

    deployer, treasury, creator, requester = accounts[0], accounts[9], accounts[3], accounts[2]
    contracts = deploy_protocol(deployer, treasury, {**CORE_PARAMS, **(params or {})})
    token, staking, nft = contracts["ComputeToken"], contracts["ComputeStaking"], contracts["ModelNFT"]
    token.transfer(requester, 1_000_000 * ETHER, sender=deployer)
    who, nodes, ports = [], [], []
    for i in range(providers):
        acct = accounts[[1, 4, 5][i]]
        port = free_port()
        nid = node_id(f"GPU-jobs-{i}")
        token.transfer(acct, PROVIDER_STAKE, sender=deployer)
        token.approve(staking, PROVIDER_STAKE, sender=acct)
        staking.stake(PROVIDER_STAKE, sender=acct)
        staking.registerNode(
            gpu_uuid(f"GPU-jobs-{i}"),
            "NVIDIA H100 80GB HBM3",
            81_559,
            f"http://127.0.0.1:{port}",
            sender=acct,
        )
        who.append(acct), nodes.append(nid), ports.append(port)
    digest = sha256(demo_bytes())
    nft.mint(creator, digest, "ipfs://demo-digits", creator, ROYALTY_BPS, sender=creator)
    path = write_deployment(contracts, tmp / "deployment.json", 0)
    return JobWorld(
        str(path),
        networks.provider.uri,
        contracts,
        requester,
        creator,
        who,
        nodes,
        ports,
        int.from_bytes(digest, "big"),
        tmp,
    )


class WrongLabelAgent(JobAgent):
    """A provider that commits a wrong class for item 7 (a cheat the check must catch)."""

    def _compute(self, rec, manifest):
        rec = super()._compute(rec, manifest)
        outputs = bytearray(self.store.get(bytes.fromhex(rec.outputs[2:])))
        outputs[7 * manifest.record_size] ^= 1  # label of item 7 (int64 LE, low byte)
        records = [
            bytes(outputs[i : i + manifest.record_size]) for i in range(0, len(outputs), manifest.record_size)
        ]
        tree = work.output_tree(manifest, records)
        digest = self.store.put(bytes(outputs))
        self._trees[rec.job_id] = (manifest, tree)
        return self.records.put(rec, outputs="0x" + digest.hex(), root="0x" + tree.root.hex())
