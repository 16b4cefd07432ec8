"""How pay-per-use travels over HTTP, in the style of x402 (version 2 transport).

- A request without payment is answered ``402 Payment Required`` with the terms twice: base64
  JSON in the ``PAYMENT-REQUIRED`` header and plain JSON in the body::

      {"x402Version": 2, "error": "...", "reason": "payment_required",
       "resource": {"url": "/infer", "description": "...", "mimeType": "application/json"},
       "accepts": [{"scheme": "channel", "network": "eip155:<chainId>", "amount": "<price wei>",
                    "asset": "<token>", "payTo": "<provider>", "maxTimeoutSeconds": 60,
                    "extra": {"channelContract": "<PaymentChannels>", "chainId": <int>,
                              "modelId": "<uint256 decimal>", "voucherType": "Voucher(...)",
                              "eip712": {"name": "PaymentChannels", "version": "1"},
                              "maxCredit": <int>}}]}

  ``maxCredit``: the most requests one voucher may prepay (a credit window, see
  :mod:`oracle.client.pay_credit`); absent means 1 (every request its own voucher).

  When a voucher was refused the body also names the ``reason`` (see REASONS) and, where the
  client can repair it, ``expected`` (e.g. the cumulative amount the provider needs next).
- A paying request carries ``PAYMENT-SIGNATURE``: base64 JSON
  ``{"x402Version": 2, "scheme": "channel", "network": ..., "payload": {"channelId",
  "cumulativeAmount", "modelId", "signature"}}`` (integers as decimal strings, the signature 0x-hex).
  A voucher that prepays ``n > 1`` requests adds ``"credit": "<n>"`` and ``"anchor": "0x<32 bytes>"``
  to the payload (cumulative = last + n x price); the window's later requests carry
  ``PAYMENT-CREDIT`` instead (:mod:`oracle.client.pay_credit`).
- A paid answer carries ``PAYMENT-RESPONSE``: base64 JSON ``{"success": true, "network",
  "channelId", "cumulativeAmount", "charged", "remaining"}`` (the same fields in the JSON body),
  plus ``"creditIndex": 0`` and ``"creditLeft"`` (requests left in the window) when the voucher
  opened a credit window. A later request of the window (``PAYMENT-CREDIT``) is answered with the
  compact ``PAYMENT-RESPONSE: credit:<channelId>:<index>:<creditLeft>:<remaining>`` and no payment
  fields in the body (:mod:`oracle.client.pay_credit`; it moves no money).
Integers travel as decimal strings (uint256 does not fit a JSON number in JavaScript).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from oracle.client.pay_credit import MAX_CREDIT, TOKEN_BYTES
from oracle.client.pay_voucher import CHANNELS_NAME, CHANNELS_VERSION, VOUCHER_TYPE, Voucher, VoucherError

X402_VERSION = 2
SCHEME = "channel"
HEADER_REQUIRED = "PAYMENT-REQUIRED"
HEADER_SIGNATURE = "PAYMENT-SIGNATURE"
HEADER_RESPONSE = "PAYMENT-RESPONSE"
MAX_HEADER_BYTES = 4096

#: Why a request was not served (the 402 body's "reason").
REASONS = {
    "payment_required": "no PAYMENT-SIGNATURE header: open a channel and send a voucher",
    "malformed": "the PAYMENT-SIGNATURE header does not parse",
    "wrong_scheme": "the payment is not for this provider's channel scheme or network",
    "unknown_channel": "no such channel on chain (yet): wait for the open to be mined",
    "not_payee": "the channel pays another provider",
    "wrong_model": "the channel is for another model",
    "closed": "the channel is closed or past its last redemption window",
    "bad_signature": "the voucher is not signed by the channel's user or signer",
    "amount_too_low": "the cumulative amount must be at least the last accepted plus the price",
    "over_deposit": "the cumulative amount exceeds the channel's deposit: top up",
    "credit_too_large": "the voucher prepays more requests than the provider's maxCredit",
    "unknown_window": "no credit window is open on this channel: send a voucher",
    "bad_preimage": "the credit token does not hash forward to the window's last accepted token",
    "replayed_preimage": "that credit index was already used (expected: the last one used)",
    "past_window": "the credit index is past the end of the window: send a new voucher",
    "window_exhausted": "every request of the window was served: send a new voucher",
}


@dataclass(frozen=True)
class PaymentTerms:
    """What one request costs and where to pay it."""

    price: int
    asset: str
    pay_to: str
    chain_id: int
    channel_contract: str
    model_id: int
    resource: str = "/infer"
    description: str = "inference, paid per request over a payment channel"
    max_credit: int = 1
    """The most requests one voucher may prepay (1: a voucher per request)."""

    @property
    def network(self) -> str:
        return f"eip155:{self.chain_id}"

    def to_json(self, reason: str = "payment_required", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "x402Version": X402_VERSION,
            "error": REASONS[reason],
            "reason": reason,
            "resource": {
                "url": self.resource,
                "description": self.description,
                "mimeType": "application/json",
            },
            "accepts": [
                {
                    "scheme": SCHEME,
                    "network": self.network,
                    "amount": str(self.price),
                    "asset": self.asset,
                    "payTo": self.pay_to,
                    "maxTimeoutSeconds": 60,
                    "extra": {
                        "channelContract": self.channel_contract,
                        "chainId": self.chain_id,
                        "modelId": str(self.model_id),
                        "voucherType": VOUCHER_TYPE,
                        "eip712": {"name": CHANNELS_NAME, "version": CHANNELS_VERSION},
                        "maxCredit": self.max_credit,
                    },
                }
            ],
        }
        body.update(extra)
        return body

    @classmethod
    def from_json(cls, body: Any) -> PaymentTerms:
        """The channel-scheme offer of a 402 body or PAYMENT-REQUIRED header; VoucherError if none."""
        try:
            offer = next(a for a in body["accepts"] if a.get("scheme") == SCHEME)
            extra = offer["extra"]
            return cls(
                price=int(offer["amount"]),
                asset=to_checksum_address(offer["asset"]),
                pay_to=to_checksum_address(offer["payTo"]),
                chain_id=int(extra["chainId"]),
                channel_contract=to_checksum_address(extra["channelContract"]),
                model_id=int(extra["modelId"]),
                resource=str(body.get("resource", {}).get("url", "/infer")),
                max_credit=max(1, int(extra.get("maxCredit", 1))),
            )
        except (KeyError, TypeError, ValueError, StopIteration) as err:
            raise VoucherError(f"the 402 terms have no usable '{SCHEME}' offer ({err!r})") from err


@dataclass(frozen=True)
class SignedVoucher:
    voucher: Voucher
    signature: bytes
    network: str
    credit: int = 1
    """Requests this voucher prepays (its window; 1: this request only)."""
    anchor: bytes | None = None
    """The window's hash-chain anchor (32 bytes) when credit > 1."""


def encode_header(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def response_header(
    network: str,
    channel_id: int,
    cumulative: int,
    charged: int,
    remaining: int,
    credit_index: int | None = None,
    credit_left: int = 0,
) -> str:
    """The PAYMENT-RESPONSE header, byte for byte what ``encode_header`` makes of its fields (built
    as text: the provider answers every request with one, and ``json.dumps`` costs ~4 us)."""
    text = (
        f'{{"success":true,"network":"{network}","channelId":"{channel_id}","cumulativeAmount":'
        f'"{cumulative}","charged":"{charged}","remaining":"{remaining}"'
    )
    if credit_index is not None:
        text += f',"creditIndex":{credit_index},"creditLeft":{credit_left}'
    return base64.b64encode((text + "}").encode()).decode()


def decode_header(value: str, what: str) -> Any:
    if len(value) > MAX_HEADER_BYTES:
        raise VoucherError(f"{what} header is {len(value)} bytes, more than {MAX_HEADER_BYTES}")
    try:
        return json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as err:
        raise VoucherError(f"{what} header is not base64 JSON: {err}") from err


def payment_header(signed: SignedVoucher) -> str:
    """The PAYMENT-SIGNATURE header value for a signed voucher."""
    v = signed.voucher
    payload = {
        "channelId": str(v.channelId),
        "cumulativeAmount": str(v.cumulativeAmount),
        "modelId": str(v.modelId),
        "signature": "0x" + signed.signature.hex(),
    }
    if signed.credit != 1 or signed.anchor is not None:
        payload["credit"] = str(signed.credit)
        payload["anchor"] = "0x" + (signed.anchor or b"").hex()
    return encode_header(
        {"x402Version": X402_VERSION, "scheme": SCHEME, "network": signed.network, "payload": payload}
    )


def parse_payment_header(value: str) -> SignedVoucher:
    """A PAYMENT-SIGNATURE header back into a voucher; VoucherError when anything is off."""
    data = decode_header(value, HEADER_SIGNATURE)
    try:
        if data["scheme"] != SCHEME:
            raise VoucherError(f"payment scheme {data['scheme']!r} is not {SCHEME!r}")
        p = data["payload"]
        sig_hex = str(p["signature"])
        if not sig_hex.startswith("0x"):
            raise VoucherError("the voucher signature must be 0x-hex")
        voucher = Voucher(int(p["channelId"]), int(p["cumulativeAmount"]), int(p["modelId"]))
        credit, anchor = int(p.get("credit", 1)), None
        if "credit" in p or "anchor" in p:
            anchor_hex = str(p["anchor"])
            if not anchor_hex.startswith("0x") or len(anchor_hex) != 2 + 2 * TOKEN_BYTES:
                raise VoucherError(f"the voucher's credit anchor must be 0x + {TOKEN_BYTES} bytes of hex")
            anchor = bytes.fromhex(anchor_hex[2:])
        if not 1 <= credit <= MAX_CREDIT:
            raise VoucherError(f"a voucher prepays 1..{MAX_CREDIT} requests, not {credit}")
        return SignedVoucher(voucher, bytes.fromhex(sig_hex[2:]), str(data["network"]), credit, anchor)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, VoucherError):
            raise
        raise VoucherError(f"{HEADER_SIGNATURE} payload is incomplete or not numeric ({err!r})") from err
