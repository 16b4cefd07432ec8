"""What a provider lets in and what it keeps: the gate in front of ``POST /challenge`` and the store
of commitments waiting to be opened.

* :class:`Gate`: a challenge is computed only when it is a request signed by a key of the oracle
  set (:mod:`oracle.challenge_auth`), for a node this server answers for, issued within
  ``max_skew_s`` of the provider's clock, within the signer's rate limit for that node, and not a replay of a
  seed already seen. Everything else is refused before any work (401/403/409/429), so a stranger
  flooding the provider costs it a signature check per request and nothing else.
* :class:`CommitmentStore`: what was committed, kept per (validator, epoch) until it has been
  opened (and ``keep_opened_s`` after, for a retried opening). A validator can only push out its
  own entries (at most ``per_validator``; unopened ones last), and nobody else can: no third party
  can make an honest provider answer 404 to an opening.
* :class:`Busy`: a node runs one challenge at a time (a node is one device). While it runs another
  validator's challenge, a new one for the same node is answered 503 with that other signed request
  as evidence; the validator checks the evidence and retries after its deadline. A server faking
  many nodes cannot use this to spread one device over them: the evidence must be a running
  challenge for the same node.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from oracle import challenge as ch
from oracle import commitment as cm
from oracle.attest import Domain
from oracle.challenge_auth import AuthError, ChallengeRequest, OracleSet, RateLimiter, read_request

DEFAULT_RATE_PER_S = 8.0
DEFAULT_BURST = 32
"""Per validator and node: a validator sends one challenge per precision and polls a busy node
every quarter of its target; an honest provider's limit must stay above that (a 429 is a fault)."""
DEFAULT_PER_VALIDATOR = 16
DEFAULT_KEEP_OPENED_S = 60.0
DEFAULT_TTL_S = 3600.0


class Refused(Exception):
    """A request the gate refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Gate:
    """Admission of signed challenge requests (see the module docstring)."""

    def __init__(
        self,
        domain: Domain,
        oracles: OracleSet,
        nodes: Iterable[bytes],
        *,
        rate: RateLimiter | None = None,
        max_skew_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ):
        self.domain, self.oracles, self.nodes = domain, oracles, {bytes(n) for n in nodes}
        self.rate = rate or RateLimiter(DEFAULT_RATE_PER_S, DEFAULT_BURST)
        self.max_skew_s, self.clock = max_skew_s, clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, body: Any) -> tuple[ChallengeRequest, str]:
        """``(request, signer)`` for a request to compute; :class:`Refused` otherwise."""
        named = body.get("signer") if isinstance(body, dict) else None
        if not isinstance(named, str):
            raise Refused(401, "a challenge request must name its signer and be signed by it")
        try:
            if named not in self.oracles:  # cached: a stranger costs no signature check
                raise Refused(403, f"{named} is not in the oracle set")
        except ValueError:
            raise Refused(401, f"signer {named[:50]!r} is not an address") from None
        try:
            request, signer = read_request(self.domain, body)
        except (AuthError, ch.ChallengeError) as exc:
            raise Refused(401 if isinstance(exc, AuthError) else 400, str(exc)) from None
        if request.node_id not in self.nodes:
            raise Refused(403, f"node 0x{request.node_id.hex()} is not served here")
        if abs(self.clock() - request.issued_at) > self.max_skew_s:
            raise Refused(
                403, f"request issued at {request.issued_at}, more than {self.max_skew_s:.0f} s from now"
            )
        if signer not in self.oracles:
            raise Refused(403, f"{signer} is not in the oracle set")
        if not self.rate.allow(f"{signer}:{request.node_id.hex()}"):
            raise Refused(429, f"{signer} is over its challenge rate for this node")
        seed = bytes(request.challenge.seed)
        with self._lock:
            now = time.monotonic()
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.max_skew_s:
                self._seen.popitem(last=False)
            if seed in self._seen:
                raise Refused(409, "this challenge was already received (replay)")
            self._seen[seed] = now
        return request, signer


@dataclass
class Stored:
    """One commitment waiting for its opening."""

    challenge: ch.Challenge
    commitment: cm.RowCommitment
    validator: str
    epoch: int
    node_id: bytes
    created: float = field(default_factory=time.monotonic)
    opened_at: float | None = None


class CommitmentStore:
    """Commitments by seed, kept per (validator, epoch) until opened (see the module docstring)."""

    def __init__(
        self,
        per_validator: int = DEFAULT_PER_VALIDATOR,
        keep_opened_s: float = DEFAULT_KEEP_OPENED_S,
        ttl_s: float = DEFAULT_TTL_S,
    ):
        self.per_validator, self.keep_opened_s, self.ttl_s = per_validator, keep_opened_s, ttl_s
        self._by_seed: dict[bytes, Stored] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_seed)

    def put(self, entry: Stored) -> None:
        with self._lock:
            self._expire(time.monotonic())
            mine = sorted(
                (e for e in self._by_seed.values() if e.validator == entry.validator),
                key=lambda e: (e.opened_at is None, e.epoch >= entry.epoch, e.created),
            )
            for old in mine[: max(0, len(mine) + 1 - self.per_validator)]:
                del self._by_seed[bytes(old.challenge.seed)]  # only ever this validator's own
            self._by_seed[bytes(entry.challenge.seed)] = entry

    def get(self, seed: bytes) -> Stored | None:
        with self._lock:
            return self._by_seed.get(bytes(seed))

    def opened(self, seed: bytes) -> None:
        with self._lock:
            entry = self._by_seed.get(bytes(seed))
            if entry is not None and entry.opened_at is None:
                entry.opened_at = time.monotonic()

    def _expire(self, now: float) -> None:
        for seed, e in list(self._by_seed.items()):
            opened_long_ago = e.opened_at is not None and now - e.opened_at > self.keep_opened_s
            if opened_long_ago or now - e.created > self.ttl_s:
                del self._by_seed[seed]


class Busy:
    """Which node runs which validator's challenge right now (one at a time per node)."""

    def __init__(self) -> None:
        self._running: dict[bytes, tuple[str, dict, float]] = {}
        self._lock = threading.Lock()

    def start(self, node_id: bytes, validator: str, body: dict, ends: float) -> tuple[dict, float] | None:
        """Mark ``node_id`` busy with this request until ``ends`` (``time.monotonic``); returns the
        running request's body and end instead when the node already runs one (of any validator)."""
        with self._lock:
            running = self._running.get(node_id)
            if running is not None:
                return running[1], running[2]
            self._running[node_id] = (validator, body, ends)
            return None

    def done(self, node_id: bytes) -> None:
        with self._lock:
            self._running.pop(node_id, None)
