"""The world the stateful fuzzer drives: the governed protocol (scripts/deploy_dao.py), its actors,
a plain-web3 transaction layer with exact revert decoding, and the Python model of what every
account is owed.

Speed and exactness: transactions go through web3 directly (Ape's layer costs ~4x more per call).
Each one is first estimated against the *pending* block, whose timestamp is exactly the one the
transaction will be mined with (the chain runs with a fixed 1-second block interval), so the model
predicts every time-dependent outcome to the second; a revert is decoded from the ABIs of every
contract (errors bubbling up from an inner contract included) by ``oracle.chain.ErrorDecoder``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from oracle.chain import ErrorDecoder, revert_data_of

ETHER = 10**18
BPS = 10_000
DISPUTE_TIMEOUT = 14 * 86_400  # JobEscrow.DISPUTE_TIMEOUT
EXPIRED_SHARE_BPS = 5_000  # JobEscrow.EXPIRED_DISPUTE_PROVIDER_BPS
ZERO = "0x0000000000000000000000000000000000000000"
GPU_MODEL = "NVIDIA H100 80GB HBM3"
TX_GAS = 3_000_000
FUNDING = 1_000_000 * ETHER

#: Governed values the fuzzer deploys with (short periods so that time travel reaches every path).
FUZZ_PARAMS = {
    "min_stake_per_gpu": 1_000 * ETHER,
    "unbonding_period": 3_600,
    "finder_share_bps": 1_000,
    "harmed_share_bps": 5_000,
    "fee_bps": 250,
    "collateral_bps": 5_000,
    "challenge_window": 600,
    "max_royalty_bps": 1_000,
    "oracle_threshold": 2,
    "attestation_max_validity": 7 * 24 * 3600,
    "attestation_max_slash": 1_000 * ETHER,
}


class TxFailed(AssertionError):
    """A transaction's outcome differed from the model's prediction."""


def abi_of(contract) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json", by_alias=True) for a in contract.contract_type.abi]


@dataclass
class Prov:
    addr: str
    staked: int = 0
    locked: int = 0
    unbonding: int = 0
    release: int = 0
    nodes: set = field(default_factory=set)


@dataclass
class Job:
    requester: str
    budget: int
    deadline: int
    min_score: int
    model_id: int
    collateral: int
    provider: str | None = None
    state: str = "open"  # open | accepted | submitted | disputed | closed
    end: int = 0


@dataclass
class Model:
    """What the chain must hold, computed from the published formulas only."""

    now: int
    balances: dict[str, int]
    providers: dict[str, Prov]
    jobs: dict[int, Job] = field(default_factory=dict)
    nfts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> owner, receiver, bps
    listings: dict[int, tuple[str, int]] = field(default_factory=dict)
    node_owner: dict[bytes, str] = field(default_factory=dict)
    records: dict[bytes, tuple[str, int, int, int]] = field(
        default_factory=dict
    )  # provider, epoch, expiry, score
    epochs_accepted: dict[bytes, list[int]] = field(default_factory=dict)
    faults: set = field(default_factory=set)
    treasury_owed: int = 0


class World:
    """Contracts (web3 objects), actors and the base model, built once per test module."""

    def __init__(self, contracts: dict[str, Any], w3, actors: dict[str, Any], params: dict[str, Any]):
        self.w3 = w3
        self.ape = contracts
        self.c = {
            name: w3.eth.contract(address=str(c.address), abi=abi_of(c)) for name, c in contracts.items()
        }
        self.addr = {name: str(c.address) for name, c in contracts.items()}
        self.errors = ErrorDecoder(abi_of(c) for c in contracts.values())
        self.actors = actors
        self.params = params
        self.timelock = self.addr["Treasury"]
        self.tracked = sorted(
            {*(a for group in actors.values() for a in (group if isinstance(group, list) else [group]))}
            | {self.addr[n] for n in ("JobEscrow", "ComputeStaking", "Treasury", "ModelMarketplace")}
            | {self.addr[n] for n in ("AttestationRegistry", "ModelNFT", "ComputeGovernor")}
        )
        self.supply = self.c["ComputeToken"].functions.totalSupply().call()
        self.base: Model | None = None

    # -- RPC --------------------------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        out = self.w3.provider.make_request(method, list(params))
        if "error" in out:
            raise RuntimeError(f"{method}: {out['error']}")
        return out.get("result")

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, timestamp: int) -> None:
        """Mine one empty block at exactly `timestamp`."""
        self.rpc("evm_setNextBlockTimestamp", hex(timestamp))
        self.rpc("evm_mine")

    def send(self, contract: str, fn: str, args: tuple, sender: str) -> str | None:
        """Send `contract.fn(*args)` from `sender` (an unlocked or impersonated account).
        Returns None when mined with status 1, else the decoded custom error's name."""
        func = getattr(self.c[contract].functions, fn)(*args)
        error = self.simulate(func, sender)
        if error is not None:
            return error
        tx_hash = func.transact({"from": sender, "gas": TX_GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)
        if receipt["status"] != 1:
            raise TxFailed(f"{contract}.{fn}{args}: simulation passed but the mined tx reverted")
        return None

    def simulate(self, func, sender: str) -> str | None:
        try:
            func.estimate_gas({"from": sender}, block_identifier="pending")
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            name, _args, message = self.errors.decode(revert_data_of(exc))
            return name or message
        return None

    def expect(self, model: Model, expected: str | None, contract: str, fn: str, *args, sender: str) -> bool:
        """Run a transaction whose outcome the model predicted; True when it succeeded."""
        got = self.send(contract, fn, args, sender)
        if got != expected:
            raise TxFailed(
                f"{contract}.{fn}{args} from {sender} at t={model.now + 1}: "
                f"model expected {expected or 'success'}, chain said {got or 'success'}"
            )
        if got is None:
            model.now += 1
        return got is None

    def fresh_model(self) -> Model:
        assert self.base is not None
        return copy.deepcopy(self.base)


def node_ids(count: int) -> list[bytes]:
    return [keccak(text=f"fuzz-node-{i}") for i in range(count)]


def impersonate(world: World, address: str) -> str:
    address = to_checksum_address(address)
    world.rpc("anvil_impersonateAccount", address)
    world.rpc("anvil_setBalance", address, hex(10**21))
    return address
