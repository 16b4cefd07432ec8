"""Misbehaving providers for tests and fault drills.

``honest``; ``wrong`` (every row of the committed product has a wrong entry); ``lazy`` (computes
only the first half of the rows, commits zeros for the rest); ``slow`` (answers after the
deadline); ``garbage`` (answers with bytes that are not JSON); ``silent`` (never answers).
``garbage`` and ``silent`` affect the POST endpoints only: ``/health`` stays up, like a node whose
compute side is broken. The server (:mod:`oracle.provider.server`) applies them.
"""

from __future__ import annotations

import numpy as np

from oracle.errors import ProviderError

BEHAVIOURS = ("honest", "wrong", "lazy", "slow", "garbage", "silent")
GARBAGE_REPLY = b"\x00this is not json{{"
"""What a ``garbage`` provider answers to every POST."""
SLOW_EXTRA_S = 0.5
"""How far past the deadline a ``slow`` provider answers."""


def check_behaviour(behaviour: str) -> str:
    """``behaviour`` when it is one of :data:`BEHAVIOURS`, else :class:`ProviderError`."""
    if behaviour not in BEHAVIOURS:
        raise ProviderError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
    return behaviour


def corrupt_product(behaviour: str, c: np.ndarray) -> np.ndarray:
    """The product a provider with ``behaviour`` commits to instead of the true ``c``."""
    n = c.shape[0]
    if behaviour == "wrong":
        c = c.copy()
        c[np.arange(n), (np.arange(n) * 7 + 3) % n] += 1
    elif behaviour == "lazy":
        c = c.copy()
        c[(n + 1) // 2 :] = 0
    return c
