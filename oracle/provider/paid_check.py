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

Credit windows (:mod:`oracle.client.pay_credit`): a voucher may prepay ``n`` requests, up to the
terms' ``max_credit`` (rule 4 becomes cumulative >= last + n x price); it opens the channel's
window with its anchor, replacing any earlier window (whose unused credit the client gave up by
signing anew). A later request of the window (:meth:`VoucherChecker.accept_credit`) is checked
under the same per-channel lock: a window is open on the channel, not yet used up, the index is
past the last used one and inside the window, and the token hashes forward to the last used token;
then the use is journaled (written, not fsynced) and served. The window's money was journaled with
its voucher: a credit request moves no money (``charged`` 0), and never pays twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from eth_utils import to_checksum_address

from oracle.client.pay_credit import hash_forward, parse_credit_header, sha256
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


class Receipt(NamedTuple):
    """An accepted (and journaled) payment (a tuple: built once per paid request)."""

    channel_id: int
    cumulative: int
    charged: int
    remaining: int
    payer: str
    credit_index: int | None = None
    """The request's index in its credit window (None: a voucher for this request only)."""
    credit_left: int = 0
    """Requests still prepaid in the window after this one."""


def last_of(credit: int, last: int) -> dict[str, str]:
    """What a refused window voucher's client needs to sign the next one (the last accepted
    cumulative); nothing for a one-request voucher (its refusal reads as it always did)."""
    return {"last": str(last)} if credit > 1 else {}


class _OpenWindow:
    """A channel's credit window as the checker holds it (mutated under the channel's lock)."""

    __slots__ = ("cumulative", "credit", "used", "token")

    def __init__(self, cumulative: int, credit: int, used: int, token: bytes):
        self.cumulative, self.credit, self.used, self.token = cumulative, credit, used, token


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
        self._windows = {
            cid: _OpenWindow(w.cumulative, w.credit, w.used, w.token) for cid, w in ledger.windows().items()
        }
        self._locks: dict[int, threading.Lock] = {}
        self._addresses: dict[bytes, bytes] = {}  # recovered public key -> its address
        self._locks_guard = threading.Lock()

    def last_accepted(self, channel_id: int) -> int:
        return self._last.get(channel_id, 0)

    def _lock(self, channel_id: int) -> threading.Lock:
        lock = self._locks.get(channel_id)  # a dict read is atomic: the guard only for a new one
        if lock is not None:
            return lock
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
        if signed.credit > self.terms.max_credit:
            raise PaymentRefused(
                "credit_too_large",
                f"the voucher prepays {signed.credit} requests, more than maxCredit {self.terms.max_credit}",
                {"maxCredit": str(self.terms.max_credit)},
            )
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
        credit = signed.credit
        if credit > 1 and signed.anchor is None:
            raise PaymentRefused("malformed", f"a voucher prepaying {credit} requests needs an anchor")
        price = self.terms.price * credit
        with self._lock(v.channelId):
            last = max(self._last.get(v.channelId, 0), view.redeemed)
            if v.cumulativeAmount < last + price:
                raise PaymentRefused(
                    "amount_too_low",
                    f"cumulative {v.cumulativeAmount} < last {last} + {credit} x price {self.terms.price}",
                    {"cumulativeAmount": str(last + price), **last_of(credit, last)},
                )
            if v.cumulativeAmount > view.deposit:
                raise PaymentRefused(
                    "over_deposit",
                    f"cumulative {v.cumulativeAmount} > deposit {view.deposit}",
                    {
                        "deposit": str(view.deposit),
                        "cumulativeAmount": str(last + price),
                        **last_of(credit, last),
                    },
                )
            charged = v.cumulativeAmount - last
            self.ledger.record(
                Accepted(
                    v.channelId,
                    v.cumulativeAmount,
                    charged,
                    signed.signature,
                    v.modelId,
                    credit,
                    signed.anchor,
                )
            )
            self._last[v.channelId] = v.cumulativeAmount
            if credit > 1 and signed.anchor is not None:
                self._windows[v.channelId] = _OpenWindow(v.cumulativeAmount, credit, 0, signed.anchor)
            else:
                self._windows.pop(v.channelId, None)
        receipt = Receipt(
            v.channelId,
            v.cumulativeAmount,
            charged,
            view.deposit - v.cumulativeAmount,
            view.user,
            0 if credit > 1 else None,
            credit - 1,
        )
        if self.after_journal is not None:
            self.after_journal(receipt)
        return receipt

    @staticmethod
    def _next_token(preimage: bytes, steps: int) -> bytes:
        return sha256(preimage).digest() if steps == 1 else hash_forward(preimage, steps)

    @staticmethod
    def _credit_refused(cid: int, j: int, w: _OpenWindow | None) -> PaymentRefused:
        """Why token `j` of channel `cid` is not accepted by window `w` (which refused it)."""
        if w is None:
            return PaymentRefused("unknown_window", f"no credit window is open on channel {cid}")
        last, expected = w.credit - 1, {"creditIndex": str(w.used)}
        if w.used >= last:
            return PaymentRefused(
                "window_exhausted",
                f"all {w.credit} requests of channel {cid}'s window were served: sign a new voucher",
                expected,
            )
        if j <= w.used:
            return PaymentRefused(
                "replayed_preimage",
                f"credit index {j} of channel {cid} is at or below the last used {w.used}",
                expected,
            )
        if j > last:
            return PaymentRefused(
                "past_window",
                f"credit index {j} is past channel {cid}'s window of {w.credit} (last index {last})",
                expected,
            )
        return PaymentRefused(
            "bad_preimage",
            f"the token for index {j} does not hash to channel {cid}'s last token (index {w.used})",
            expected,
        )

    def accept_credit(self, header: str) -> Receipt:
        """Serve one request from the channel's credit window with the PAYMENT-CREDIT token in
        `header` (see the module doc): journal the use and return the receipt (charged 0);
        PaymentRefused otherwise (``expected`` names the window's last used index)."""
        try:
            cid, j, preimage = parse_credit_header(header)
        except VoucherError as err:
            raise PaymentRefused("malformed", str(err)) from err
        with self._lock(cid):
            w = self._windows.get(cid)
            if w is None or not w.used < j < w.credit or self._next_token(preimage, j - w.used) != w.token:
                raise self._credit_refused(cid, j, w)  # the hot path above: three checks
            last = w.credit - 1
            self.ledger.record_credit(cid, w.cumulative, j, preimage)
            w.used, w.token = j, preimage
            cumulative = w.cumulative
        view = self.cache.get(cid)
        deposit, user = (view.deposit, view.user) if view is not None else (cumulative, "")
        receipt = Receipt(cid, cumulative, 0, deposit - cumulative, user, j, last - j)
        if self.after_journal is not None:
            self.after_journal(receipt)
        return receipt
