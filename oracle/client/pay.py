"""The paying client: meets a 402, opens (or tops up) a channel, signs each request's voucher.

:class:`PayingClient` holds one user account (pays deposits, on chain) and one session key (signs
vouchers, off chain; the channel names it as its signer, so no wallet prompt per request). Per
provider it keeps a :class:`ChannelState` (channel id, the cumulative amount signed so far) in a
small JSON file, so a restarted client continues its channel instead of opening a new one.

Flow of :meth:`PayingClient.post`:
1. POST without payment if this client has not seen the endpoint's terms yet -> 402 with the terms
   (kept for the next requests);
2. no channel (or the known one is closed / for other terms): approve + ``open`` with
   ``deposit_requests`` x price; a deposit too small for the next voucher: ``topUp``;
3. sign ``Voucher(channelId, cumulative + n x price, modelId)`` with the session key and POST
   again; with ``n > 1`` (``credit``, at most the terms' ``maxCredit`` and what the deposit holds)
   the voucher opens a credit window: it carries the anchor of a fresh hash chain
   (:mod:`oracle.client.pay_credit`), and the window's next ``n - 1`` requests carry its tokens in
   ``PAYMENT-CREDIT`` instead of a signature;
4. a 402 ``amount_too_low`` (the provider saw a higher voucher, e.g. after a client crash) moves
   the cumulative to what the provider expects and signs once more; ``over_deposit`` tops up;
   a refused credit token (``window_exhausted``, ``unknown_window``, ``past_window``,
   ``bad_preimage``) makes the client sign a new voucher by itself, and ``replayed_preimage``
   (the provider already served that index) skips forward to the index after the provider's.

The window (its seed, n, and the last index used) is kept in the state file with the channel, so
a restarted client continues it. The user's exposure is the unused part of one window: a window
given up (a lost answer to its voucher, a lost state file) costs at most n x price, never more;
``credit=1`` pays strictly per request (a voucher each, as before windows existed).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from oracle.chain import ChainClient
from oracle.client.pay_credit import (
    CREDIT_RESPONSE_PREFIX,
    HEADER_CREDIT,
    CreditToken,
    anchor_of,
    chain,
    credit_header,
    new_seed,
    parse_credit_response,
)
from oracle.client.pay_voucher import Voucher, VoucherError, channels_domain, sign_voucher
from oracle.client.pay_wire import (
    HEADER_REQUIRED,
    HEADER_RESPONSE,
    HEADER_SIGNATURE,
    PaymentTerms,
    SignedVoucher,
    decode_header,
    payment_header,
)
from oracle.errors import OracleError

CONTRACT = "PaymentChannels"
TOKEN = "ComputeToken"


class PayError(OracleError):
    """Paying for a request failed (the message says what to do)."""


@dataclass
class ChannelState:
    """What the client remembers about its channel to one endpoint."""

    url: str
    channel_contract: str
    chain_id: int
    provider: str
    model_id: int
    channel_id: int
    deposit: int
    cumulative: int = 0
    credit_seed: str = ""
    """The open credit window's hash-chain seed (hex; "" when none): secret, worth its window."""
    credit_n: int = 0
    """Requests the window's voucher prepaid."""
    credit_used: int = 0
    """The window's last index used (0: the voucher's own request)."""
    credit_cumulative: int = 0
    """The cumulative amount of the window's voucher (the window is open while it is the latest)."""
    price: int = 0
    """The price per request of the last voucher signed (what a window's request cost)."""

    def window_open(self) -> bool:
        """Whether the next request can be paid from the credit window."""
        return (
            bool(self.credit_seed)
            and self.credit_cumulative == self.cumulative
            and self.credit_used < self.credit_n - 1
        )

    def close_window(self) -> None:
        self.credit_seed, self.credit_n, self.credit_used, self.credit_cumulative = "", 0, 0, 0


@dataclass(frozen=True)
class PaidAnswer:
    status: int
    body: dict[str, Any]
    payment: dict[str, Any] | None
    price: int


class StateFile:
    """ChannelStates by endpoint URL in one JSON file (written atomically)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._states: dict[str, ChannelState] = {}
        if self.path and self.path.is_file():
            for url, raw in json.loads(self.path.read_text()).items():
                self._states[url] = ChannelState(**raw)

    def get(self, url: str) -> ChannelState | None:
        return self._states.get(url)

    def put(self, state: ChannelState) -> None:
        self._states[state.url] = state
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({u: asdict(s) for u, s in self._states.items()}, indent=2))
        os.replace(tmp, self.path)


def payment_of(header: str, state: ChannelState) -> dict[str, Any]:
    """A paid answer's PAYMENT-RESPONSE as the x402 receipt's fields; a credit request's compact
    receipt (:mod:`oracle.client.pay_credit`) is completed from what this client knows (its
    window's voucher: the network and the cumulative amount; a credit request charges 0)."""
    if not header.startswith(CREDIT_RESPONSE_PREFIX):
        return decode_header(header, HEADER_RESPONSE)
    try:
        r = parse_credit_response(header)
    except VoucherError as err:
        raise PayError(f"the provider's answer has a malformed {HEADER_RESPONSE}: {err}") from err
    return {
        "success": True,
        "network": f"eip155:{state.chain_id}",
        "channelId": str(r.channel_id),
        "cumulativeAmount": str(state.credit_cumulative),
        "charged": "0",
        "remaining": str(r.remaining),
        "creditIndex": r.index,
        "creditLeft": r.left,
    }


def state_price(state: ChannelState | None) -> int:
    return state.price if state is not None else 0


def _http(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"error": raw.decode(errors="replace")}
        return err.code, dict(err.headers), payload
    except (urllib.error.URLError, OSError) as err:
        raise PayError(f"cannot reach {url}: {err}; is the provider running?") from err


class PayingClient:
    def __init__(
        self,
        chain: ChainClient,
        session_key: LocalAccount | None = None,
        state_path: str | Path | None = None,
        deposit_requests: int = 1000,
        max_price: int | None = None,
        timeout: float = 30.0,
        credit: int = 32,
    ):
        """`credit`: how many requests one voucher prepays at most (1: a voucher per request; the
        provider's maxCredit and the deposit may make a window smaller)."""
        if chain.account is None:
            raise PayError("the paying client needs the user's account to open channels (load a key)")
        self.chain = chain
        self.session = session_key or Account.create()
        self.states = StateFile(state_path)
        self.deposit_requests = deposit_requests
        self.max_price = max_price
        self.timeout = timeout
        if credit < 1:
            raise PayError(f"credit must be at least 1 request per voucher, not {credit}")
        self.credit = credit
        self._chains: dict[str, list[bytes]] = {}  # seed hex -> its window's tokens
        self._terms: dict[str, PaymentTerms] = {}  # url -> the terms of its last 402 (one round trip less)

    # ------------------------------------------------------------------ channel management

    def _check_terms(self, terms: PaymentTerms) -> None:
        contract = self.chain.deployment.get(CONTRACT).address
        if terms.channel_contract != contract or terms.chain_id != self.chain.deployment.chain_id:
            raise PayError(
                f"the provider wants channels at {terms.channel_contract} on chain {terms.chain_id}, "
                f"but this client's deployment has {contract} on chain {self.chain.deployment.chain_id}"
            )
        if self.max_price is not None and terms.price > self.max_price:
            raise PayError(
                f"the provider asks {terms.price} wei per request, above --max-price {self.max_price}"
            )

    def open_channel(self, url: str, terms: PaymentTerms, deposit: int | None = None) -> ChannelState:
        """Approve and open a channel for `terms` with `deposit` (default deposit_requests x price)."""
        self._check_terms(terms)
        amount = deposit if deposit is not None else terms.price * self.deposit_requests
        self.chain.transact(TOKEN, "approve", terms.channel_contract, amount)
        tx = self.chain.transact(CONTRACT, "open", terms.pay_to, self.session.address, terms.model_id, amount)
        opened = (
            self.chain.contract(CONTRACT).events.ChannelOpened().process_receipt(tx.receipt, errors=DISCARD)
        )
        state = ChannelState(
            url,
            terms.channel_contract,
            terms.chain_id,
            terms.pay_to,
            terms.model_id,
            int(opened[0]["args"]["channelId"]),
            amount,
        )
        self.states.put(state)
        return state

    def top_up(self, state: ChannelState, amount: int) -> ChannelState:
        self.chain.transact(TOKEN, "approve", state.channel_contract, amount)
        self.chain.transact(CONTRACT, "topUp", state.channel_id, amount)
        state.deposit += amount
        self.states.put(state)
        return state

    def close(self, url: str) -> int:
        """Ask to close the channel to `url`; returns the time from which `withdraw` works."""
        state = self._known(url)
        tx = self.chain.transact(CONTRACT, "requestClose", state.channel_id)
        ev = self.chain.contract(CONTRACT).events.CloseRequested().process_receipt(tx.receipt, errors=DISCARD)
        return int(ev[0]["args"]["closesAt"])

    def withdraw(self, url: str) -> int:
        """Withdraw the rest of the closed channel to `url`; returns the refund."""
        state = self._known(url)
        tx = self.chain.transact(CONTRACT, "withdraw", state.channel_id)
        ev = self.chain.contract(CONTRACT).events.ChannelClosed().process_receipt(tx.receipt, errors=DISCARD)
        return int(ev[0]["args"]["refund"])

    def _known(self, url: str) -> ChannelState:
        state = self.states.get(url)
        if state is None:
            raise PayError(f"no channel to {url} is known: make a paid request first (compute pay request)")
        return state

    # ------------------------------------------------------------------ paid requests

    def sign_next(
        self, state: ChannelState, price: int, credit: int = 1, anchor: bytes | None = None
    ) -> SignedVoucher:
        """The voucher for `credit` more requests (cumulative + credit x price), signed by the
        session key; with credit > 1 it carries the window's `anchor`."""
        voucher = Voucher(state.channel_id, state.cumulative + credit * price, state.model_id)
        domain = channels_domain(state.chain_id, state.channel_contract)
        return SignedVoucher(
            voucher,
            sign_voucher(domain, voucher, self.session.key),
            f"eip155:{state.chain_id}",
            credit,
            anchor,
        )

    def window_size(self, state: ChannelState, terms: PaymentTerms) -> int:
        """Requests the next voucher prepays: this client's credit, within the provider's
        maxCredit and what is left of the deposit (at least 1: a short deposit is topped up)."""
        return max(1, min(self.credit, terms.max_credit, (state.deposit - state.cumulative) // terms.price))

    def _credit_token(self, state: ChannelState) -> str:
        tokens = self._chains.get(state.credit_seed)
        if tokens is None:
            if len(self._chains) > 64:
                self._chains.clear()
            tokens = self._chains[state.credit_seed] = chain(bytes.fromhex(state.credit_seed), state.credit_n)
        j = state.credit_used + 1
        return credit_header(CreditToken(state.channel_id, j, tokens[j]))

    def post(self, url: str, payload: dict[str, Any], attempts: int = 6) -> PaidAnswer:
        """POST `payload` to the paid endpoint `url`, paying as the provider's 402 asks."""
        body = json.dumps(payload).encode()
        state = self.states.get(url)
        terms = self._terms.get(url)
        answer: Any = {}
        for _ in range(attempts):
            headers: dict[str, str] = {}
            from_window, seed, credit = False, b"", 1
            if state is not None and state.window_open():
                headers = {HEADER_CREDIT: self._credit_token(state)}
                from_window = True
            elif state is not None and terms is not None:
                credit = self.window_size(state, terms)
                seed = new_seed() if credit > 1 else b""
                signed = self.sign_next(state, terms.price, credit, anchor_of(seed, credit) if seed else None)
                headers = {HEADER_SIGNATURE: payment_header(signed)}
            status, resp_headers, answer = _http(url, body, headers, self.timeout)
            if status != 402:
                payment = None
                if status == 200 and HEADER_RESPONSE in resp_headers and state is not None:
                    payment = payment_of(resp_headers[HEADER_RESPONSE], state)
                    self._paid(state, payment, from_window, seed, credit)
                return PaidAnswer(status, answer, payment, terms.price if terms else state_price(state))
            raw_terms = (
                decode_header(resp_headers[HEADER_REQUIRED], HEADER_REQUIRED)
                if HEADER_REQUIRED in resp_headers
                else answer
            )
            try:
                terms = self._terms[url] = PaymentTerms.from_json(raw_terms)
            except VoucherError as err:
                raise PayError(f"{url} answered 402 without usable terms: {err}") from err
            reason = answer.get("reason", "payment_required")
            expected = answer.get("expected") or {}
            if from_window:
                if reason == "replayed_preimage" and "creditIndex" in expected:
                    state.credit_used = int(expected["creditIndex"])  # skip past what the provider served
                else:
                    state.close_window()  # exhausted, unknown, past or not ours: sign a new voucher
                self.states.put(state)
            elif state is None or reason in ("closed", "unknown_channel", "not_payee", "wrong_model"):
                if state is not None and reason == "unknown_channel":
                    continue  # just opened: the provider's cache sees it on the next try
                state = self.open_channel(url, terms)
            elif reason == "amount_too_low" and "cumulativeAmount" in expected:
                state.close_window()
                if "last" in expected:
                    state.cumulative = int(expected["last"])
                else:
                    state.cumulative = int(expected["cumulativeAmount"]) - terms.price
            elif reason == "over_deposit":
                self.top_up(state, terms.price * max(self.deposit_requests, credit))
            elif reason not in ("payment_required", "credit_too_large"):  # the terms name maxCredit
                raise PayError(f"{url} refused the payment: {answer.get('detail', reason)}")
        raise PayError(f"{url} still asks for payment after {attempts} attempts: {answer.get('detail')}")

    def _paid(
        self, state: ChannelState, payment: dict[str, Any], from_window: bool, seed: bytes, credit: int
    ) -> None:
        """Move `state` past the request the provider just accepted (and save it)."""
        if from_window:
            state.credit_used = int(payment["creditIndex"])
        else:
            state.cumulative = int(payment["cumulativeAmount"])
            state.price = int(payment["charged"]) // credit
            if seed:
                state.credit_seed, state.credit_n = seed.hex(), credit
                state.credit_used, state.credit_cumulative = 0, state.cumulative
            else:
                state.close_window()
        self.states.put(state)
