"""Helpers shared by the core tests (staking, model NFT, escrow, properties)."""

from contextlib import contextmanager

import eth_abi
import pytest
from ape.exceptions import ContractLogicError, CustomError
from eth_utils import keccak
from hexbytes import HexBytes

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


def _encoded(error, args) -> bytes:
    abi = error.abi
    types = [ipt.canonical_type for ipt in abi.inputs]
    return keccak(text=abi.selector)[:4] + eth_abi.encode(types, list(args))


def _revert_data(exc: ContractLogicError) -> bytes:
    """Raw revert data of an undecoded error: hex for transactions and deployments; for calls anvil
    reports "custom error 0x<selector>: <data as one char per byte>"."""
    message = exc.revert_message or ""
    if message.startswith("custom error 0x"):
        selector, _, data = message[len("custom error ") :].partition(": ")
        return bytes.fromhex(selector[2:]) + data.encode("latin-1")
    return bytes(HexBytes(message))


def _plain(value):
    return str(value.address) if hasattr(value, "address") else value


@contextmanager
def reverts(error, *args):
    """Expect a revert with custom error `error` and ALL its arguments, given positionally.

    Stricter than ``ape.reverts(Err, name=value)``, which skips unknown names and, when Ape cannot
    decode the error (an error bubbling up from another contract, or a constructor), checks nothing
    at all. Decoded errors are compared by name and inputs, undecoded ones by their raw revert data.
    """
    names = [ipt.name for ipt in error.abi.inputs]
    if len(args) != len(names):
        raise TypeError(f"{error.abi.name} takes {names}, got {len(args)} value(s)")
    values = [_plain(a) for a in args]
    with pytest.raises(ContractLogicError) as info:
        yield info
    exc = info.value
    if isinstance(exc, CustomError):
        assert type(exc).__name__ == error.abi.name, f"expected {error.abi.name}, got {type(exc).__name__}"
        actual = [exc.inputs[name] for name in names]
        assert actual == values, f"{error.abi.name}: expected {values}, got {actual}"
    else:
        expected = _encoded(error, values)
        assert _revert_data(exc) == expected, (
            f"expected {error.abi.name}{tuple(values)}, got {exc.revert_message!r}"
        )


@contextmanager
def reverts_on_deploy(error, *args):
    """Like `reverts`, for a reverting deployment: Ape does not decode custom errors of a
    constructor, so the raw revert data is compared with the ABI encoding of `error(args)`."""
    with reverts(error, *args) as info:
        yield info
