"""The validator's client for a provider's HTTP API (:mod:`oracle.provider.server` documents it).

Stdlib ``urllib``, one request per call; every failure is one of the
:class:`~oracle.errors.ProviderError` subclasses (unreachable, timeout, protocol).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracle import challenge as ch
from oracle.errors import ProviderProtocolError, ProviderTimeout, ProviderUnreachable


@dataclass
class Commitment:
    """A provider's answer to ``POST /challenge``: the root, its self-reported compute time and the
    validator-side wall time from sending the challenge to receiving the answer."""

    root: bytes
    elapsed_s: float
    wall_s: float
    backend: str | None = None


class ProviderClient:
    """Validator-side client of a :class:`ProviderServer` (stdlib ``urllib``; one request per call)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        wait = self.timeout if timeout is None else timeout
        try:
            with urllib.request.urlopen(request, timeout=wait) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            with contextlib.suppress(json.JSONDecodeError, AttributeError):
                detail = json.loads(detail).get("error", detail)
            raise ProviderProtocolError(f"{method} {path} -> HTTP {exc.code}: {detail}") from None
        except TimeoutError:
            raise ProviderTimeout(f"{method} {path}: no answer within {wait:.1f} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ProviderTimeout(f"{method} {path}: no answer within {wait:.1f} s") from None
            raise ProviderUnreachable(
                f"cannot reach provider at {self.base_url} ({exc.reason}); is `oracle serve` running?"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ProviderUnreachable(f"connection to {self.base_url} failed: {exc}") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderProtocolError(f"{method} {path}: answer is not JSON ({raw[:40]!r})") from None

    def health(self) -> dict:
        return self._request("GET", "/health")

    def inventory(self) -> dict:
        return self._request("GET", "/inventory")

    def challenge(self, challenge: ch.Challenge, grace_s: float = 1.0) -> Commitment:
        """Send the challenge and wait at most ``deadline_s + grace_s`` (later answers fail anyway)."""
        started = time.perf_counter()
        answer = self._request(
            "POST",
            "/challenge",
            challenge.to_json(),
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
        return Commitment(root=root, elapsed_s=elapsed, wall_s=wall, backend=answer.get("backend"))

    def open(self, seed: bytes, rows: Sequence[int]) -> dict[int, tuple[np.ndarray, list[bytes]]]:
        """Ask for rows with Merkle proofs: ``{index: (values as int32 array, proof)}``."""
        answer = self._request("POST", "/open", {"seed": "0x" + seed.hex(), "rows": [int(i) for i in rows]})
        try:
            out = {}
            for item in answer["rows"]:
                proof = [bytes.fromhex(h[2:] if h.startswith("0x") else h) for h in item["proof"]]
                values = np.frombuffer(base64.b64decode(item["values_b64"], validate=True), dtype="<i4")
                out[int(item["index"])] = (values, proof)
            return out
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /open: malformed answer ({exc})") from None

    def product(self, seed: bytes) -> np.ndarray:
        """The full committed ``C`` (for Freivalds' check)."""
        answer = self._request("POST", "/product", {"seed": "0x" + seed.hex()})
        try:
            n = int(answer["n"])
            raw = base64.b64decode(answer["c_b64"], validate=True)
            return np.frombuffer(raw, dtype="<i4").reshape(n, n)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /product: malformed answer ({exc})") from None
