"""Checking a request's voucher locally, and journaling it before the request is served.

The rules are the contract's, checked against the cached channel (:mod:`oracle.provider.paid_state`)
so that a voucher accepted here is one ``redeem`` would pay:

1. the PAYMENT-SIGNATURE header parses, for this scheme and network;
2. the channel exists, pays this provider, is for this endpoint's model, is open or closing with
   more than ``close_margin_s`` of its redemption window left (time to redeem);
3. the signature (OpenZeppelin ECDSA rules) is by the channel's user, its signer, or a replaced
   signer inside its grace period;
4. cumulative >= last accepted (or redeemed, if higher) + price, and <= the deposit.

Then the voucher is journaled durably (:class:`oracle.provider.paid_ledger.Ledger`), and only then
is the request served. Vouchers of one channel are checked and journaled one at a time (a lock per
channel), so two concurrent requests can never both spend the same increment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from oracle.client.pay_voucher import (
    VoucherDigester,
    VoucherError,
    address_of,
    channels_domain,
    recover_digest_public_key,
)
from oracle.client.pay_wire import PaymentTerms, parse_payment_header
from oracle.errors import OracleError
from oracle.provider.paid_ledger import Accepted, Ledger
from oracle.provider.paid_state import ChannelCache

MAX_CACHED_SIGNERS = 100_000


class PaymentRefused(OracleError):
    """The request's payment was not accepted; `reason` is one of pay_wire.REASONS."""

    def __init__(self, reason: str, message: str, expected: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.expected = expected or {}


@dataclass(frozen=True)
class Receipt:
    """An accepted (and journaled) payment."""

    channel_id: int
    cumulative: int
    charged: int
    remaining: int
    payer: str


class VoucherChecker:
    def __init__(
        self,
        terms: PaymentTerms,
        cache: ChannelCache,
        ledger: Ledger,
        close_margin_s: int = 60,
        after_journal: Callable[[Receipt], None] | None = None,
    ):
        self.terms = terms
        self.cache = cache
        self.ledger = ledger
        self.close_margin_s = close_margin_s
        self.after_journal = after_journal
        self.digester = VoucherDigester(channels_domain(terms.chain_id, terms.channel_contract))
        self._last = {cid: v.cumulative for cid, v in ledger.latest().items()}
        self._locks: dict[int, threading.Lock] = {}
        self._addresses: dict[bytes, bytes] = {}  # recovered public key -> its address
        self._locks_guard = threading.Lock()

    def last_accepted(self, channel_id: int) -> int:
        return self._last.get(channel_id, 0)

    def _lock(self, channel_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(channel_id, threading.Lock())

    def accept(self, header: str | None) -> Receipt:
        """Check the voucher in `header`, journal it, and return what was charged; PaymentRefused
        (with the reason and, where the client can repair it, what is expected) otherwise."""
        if not header:
            raise PaymentRefused("payment_required", "payment required")
        try:
            signed = parse_payment_header(header)
        except VoucherError as err:
            raise PaymentRefused("malformed", str(err)) from err
        if signed.network != self.terms.network:
            raise PaymentRefused("wrong_scheme", f"network {signed.network} is not {self.terms.network}")
        v = signed.voucher
        view = self.cache.get(v.channelId)
        if view is None:
            raise PaymentRefused("unknown_channel", f"channel {v.channelId} does not exist on chain")
        if view.closed:
            raise PaymentRefused("closed", f"channel {v.channelId} is closed: open a new one")
        if view.provider != self.terms.pay_to:
            raise PaymentRefused(
                "not_payee", f"channel {v.channelId} pays {view.provider}, not {self.terms.pay_to}"
            )
        if view.model_id != self.terms.model_id or v.modelId != view.model_id:
            raise PaymentRefused(
                "wrong_model", f"channel {v.channelId} / voucher model is not {self.terms.model_id}"
            )
        now = self.cache.chain_time
        if view.closes_at and now >= view.closes_at - self.close_margin_s:
            raise PaymentRefused(
                "closed", f"channel {v.channelId} closes at {view.closes_at}: open a new one"
            )
        try:
            public_key = recover_digest_public_key(self.digester.digest(v), signed.signature)
        except VoucherError as err:
            raise PaymentRefused("bad_signature", str(err)) from err
        signer = self._addresses.get(public_key)
        if signer is None:  # a session key signs many vouchers: its address is hashed once
            if len(self._addresses) >= MAX_CACHED_SIGNERS:
                self._addresses.clear()
            signer = self._addresses[public_key] = address_of(public_key)
        if signer not in {bytes.fromhex(a[2:]) for a in view.signers_at(now)}:
            raise PaymentRefused(
                "bad_signature",
                f"voucher signed by {to_checksum_address(signer)}, not by the channel's signer",
            )
        price = self.terms.price
        with self._lock(v.channelId):
            last = max(self._last.get(v.channelId, 0), view.redeemed)
            if v.cumulativeAmount < last + price:
                raise PaymentRefused(
                    "amount_too_low",
                    f"cumulative {v.cumulativeAmount} < last {last} + price {price}",
                    {"cumulativeAmount": str(last + price)},
                )
            if v.cumulativeAmount > view.deposit:
                raise PaymentRefused(
                    "over_deposit",
                    f"cumulative {v.cumulativeAmount} > deposit {view.deposit}",
                    {"deposit": str(view.deposit), "cumulativeAmount": str(last + price)},
                )
            charged = v.cumulativeAmount - last
            self.ledger.record(
                Accepted(v.channelId, v.cumulativeAmount, charged, signed.signature, v.modelId)
            )
            self._last[v.channelId] = v.cumulativeAmount
        receipt = Receipt(
            v.channelId, v.cumulativeAmount, charged, view.deposit - v.cumulativeAmount, view.user
        )
        if self.after_journal is not None:
            self.after_journal(receipt)
        return receipt
