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
from typing import Any

from eth_utils import to_checksum_address
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.logs import DISCARD

from oracle.chain import ErrorDecoder, revert_data_of
from tests.fuzz.model import Model
from tests.fuzz.params import TX_GAS


class TxFailed(AssertionError):
    """A transaction's outcome differed from the model's prediction."""


def abi_of(contract) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json", by_alias=True) for a in contract.contract_type.abi]


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
        self.last_receipt: Any = None  # of the last mined transaction

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
        self.last_receipt = receipt
        return None

    def slashes_in(self, receipt) -> list[Any]:
        """The staking contract's Slashed events in `receipt` (decoded only when there are any)."""
        staking = self.addr["ComputeStaking"]
        if not any(log["address"] == staking for log in receipt["logs"]):
            return []
        return list(self.c["ComputeStaking"].events.Slashed().process_receipt(receipt, errors=DISCARD))

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


def impersonate(world: World, address: str) -> str:
    address = to_checksum_address(address)
    world.rpc("anvil_impersonateAccount", address)
    world.rpc("anvil_setBalance", address, hex(10**21))
    return address
