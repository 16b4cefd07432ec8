"""The validator's client for a provider's HTTP API (:mod:`oracle.provider.server` documents it).

Every request goes through :mod:`oracle.wire` (bounded: one deadline per answer, size limits, no
redirects, strict JSON); every failure is one of the :class:`~oracle.errors.ProviderError`
subclasses: :class:`~oracle.errors.ProviderUnreachable` only when no connection was made,
:class:`~oracle.errors.ProviderTimeout` when the answer was cut at its deadline,
:class:`~oracle.errors.ProviderProtocolError` for anything else that broke the protocol, and
:class:`ProviderBusy` for a node that shows it is running another validator's challenge.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle import wire
from oracle.errors import ProviderError, ProviderProtocolError, ProviderTimeout, ProviderUnreachable

DEFAULT_GRACE_S = 1.0
"""How long past a challenge's deadline the client still reads (a later answer fails anyway)."""


class ProviderBusy(ProviderError):
    """The node answered 503 busy, with the signed request of the challenge it is running."""

    def __init__(self, message: str, evidence: Any, retry_after_s: float):
        super().__init__(message)
        self.evidence, self.retry_after_s = evidence, retry_after_s


@dataclass
class Commitment:
    """A provider's answer to ``POST /challenge``: the root, its self-reported compute time, the
    validator-side wall time from sending the challenge to receiving the answer, and the node's
    signature over the root (``None`` when the node has no answer key)."""

    root: bytes
    elapsed_s: float
    wall_s: float
    backend: str | None = None
    signature: str | None = None


class ProviderClient:
    """Validator-side client of a provider server (one bounded request per call)."""

    def __init__(self, base_url: str, timeout: float = 30.0, limits: wire.Limits = wire.DEFAULT_LIMITS):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits

    def _request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        try:
            status, doc = wire.call_json(
                self.base_url, method, path, body, timeout_s=wait, limits=self.limits
            )
        except wire.Unreachable as exc:
            raise ProviderUnreachable(
                f"cannot reach provider at {self.base_url} ({exc}); is `oracle serve` running?"
            ) from None
        except wire.Violation as exc:
            if exc.kind == "late":
                raise ProviderTimeout(f"{method} {path}: no complete answer within {wait:.1f} s") from None
            raise ProviderProtocolError(f"{method} {path}: {exc}") from None
        if status == 503 and isinstance(doc, dict) and doc.get("busy") is True:
            retry = doc.get("retry_after_s")
            retry = float(retry) if isinstance(retry, int | float) and 0 <= retry <= 3600 else 1.0
            raise ProviderBusy(f"{method} {path}: node busy", doc.get("running"), retry)
        if status >= 400:
            detail = doc.get("error", doc) if isinstance(doc, dict) else doc
            raise ProviderProtocolError(f"{method} {path} -> HTTP {status}: {str(detail)[:300]}")
        return doc

    def health(self) -> dict:
        return self._request("GET", "/health")

    def inventory(self) -> dict:
        return self._request("GET", "/inventory")

    def challenge(
        self, challenge: ch.Challenge, body: dict | None = None, grace_s: float = DEFAULT_GRACE_S
    ) -> Commitment:
        """Send the challenge (``body``: its signed request, :mod:`oracle.challenge_auth`; default
        the bare challenge, which only an open dev server accepts) and read the answer until
        ``deadline_s + grace_s``."""
        started = time.perf_counter()
        answer = self._request(
            "POST",
            "/challenge",
            challenge.to_json() if body is None else body,
            timeout=min(self.timeout, challenge.deadline_s + grace_s),
        )
        wall = time.perf_counter() - started
        if not isinstance(answer, dict) or "root" not in answer:
            raise ProviderProtocolError("POST /challenge: answer has no root")
        try:
            root = ch.parse_bytes32(answer["root"], "root")
            elapsed = float(answer.get("elapsed_s", float("nan")))
        except (ch.ChallengeError, TypeError, ValueError) as exc:
            raise ProviderProtocolError(f"POST /challenge: {exc}") from None
        signature = answer.get("signature")
        return Commitment(
            root=root,
            elapsed_s=elapsed,
            wall_s=wall,
            backend=answer.get("backend") if isinstance(answer.get("backend"), str) else None,
            signature=signature if isinstance(signature, str) else None,
        )

    def open(self, seed: bytes, rows: Sequence[int]) -> dict[int, cc.Opening]:
        """Ask for rows with their group's digests and Merkle proof: ``{index: (values, group, proof)}``."""
        answer = self._request("POST", "/open", {"seed": "0x" + seed.hex(), "rows": [int(i) for i in rows]})
        try:
            out = {}
            for item in answer["rows"]:
                proof = [bytes.fromhex(h[2:] if h.startswith("0x") else h) for h in item["proof"]]
                values = np.frombuffer(base64.b64decode(item["values_b64"], validate=True), dtype="<i4")
                group = base64.b64decode(item["group_b64"], validate=True)
                index = item["index"]
                if not isinstance(index, int) or isinstance(index, bool):
                    raise TypeError(f"index {index!r} is not an integer")
                out[index] = (values, group, proof)
            return out
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /open: malformed answer ({exc})") from None

    def product(self, seed: bytes) -> np.ndarray:
        """The full committed ``C`` (for Freivalds' check; small sizes only)."""
        answer = self._request("POST", "/product", {"seed": "0x" + seed.hex()})
        try:
            m, n = int(answer["rows"]), int(answer["n"])
            raw = base64.b64decode(answer["c_b64"], validate=True)
            return np.frombuffer(raw, dtype="<i4").reshape(m, n)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /product: malformed answer ({exc})") from None
