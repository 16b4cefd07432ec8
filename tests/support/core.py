"""Helpers shared by the core tests (staking, model NFT, escrow, properties)."""

from eth_utils import keccak

from oracle.inventory import synthetic_uuid, uuid_index

ETHER = 10**18
BPS = 10_000
GPU_MODEL = "NVIDIA H100 80GB HBM3"
NODE_URI = "ipfs://node-card"
MODEL_URI = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def gpu_uuid(label: str) -> str:
    """A GPU UUID in NVML's canonical form for a test's label: the label itself when it is one,
    else one derived from it (:func:`oracle.inventory.synthetic_uuid`)."""
    return label if uuid_index(label) is None else synthetic_uuid(label)


def node_id(label: str) -> bytes:
    """The node id ComputeStaking gives the GPU of ``label``: keccak256 of :func:`gpu_uuid`."""
    return keccak(text=gpu_uuid(label))


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


def stake_and_register(token, staking, who, amount: int, gpu: str = "GPU-0000", vram: int = 81_559) -> bytes:
    """Stake ``amount`` and register the GPU of label ``gpu`` (:func:`gpu_uuid`); returns its node id."""
    stake(token, staking, who, amount)
    staking.registerNode(gpu_uuid(gpu), GPU_MODEL, vram, NODE_URI, sender=who)
    return node_id(gpu)


def timestamp_of(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp
