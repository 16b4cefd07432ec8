"""A provider's own chain actions: stake, register and deregister GPUs, unbond, withdraw, status.

What ``oracle node ...`` runs. Every action goes through :class:`oracle.chain.ChainClient`
(gas estimate, nonce, receipt, reverts decoded into the contract's custom error), checks what the
contract would refuse before sending where that is cheap (balance, free stake, an unbonding not yet
released), and returns a plain dict that the command prints as a table or as JSON.

Amounts are token amounts as people write them (``"100"``, ``"2.5"``) and are converted to wei
exactly (18 decimals, :func:`parse_amount`); nothing here uses floats for money.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import to_checksum_address

from oracle.chain import ChainClient
from oracle.errors import OracleError
from oracle.inventory import node_id as node_id_of
from oracle.inventory import uuid_problem
from oracle.units import AmountError, format_tokens, parse_tokens
from oracle.validator.nodes import STAKING, discover_nodes

TOKEN = "ComputeToken"
ESCROW = "JobEscrow"
REGISTRY = "AttestationRegistry"
CHANNELS = "PaymentChannels"


class StakingError(OracleError):
    """A node action that the contract would refuse, said before any transaction is sent."""


def parse_amount(text: str) -> int:
    """``"2.5"`` tokens -> wei (:func:`oracle.units.parse_tokens`), refused as a :class:`StakingError`."""
    try:
        return parse_tokens(text)
    except AmountError as exc:
        raise StakingError(str(exc)) from None


format_amount = format_tokens
"""wei -> tokens (``"2.5"``): :func:`oracle.units.format_tokens`."""


@dataclass
class NodeStatus:
    node_id: str
    gpu_model: str
    vram_mib: int
    endpoint: str
    attested_epoch: int | None
    attested_score: int | None
    attestation_expiry: int | None


def _tx(result: Any) -> dict[str, Any]:
    return {"tx": result.tx_hash, "gas_used": result.gas_used, "block": result.block_number}


def stake(chain: ChainClient, amount_wei: int) -> dict[str, Any]:
    """Approve (when the allowance is short) and stake ``amount_wei``."""
    me = chain.account.address
    staking = chain.deployment.get(STAKING).address
    balance = chain.call(TOKEN, "balanceOf", me)
    if balance < amount_wei:
        raise StakingError(
            f"{me} holds {format_amount(balance)} tokens, less than the {format_amount(amount_wei)} to stake"
        )
    steps = {}
    if chain.call(TOKEN, "allowance", me, staking) < amount_wei:
        steps["approve"] = _tx(chain.transact(TOKEN, "approve", staking, amount_wei))
    steps["stake"] = _tx(chain.transact(STAKING, "stake", amount_wei))
    return {"action": "stake", "amount": format_amount(amount_wei), **steps, **provider_summary(chain, me)}


def register(chain: ChainClient, uuid: str, gpu_model: str, vram_mib: int, endpoint: str) -> dict[str, Any]:
    """Register the GPU with NVML UUID ``uuid`` at ``endpoint``; the contract gives it the node id
    keccak256(uuid) and refuses a UUID not in NVML's canonical form (checked here first)."""
    if (problem := uuid_problem(uuid)) is not None:
        raise StakingError(
            f"{problem}; pass the UUID exactly as `oracle inventory` or `nvidia-smi -L` prints it"
        )
    if not endpoint.startswith(("http://", "https://")):
        raise StakingError(
            f"endpoint {endpoint!r} must be the URL validators reach, e.g. http://203.0.113.7:8600"
        )
    node = node_id_of(uuid)
    me = chain.account.address
    owner = chain.call(STAKING, "nodeOwner", node)
    if int(owner, 16) != 0:
        raise StakingError(f"node 0x{node.hex()} (UUID {uuid}) is already registered by {owner}")
    need = chain.call(STAKING, "minStakePerGpu")
    free = chain.call(STAKING, "freeStake", me)
    if free < need:
        raise StakingError(
            f"registering a GPU reserves {format_amount(need)} tokens of free stake and {me} has "
            f"{format_amount(free)} free: stake more first (oracle node stake AMOUNT)"
        )
    result = chain.transact(STAKING, "registerNode", uuid, gpu_model, int(vram_mib), endpoint)
    return {
        "action": "register",
        "node_id": "0x" + node.hex(),
        "uuid": uuid,
        "endpoint": endpoint,
        **_tx(result),
    }


def deregister(chain: ChainClient, node_hex: str) -> dict[str, Any]:
    node = bytes.fromhex(node_hex.removeprefix("0x"))
    if len(node) != 32:
        raise StakingError(f"node id {node_hex!r} must be 32 bytes of hex (see `oracle node status`)")
    result = chain.transact(STAKING, "deregisterNode", node)
    return {"action": "deregister", "node_id": "0x" + node.hex(), **_tx(result)}


def unbond(chain: ChainClient, amount_wei: int) -> dict[str, Any]:
    me = chain.account.address
    free = chain.call(STAKING, "freeStake", me)
    if amount_wei > free:
        raise StakingError(
            f"only {format_amount(free)} tokens of {me}'s stake are free (locked collateral and "
            "registered GPUs reserve the rest); deregister GPUs or wait for running jobs to close"
        )
    result = chain.transact(STAKING, "requestUnbond", amount_wei)
    return {
        "action": "unbond",
        "amount": format_amount(amount_wei),
        **_tx(result),
        **provider_summary(chain, me),
    }


def withdraw(chain: ChainClient) -> dict[str, Any]:
    me = chain.account.address
    _, _, unbonding, release, _ = chain.call(STAKING, "providerInfo", me)
    now = chain.block_timestamp()
    if unbonding == 0:
        raise StakingError(f"{me} has nothing unbonding: request an unbond first (oracle node unbond AMOUNT)")
    if now < release:
        raise StakingError(
            f"{format_amount(unbonding)} tokens unbond at chain time {release}, "
            f"{release - now} s from now; withdraw after that"
        )
    result = chain.transact(STAKING, "withdraw")
    return {"action": "withdraw", "amount": format_amount(unbonding), **_tx(result)}


def provider_summary(chain: ChainClient, address: str) -> dict[str, Any]:
    staked, locked, unbonding, release, count = chain.call(STAKING, "providerInfo", address)
    return {
        "provider": address,
        "staked": format_amount(staked),
        "locked": format_amount(locked),
        "free": format_amount(chain.call(STAKING, "freeStake", address)),
        "unbonding": format_amount(unbonding),
        "unbonding_release": int(release) or None,
        "nodes": int(count),
    }


def _earnings(chain: ChainClient, address: str) -> dict[str, Any]:
    jobs = [
        log
        for log in chain.events(ESCROW, "JobSettled")
        if to_checksum_address(log["args"]["provider"]) == address
    ]
    out = {
        "jobs_settled": len(jobs),
        "jobs_earned": format_amount(sum(j["args"]["providerAmount"] for j in jobs)),
    }
    if CHANNELS in chain.deployment.contracts:
        mine = {
            log["args"]["channelId"]
            for log in chain.events(CHANNELS, "ChannelOpened")
            if to_checksum_address(log["args"]["provider"]) == address
        }
        redeemed = [log for log in chain.events(CHANNELS, "Redeemed") if log["args"]["channelId"] in mine]
        out["channels"] = len(mine)
        out["requests_earned"] = format_amount(sum(r["args"]["providerAmount"] for r in redeemed))
    return out


def status(chain: ChainClient, address: str) -> dict[str, Any]:
    """Stake, nodes with their latest attestation, and what jobs and paid requests have earned."""
    address = to_checksum_address(address)
    nodes = []
    for node in discover_nodes(chain):
        if node.provider != address:
            continue
        record = chain.call(REGISTRY, "recordOf", node.node_id)
        provider, epoch, expiry, score = record
        attested = int(provider, 16) != 0
        nodes.append(
            asdict(
                NodeStatus(
                    node.key,
                    node.gpu_model,
                    node.vram_mib,
                    node.endpoint,
                    int(epoch) if attested else None,
                    int(score) if attested else None,
                    int(expiry) if attested else None,
                )
            )
        )
    return {
        **provider_summary(chain, address),
        "balance": format_amount(chain.call(TOKEN, "balanceOf", address)),
        "chain_time": chain.block_timestamp(),
        "node_list": nodes,
        "earnings": _earnings(chain, address),
    }
