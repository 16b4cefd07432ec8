"""Prepaid credit windows: one voucher pays ``n`` requests, the next ``n - 1`` carry hash-chain
tokens instead of signatures (pure functions, no I/O; the contract is not involved).

A voucher may prepay ``n >= 1`` requests (cumulative = last + n x price). With it the client sends
an ``anchor``, the end of a SHA-256 chain it made from a secret 32-byte ``seed``::

    p_j = H^(n-1-j)(seed)        p_0 = anchor = H^(n-1)(seed),  p_(n-1) = seed

The request that carries the voucher is the window's request 0 (token ``p_0``). Request ``j``
(1 <= j <= n-1) sends ``(channel id, j, p_j)`` in the ``PAYMENT-CREDIT`` header instead of a
voucher; the provider, holding the last accepted token ``p_i``, accepts it when
``H^(j-i)(p_j) == p_i`` and ``i < j <= n-1``: one SHA-256 per step, skipping forward allowed (a lost
request, or a provider that lost the tail of its journal), never backward, never past the window.
Each token serves one request. Only the client knows the preimages, so a window is usable only by
whoever presented its voucher first (the voucher and the anchor travel client -> provider only,
over TLS in production: someone who could read and race them could take the window's credit,
never more). The user's exposure is the unused part of one window: at most ``n`` x price.

Header: ``PAYMENT-CREDIT: <channelId>:<j>:<p_j as 64 hex digits>`` (decimal integers; cheap to
parse: no base64, no JSON). Its answer's ``PAYMENT-RESPONSE`` is as compact:
``credit:<channelId>:<j>:<creditLeft>:<remaining>`` (requests still prepaid in the window after
this one; wei left in the channel's deposit), and the JSON body carries only the answer (a
credit request moves no money: the window's voucher was answered with the full x402 receipt).
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

from oracle.client.pay_voucher import VoucherError

HEADER_CREDIT = "PAYMENT-CREDIT"
TOKEN_BYTES = 32
MAX_CREDIT = 1 << 16
"""The largest window anyone may ask for (a provider advertises its own, at most this)."""

sha256 = hashlib.sha256
"""The chain's hash (one step of it: ``sha256(p_j).digest() == p_(j-1)``)."""


def new_seed() -> bytes:
    """A fresh secret seed (the chain's last token)."""
    return os.urandom(TOKEN_BYTES)


def hash_forward(token: bytes, steps: int) -> bytes:
    """``H^steps(token)``."""
    for _ in range(steps):
        token = sha256(token).digest()
    return token


def chain(seed: bytes, n: int) -> list[bytes]:
    """The window's tokens ``[p_0 (the anchor), p_1, ..., p_(n-1) (the seed)]``."""
    if not 1 <= n <= MAX_CREDIT:
        raise VoucherError(f"a credit window holds 1..{MAX_CREDIT} requests, not {n}")
    tokens = [seed]
    for _ in range(n - 1):
        tokens.append(sha256(tokens[-1]).digest())
    tokens.reverse()
    return tokens


def anchor_of(seed: bytes, n: int) -> bytes:
    """``p_0 = H^(n-1)(seed)``, sent with the window's voucher."""
    return hash_forward(seed, n - 1)


class CreditToken(NamedTuple):
    """One later request of a window: its index ``j`` and preimage ``p_j`` (a tuple: parsed once
    per credit request)."""

    channel_id: int
    index: int
    preimage: bytes


def credit_header(token: CreditToken) -> str:
    return f"{token.channel_id}:{token.index}:{token.preimage.hex()}"


def parse_credit_header(value: str) -> CreditToken:
    """The PAYMENT-CREDIT header back into a token; VoucherError when it does not parse."""
    parts = value.split(":")
    if len(parts) != 3 or len(parts[2]) != 2 * TOKEN_BYTES or len(parts[0]) > 78 or len(parts[1]) > 6:
        raise VoucherError(f"{HEADER_CREDIT} must be <channelId>:<index>:<64 hex digits>")
    try:
        return CreditToken(int(parts[0]), int(parts[1]), bytes.fromhex(parts[2]))
    except ValueError as err:
        raise VoucherError(f"{HEADER_CREDIT} is not <decimal>:<decimal>:<hex> ({err})") from err


class CreditReceipt(NamedTuple):
    """What the compact PAYMENT-RESPONSE of a credit request says."""

    channel_id: int
    index: int
    left: int
    """Requests still prepaid in the window after this one."""
    remaining: int
    """Wei left in the channel's deposit beyond the window's voucher."""


CREDIT_RESPONSE_PREFIX = "credit:"


def credit_response(channel_id: int, index: int, left: int, remaining: int) -> str:
    """The PAYMENT-RESPONSE value of a request served from a window."""
    return f"credit:{channel_id}:{index}:{left}:{remaining}"


def parse_credit_response(value: str) -> CreditReceipt:
    """A credit request's PAYMENT-RESPONSE back into its fields; VoucherError when it does not parse."""
    parts = value.split(":")
    if len(parts) != 5 or parts[0] != "credit" or len(value) > 256:
        raise VoucherError(
            f"a credit PAYMENT-RESPONSE is credit:<channelId>:<index>:<left>:<remaining>, not {value[:80]!r}"
        )
    try:
        return CreditReceipt(int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]))
    except ValueError as err:
        raise VoucherError(f"a credit PAYMENT-RESPONSE holds decimal integers ({err})") from err
