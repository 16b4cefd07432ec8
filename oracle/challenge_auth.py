"""Who may challenge a provider, and whose answer it is: signed challenge requests, the oracle
set as the provider sees it, per-validator rate limits, and node answer keys.

* **Challenge requests** are EIP-712 typed data in the AttestationRegistry's domain (chain id and
  registry address, so a request for one deployment is worthless on another)::

      ChallengeRequest(bytes32 nodeId, uint64 epoch, bytes32 seed, bytes32 bSeed, uint32 n,
                       uint32 rows, uint32 group, bytes32 precision, uint64 deadlineMs, uint64 issuedAt)

  signed by a validator's key. The provider recovers the signer, accepts it only if the registry
  says ``isOracle(signer)`` (:class:`OracleSet`, cached), only within ``max_skew_s`` of
  ``issuedAt``, only for a node it serves, and at most at the signer's rate (:class:`RateLimiter`).
  So a stranger cannot make a provider compute anything, nor evict what a validator asked for.
* **Answer keys.** A node's on-chain ``metadataURI`` may carry the address of its answer key as a
  fragment, ``http://host:port#key=0x<address>`` (:func:`parse_endpoint`). The provider signs each
  commitment ``ChallengeAnswer(bytes32 nodeId, bytes32 seed, bytes32 root)`` with that node's key,
  and the validator checks the signer against the chain. An answer is then bound to the node that
  was challenged: a root relayed from another node, or forged by a proxy, does not verify.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from oracle import challenge as ch
from oracle.attest import Domain, recover_signer, sign_digest, typed_digest
from oracle.errors import OracleError

REQUEST_FIELDS: list[tuple[str, str]] = [
    ("nodeId", "bytes32"),
    ("epoch", "uint64"),
    ("seed", "bytes32"),
    ("bSeed", "bytes32"),
    ("n", "uint32"),
    ("rows", "uint32"),
    ("group", "uint32"),
    ("precision", "bytes32"),
    ("deadlineMs", "uint64"),
    ("issuedAt", "uint64"),
]
ANSWER_FIELDS: list[tuple[str, str]] = [("nodeId", "bytes32"), ("seed", "bytes32"), ("root", "bytes32")]
DEFAULT_MAX_SKEW_S = 120.0


class AuthError(OracleError, ValueError):
    """A challenge request or a signed answer does not verify (the message says why)."""


def _typehash(name: str, spec: list[tuple[str, str]]) -> bytes:
    return keccak(text=f"{name}(" + ",".join(f"{t} {n}" for n, t in spec) + ")")


REQUEST_TYPEHASH = _typehash("ChallengeRequest", REQUEST_FIELDS)
ANSWER_TYPEHASH = _typehash("ChallengeAnswer", ANSWER_FIELDS)


def _bytes32_text(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 32:
        raise AuthError(f"{text!r} does not fit in bytes32")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True)
class ChallengeRequest:
    """A challenge for one node in one epoch, as a validator signs it."""

    challenge: ch.Challenge
    node_id: bytes
    epoch: int
    issued_at: int

    def digest(self, domain: Domain) -> bytes:
        c = self.challenge
        values = [
            REQUEST_TYPEHASH,
            self.node_id,
            self.epoch,
            bytes(c.seed),
            bytes(c.b_seed),
            c.n,
            c.rows,
            c.group,
            _bytes32_text(c.precision),
            round(c.deadline_s * 1000),
            self.issued_at,
        ]
        return typed_digest(domain, keccak(abi_encode(["bytes32"] + [t for _, t in REQUEST_FIELDS], values)))

    def sign(self, private_key: bytes | str, domain: Domain) -> dict[str, Any]:
        """The JSON body of ``POST /challenge``: the request and its signature."""
        sig = sign_digest(private_key, self.digest(domain))
        return {
            "challenge": self.challenge.to_json(),
            "node": "0x" + self.node_id.hex(),
            "epoch": self.epoch,
            "issued_at": self.issued_at,
            "signer": sig.signer,
            "signature": "0x" + sig.signature.hex(),
        }


def read_request(domain: Domain, body: Any) -> tuple[ChallengeRequest, str]:
    """Parse a signed ``POST /challenge`` body: ``(request, signer address)``; :class:`AuthError`
    (or :class:`oracle.challenge.ChallengeError`) when it is malformed or the signature is not the
    named signer's."""
    if not isinstance(body, dict) or not isinstance(body.get("challenge"), dict):
        raise AuthError(
            "body must be a signed challenge request: {challenge, node, epoch, issued_at, signature}"
        )
    challenge = ch.Challenge.from_json(body["challenge"])
    epoch, issued = body.get("epoch"), body.get("issued_at")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in (epoch, issued)):
        raise AuthError("epoch and issued_at must be unsigned 64-bit integers")
    node = ch.parse_bytes32(body.get("node"), "node")
    signature = body.get("signature")
    if not isinstance(signature, str):
        raise AuthError("signature must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise AuthError("signature is not hex") from None
    request = ChallengeRequest(challenge, node, epoch, issued)
    try:
        signer = recover_signer(request.digest(domain), raw)
    except Exception as exc:  # noqa: BLE001 - eth-account raises several types for a bad signature
        raise AuthError(f"signature does not verify ({exc})") from None
    named = body.get("signer")
    if named is not None and (not isinstance(named, str) or named.lower() != signer.lower()):
        raise AuthError("signature is not the named signer's")
    return request, signer


def answer_digest(domain: Domain, node_id: bytes, seed: bytes, root: bytes) -> bytes:
    values = [ANSWER_TYPEHASH, bytes(node_id), bytes(seed), bytes(root)]
    return typed_digest(domain, keccak(abi_encode(["bytes32"] * 4, values)))


def sign_answer(private_key: bytes | str, domain: Domain, node_id: bytes, seed: bytes, root: bytes) -> str:
    """The node's signature over its commitment (``0x`` hex)."""
    return "0x" + sign_digest(private_key, answer_digest(domain, node_id, seed, root)).signature.hex()


def answer_signer(domain: Domain, node_id: bytes, seed: bytes, root: bytes, signature: Any) -> str | None:
    """The address that signed this commitment, or ``None`` when the signature is malformed."""
    if not isinstance(signature, str):
        return None
    try:
        return recover_signer(
            answer_digest(domain, node_id, seed, root), bytes.fromhex(signature.removeprefix("0x"))
        )
    except Exception:  # noqa: BLE001
        return None


def parse_endpoint(uri: str) -> tuple[str, str | None]:
    """A node's ``metadataURI`` -> ``(endpoint URL without fragment, answer key address or None)``."""
    parts = urlsplit(uri)
    key = None
    for item in parts.fragment.split("&"):
        name, _, value = item.partition("=")
        if name == "key" and value:
            try:
                key = to_checksum_address(value)
            except ValueError:
                key = None
    return urlunsplit(parts._replace(fragment="")), key


class OracleSet:
    """The provider's view of the oracle set: ``is_oracle(address)`` from the chain, cached for
    ``ttl_s`` (a removed oracle loses the right to challenge within that time). Addresses not in the
    cache are looked up at most ``lookups_per_s`` (burst 16) and at most ``max_cached`` are kept,
    so a stranger naming a fresh address per request costs the chain nothing beyond that rate."""

    def __init__(
        self,
        is_oracle: Callable[[str], bool],
        ttl_s: float = 300.0,
        lookups_per_s: float = 4.0,
        max_cached: int = 4096,
    ):
        self._is_oracle, self.ttl_s, self.max_cached = is_oracle, ttl_s, max_cached
        self._lookups = RateLimiter(lookups_per_s, 16)
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __contains__(self, address: str) -> bool:
        address = to_checksum_address(address)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(address)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        if not self._lookups.allow("lookups"):
            return hit[1] if hit is not None else False  # over the lookup rate: refuse the unknown
        member = bool(self._is_oracle(address))
        with self._lock:
            self._cache[address] = (now, member)
            while len(self._cache) > self.max_cached:
                del self._cache[next(iter(self._cache))]
        return member


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: int):
        self.rate, self.burst = rate_per_s, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True
