"""The floor model of gas costs, shared by ``gas_report`` and ``gas_compare``: the calldata a
transaction actually paid for, and a lower bound ("theoretical floor") for an operation = intrinsic
21,000 + calldata + the state changes no implementation of that operation can avoid, priced with the
EVM's rules (EIP-2929 cold/warm access, EIP-2200/3529 SSTORE and refunds). Everything else (checks,
SLOADs, hashing, events other than the Transfer logs the ERC-20/721 standards mandate) counts as
avoidable."""

from dataclasses import dataclass, field

from ape import chain

TX_BASE = 21_000
CALLDATA_ZERO_BYTE, CALLDATA_NONZERO_BYTE = 4, 16
COLD_SLOAD = 2_100  # EIP-2929 surcharge on the first touch of a slot
SSTORE_SET = 20_000  # clean slot 0 -> non-zero
SSTORE_RESET = 2_900  # clean slot non-zero -> other value (5,000 - cold surcharge)
SSTORE_DIRTY = 100  # slot already written in this transaction
CLEAR_REFUND = 4_800  # EIP-3529: clean non-zero -> 0
COLD_ACCOUNT = 2_600  # first CALL to another contract in the transaction
WARM_CALL = 100
ECRECOVER = 3_000  # precompile 0x01
LOG_BASE, LOG_TOPIC, LOG_DATA_BYTE = 375, 375, 8
ERC20_TRANSFER_LOG = LOG_BASE + 3 * LOG_TOPIC + 32 * LOG_DATA_BYTE  # Transfer(from, to, value)
ERC721_TRANSFER_LOG = LOG_BASE + 4 * LOG_TOPIC  # Transfer(from, to, tokenId), all indexed


def calldata_gas(data: bytes) -> int:
    """Calldata cost of a transaction input: 16 per non-zero byte, 4 per zero byte (the EIP-7623
    floor price is not applied: every transaction here executes far more than its calldata)."""
    zeros = data.count(0)
    return zeros * CALLDATA_ZERO_BYTE + (len(data) - zeros) * CALLDATA_NONZERO_BYTE


def tx_input(receipt) -> bytes:
    """The input bytes of a mined transaction (from the node, not re-encoded)."""
    return bytes(chain.provider.web3.eth.get_transaction(receipt.txn_hash)["input"])


@dataclass
class Floor:
    """Lower bound of one transaction: build it with ``store``/``call``/``erc20_transfer``/...;
    ``parts`` says where each gas unit comes from (printed as the row's note)."""

    calldata: int
    parts: list[tuple[str, int]] = field(default_factory=list)
    refund: int = 0
    _slots: dict[str, bool] = field(default_factory=dict)  # slot -> written in this tx (warm)
    _accounts: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, receipt) -> "Floor":
        return cls(calldata_gas(tx_input(receipt)))

    def store(self, slot: str, before_zero: bool, after_zero: bool = False, what: str = "") -> "Floor":
        """One SSTORE of ``slot`` (name it so repeated writes in the same tx are priced warm)."""
        if slot in self._slots:
            self.parts.append((what or f"{slot} (warm)", SSTORE_DIRTY))
            return self
        self._slots[slot] = True
        cost = COLD_SLOAD + (SSTORE_SET if before_zero else SSTORE_RESET)
        if after_zero and not before_zero:
            self.refund += CLEAR_REFUND
        self.parts.append((what or slot, cost))
        return self

    def call(self, account: str) -> "Floor":
        """A CALL into ``account`` (cold the first time)."""
        first = account not in self._accounts
        self._accounts.add(account)
        self.parts.append((f"call {account}", COLD_ACCOUNT if first else WARM_CALL))
        return self

    def erc20_transfer(
        self, sender: str, to: str, to_before_zero: bool = False, sender_after_zero: bool = False
    ):
        """A token transfer: the call into the token, both balances, the mandated Transfer log
        (allowances are not counted: an unlimited approval avoids the allowance write)."""
        self.call("token")
        self.store(f"balance[{sender}]", False, sender_after_zero, f"balance[{sender}]")
        self.store(f"balance[{to}]", to_before_zero, False, f"balance[{to}]")
        self.parts.append(("Transfer log", ERC20_TRANSFER_LOG))
        return self

    def add(self, what: str, gas: int) -> "Floor":
        self.parts.append((what, gas))
        return self

    @property
    def total(self) -> int:
        spent = TX_BASE + self.calldata + sum(g for _, g in self.parts)
        return spent - min(self.refund, spent // 5)

    def note(self) -> str:
        refund = f" - refund {self.refund:,}" if self.refund else ""
        return (
            f"21,000 + calldata {self.calldata:,} + "
            + " + ".join(f"{w} {g:,}" for w, g in self.parts)
            + refund
        )
