"""Thin web3.py client for the oracle: calls and transactions with gas estimation, a local nonce
manager, retries with exponential back-off on transport errors, and custom errors decoded from the
ABIs into readable messages. The contracts it talks to come from the deployment file
(:mod:`oracle.deployment`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from oracle.deployment import Deployment, DeploymentError
from oracle.errors import OracleError

log = logging.getLogger("oracle.chain")
T = TypeVar("T")

LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class ChainError(OracleError):
    """Talking to the chain failed (the message says what and what to do)."""


class TransportError(ChainError):
    """The RPC endpoint stayed unreachable after every retry."""


class ContractRevert(ChainError):
    """A call or transaction reverted; ``error`` is the decoded custom error name (or
    ``Error``/``Panic``), ``args`` its values by name."""

    def __init__(
        self, message: str, error: str | None = None, args: dict[str, Any] | None = None, data: bytes = b""
    ):
        super().__init__(message)
        self.error = error
        self.error_args = args or {}
        self.data = data


# ------------------------------------------------------------------------------------------
# Custom error decoding
# ------------------------------------------------------------------------------------------


def _abi_type(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[5:]
    return t


def _fmt(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow/underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero function",
}


class ErrorDecoder:
    """Maps 4-byte selectors of every custom error in the given ABIs to readable messages."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]):
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item.get("inputs", [])]
                names = [i.get("name") or f"arg{n}" for n, i in enumerate(item.get("inputs", []))]
                sel = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                self._errors[sel] = (item["name"], types, names)

    def decode(self, data: bytes | str | None) -> tuple[str | None, dict[str, Any], str]:
        """(error name, args by name, message) for revert data."""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else b""
        data = data or b""
        if len(data) < 4:
            return None, {}, "reverted without a reason"
        sel, body = data[:4], data[4:]
        if sel == function_signature_to_4byte_selector("Error(string)"):
            (msg,) = abi_decode(["string"], body)
            return "Error", {"message": msg}, f"Error({msg!r})"
        if sel == function_signature_to_4byte_selector("Panic(uint256)"):
            (code,) = abi_decode(["uint256"], body)
            return "Panic", {"code": code}, f"Panic(0x{code:02x}: {PANIC_CODES.get(code, 'unknown')})"
        if sel in self._errors:
            name, types, names = self._errors[sel]
            try:
                values = abi_decode(types, body)
            except Exception:
                return name, {}, f"{name}(<undecodable arguments 0x{body.hex()}>)"
            args = dict(zip(names, values, strict=True))
            return name, args, f"{name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in args.items()) + ")"
        return None, {}, f"unknown custom error 0x{sel.hex()} (data 0x{body.hex()})"


def revert_data_of(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 exception, if any."""
    for attr in ("data",):
        value = getattr(exc, attr, None)
        if isinstance(value, bytes):
            return value
        if isinstance(value, str) and value.startswith("0x"):
            return bytes.fromhex(value[2:])
        if isinstance(value, dict) and isinstance(value.get("data"), str):
            return bytes.fromhex(value["data"].removeprefix("0x"))
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and isinstance(arg.get("data"), str) and arg["data"].startswith("0x"):
            return bytes.fromhex(arg["data"][2:])
    return None


# ------------------------------------------------------------------------------------------
# Retries and nonces
# ------------------------------------------------------------------------------------------

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)
try:  # requests is what web3's HTTPProvider uses
    import requests

    TRANSPORT_ERRORS = TRANSPORT_ERRORS + (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
except ImportError:  # pragma: no cover
    pass


def with_retries(fn: Callable[[], T], what: str, retries: int = 5, base_delay: float = 0.2) -> T:
    """Run ``fn``; on transport errors retry with exponential back-off (base_delay * 2^i)."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except TRANSPORT_ERRORS as exc:
            if attempt == retries:
                raise TransportError(
                    f"{what}: RPC unreachable after {retries + 1} attempts ({exc}); check the RPC URL and node"
                ) from exc
            delay = base_delay * 2**attempt
            log.warning({"event": "rpc_retry", "what": what, "attempt": attempt + 1, "delay_s": delay})
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class NonceManager:
    """A local nonce counter for one sender, resynced from the node's ``pending`` count on error."""

    w3: Web3
    address: str
    _next: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resync(self) -> int:
        with self._lock:
            self._next = self.w3.eth.get_transaction_count(self.address, "pending")
            return self._next

    def take(self) -> int:
        with self._lock:
            if self._next is None:
                self._next = self.w3.eth.get_transaction_count(self.address, "pending")
            n = self._next
            self._next += 1
            return n


# ------------------------------------------------------------------------------------------
# Client
# ------------------------------------------------------------------------------------------


@dataclass
class TxResult:
    tx_hash: str
    gas_used: int
    block_number: int
    receipt: Any


class ChainClient:
    """Calls and transactions against the contracts of a deployment."""

    def __init__(
        self,
        rpc: str | Web3,
        deployment: Deployment,
        account: LocalAccount | None = None,
        *,
        retries: int = 5,
        base_delay: float = 0.2,
        gas_margin: float = 1.2,
        receipt_timeout: float = 120.0,
    ):
        self.w3 = (
            rpc if isinstance(rpc, Web3) else Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
        )
        self.deployment = deployment
        self.account = account
        self.retries = retries
        self.base_delay = base_delay
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.errors = ErrorDecoder(c.abi for c in deployment.contracts.values())
        self.nonces = NonceManager(self.w3, account.address) if account else None
        self._contracts: dict[str, Any] = {}
        chain_id = self.retry(lambda: self.w3.eth.chain_id, "eth_chainId")
        if chain_id != deployment.chain_id:
            raise DeploymentError(
                f"the RPC serves chain {chain_id} but the deployment is for chain {deployment.chain_id}: "
                "point --rpc and --deployment at the same chain"
            )

    def retry(self, fn: Callable[[], T], what: str) -> T:
        return with_retries(fn, what, self.retries, self.base_delay)

    def contract(self, name: str):
        if name not in self._contracts:
            info = self.deployment.get(name)
            self._contracts[name] = self.w3.eth.contract(address=info.address, abi=info.abi)
        return self._contracts[name]

    def _revert(self, what: str, exc: BaseException | None, data: bytes | None) -> ContractRevert:
        name, args, msg = self.errors.decode(data)
        if name is None and exc is not None and not data:
            msg = str(exc)
        return ContractRevert(f"{what} reverted: {msg}", name, args, data or b"")

    def call(self, contract: str, fn: str, *args: Any, block: int | str = "latest") -> Any:
        """A view call; reverts raise ContractRevert with the decoded custom error."""
        func = getattr(self.contract(contract).functions, fn)(*args)
        try:
            return self.retry(lambda: func.call(block_identifier=block), f"{contract}.{fn}")
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._revert(f"{contract}.{fn}", exc, revert_data_of(exc)) from exc

    def transact(
        self,
        contract: str,
        fn: str,
        *args: Any,
        gas: int | None = None,
        on_signed: Callable[[str], None] | None = None,
    ) -> TxResult:
        """Estimate gas, sign with the client's account, send, wait for the receipt. A revert at
        estimation or a status-0 receipt raises ContractRevert naming the decoded custom error.
        ``on_signed(tx_hash)`` runs after signing and before sending (to journal the hash first)."""
        if self.account is None or self.nonces is None:
            raise ChainError("this client has no account: load a key (oracle keys) to send transactions")
        what = f"{contract}.{fn}"
        func = getattr(self.contract(contract).functions, fn)(*args)
        sender = self.account.address
        if gas is None:
            try:
                est = self.retry(lambda: func.estimate_gas({"from": sender}), f"estimate {what}")
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                raise self._revert(what, exc, revert_data_of(exc)) from exc
            gas = int(est * self.gas_margin)
        gas_price = self.retry(lambda: self.w3.eth.gas_price, "eth_gasPrice")
        for attempt in range(3):
            nonce = self.nonces.take()
            tx = func.build_transaction(
                {
                    "from": sender,
                    "nonce": nonce,
                    "gas": gas,
                    "gasPrice": gas_price,
                    "chainId": self.deployment.chain_id,
                }
            )
            signed = self.account.sign_transaction(tx)
            if on_signed is not None:
                on_signed("0x" + bytes(signed.hash).hex())
            try:
                tx_hash = self.retry(
                    lambda s=signed: self.w3.eth.send_raw_transaction(s.raw_transaction), what
                )
                break
            except (ValueError, Web3RPCError) as exc:  # nonce too low / already known / underpriced
                text = str(exc).lower()
                if "nonce" in text or "already known" in text or "underpriced" in text:
                    self.nonces.resync()
                    log.warning({"event": "nonce_resync", "what": what, "attempt": attempt + 1})
                    continue
                raise ChainError(f"{what}: the node refused the transaction: {exc}") from exc
        else:
            raise ChainError(
                f"{what}: could not find a usable nonce after 3 resyncs; is another sender using {sender}?"
            )
        try:
            receipt = self.retry(
                lambda: self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=self.receipt_timeout, poll_latency=0.05
                ),
                f"receipt of {what}",
            )
        except TimeExhausted as exc:
            # The node may have dropped it (restart, reorg): later nonces must not leave a gap.
            self.nonces.resync()
            raise ChainError(
                f"{what}: no receipt for 0x{bytes(tx_hash).hex()} after {self.receipt_timeout}s"
            ) from exc
        if receipt["status"] != 1:
            data = self._replay_revert(tx, receipt["blockNumber"])
            raise self._revert(f"{what} (tx 0x{bytes(tx_hash).hex()})", None, data)
        return TxResult("0x" + bytes(tx_hash).hex(), receipt["gasUsed"], receipt["blockNumber"], receipt)

    def _replay_revert(self, tx: dict[str, Any], block: int) -> bytes | None:
        """Re-run a failed transaction as a call on the state before its block to get the revert data."""
        call = {k: tx[k] for k in ("from", "to", "data", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block_identifier=max(block - 1, 0))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            return revert_data_of(exc)
        except Exception:  # noqa: BLE001 - best effort only
            return None
        return None

    def events(
        self, contract: str, event: str, from_block: int | None = None, to_block: int | str = "latest"
    ) -> list:
        """Decoded logs of ``event`` (from the deployment block by default)."""
        ev = getattr(self.contract(contract).events, event)
        start = self.deployment.deploy_block if from_block is None else from_block
        return self.retry(
            lambda: ev.get_logs(from_block=start, to_block=to_block), f"logs {contract}.{event}"
        )

    def receipt(self, tx_hash: str) -> Any | None:
        """The receipt of ``tx_hash`` if mined; None if the node does not know it (never sent or
        dropped); waits up to the receipt timeout while it is pending."""
        try:
            self.retry(lambda: self.w3.eth.get_transaction(tx_hash), f"tx {tx_hash}")
        except TransactionNotFound:
            # Never sent, or dropped by the node: resync so that the next nonce fills the gap.
            if self.nonces is not None:
                self.nonces.resync()
            return None
        try:
            return self.retry(
                lambda: self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=self.receipt_timeout, poll_latency=0.05
                ),
                f"receipt {tx_hash}",
            )
        except TimeExhausted:
            return None

    def block_timestamp(self, block: int | str = "latest") -> int:
        return int(self.retry(lambda: self.w3.eth.get_block(block)["timestamp"], "eth_getBlockByNumber"))
