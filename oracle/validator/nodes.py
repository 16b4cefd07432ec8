"""The nodes a validator challenges: ``NodeRegistered`` events of ComputeStaking, filtered by
``nodeInfo(...).active``. A node's ``metadataURI`` is its challenge endpoint (``http://host:port``)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from oracle.chain import ChainClient

STAKING = "ComputeStaking"


@dataclass(frozen=True)
class NodeInfo:
    provider: str
    node_id: bytes
    gpu_model: str
    vram_mib: int
    endpoint: str

    @property
    def key(self) -> str:
        return "0x" + self.node_id.hex()


def discover_nodes(chain: ChainClient) -> list[NodeInfo]:
    """Active nodes from NodeRegistered events (current state from nodeInfo)."""
    seen: dict[bytes, NodeInfo] = {}
    for log in chain.events(STAKING, "NodeRegistered"):
        node_id = bytes(log["args"]["nodeId"])
        owner, gpu, vram, uri, active = chain.call(STAKING, "nodeInfo", node_id)
        if active:
            seen[node_id] = NodeInfo(to_checksum_address(owner), node_id, gpu, int(vram), uri)
        else:
            seen.pop(node_id, None)
    return list(seen.values())
