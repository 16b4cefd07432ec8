"""Helpers shared by the core tests (staking, model NFT, escrow, properties)."""

from eth_utils import keccak

ETHER = 10**18
BPS = 10_000
GPU_MODEL = "NVIDIA H100 80GB HBM3"
NODE_URI = "ipfs://node-card"
MODEL_URI = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def node_id(uuid: str) -> bytes:
    """A node id as the oracle derives it: keccak256 of the GPU UUID."""
    return keccak(text=uuid)


def weights_hash(seed: str) -> bytes:
    return keccak(text=f"weights:{seed}")


def as_int(h: bytes) -> int:
    return int.from_bytes(h, "big")


def events(tx, event) -> list[dict]:
    """The arguments of every `event` log of `tx`, as plain dicts."""
    return [dict(log.event_arguments) for log in tx.events.filter(event)]


def advance(chain, seconds: int) -> None:
    """Move the clock forward by `seconds` and mine."""
    chain.pending_timestamp += seconds
    chain.mine()


def stake(token, staking, who, amount: int):
    token.approve(staking, amount, sender=who)
    return staking.stake(amount, sender=who)


def stake_and_register(token, staking, who, amount: int, uuid: str = "GPU-0000", vram: int = 81_559) -> bytes:
    stake(token, staking, who, amount)
    nid = node_id(uuid)
    staking.registerNode(nid, GPU_MODEL, vram, NODE_URI, sender=who)
    return nid


def timestamp_of(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp
