"""Misbehaving providers for tests and fault drills.

``honest``; ``wrong`` (every row of the committed product has a wrong entry); ``lazy`` (computes
only the first half of the rows, commits zeros for the rest); ``slow`` (answers after the
deadline); ``outsourced`` (correct answers, in time, but each held back by a jittered extra
1.5-2.5 x its compute time, as a node relaying the work to a machine elsewhere:
:func:`outsourced_delay`); ``garbage`` (answers with bytes that are not JSON); ``silent`` (never answers).
``garbage`` and ``silent`` affect the POST endpoints only: ``/health`` stays up, like a node whose
compute side is broken. The server (:mod:`oracle.provider.server`) applies them.
"""

from __future__ import annotations

import numpy as np

from oracle import challenge as ch
from oracle import commitment as cm
from oracle.errors import ProviderError

BEHAVIOURS = ("honest", "wrong", "lazy", "slow", "outsourced", "garbage", "silent")
GARBAGE_REPLY = b"\x00this is not json{{"
"""What a ``garbage`` provider answers to every POST."""
SLOW_EXTRA_S = 0.5
"""How far past the deadline a ``slow`` provider answers."""


def outsourced_delay(challenge: ch.Challenge, elapsed_s: float) -> float:
    """How long an ``outsourced`` provider holds back its answer: 1.5-2.5 x ``elapsed_s`` (the
    factor drawn from the challenge's seed, so each challenge gets its own), never past 90% of
    the deadline (it answers in time: no fault, only its timings tell)."""
    extra = elapsed_s * (1.5 + challenge.seed[0] / 255)
    return max(0.0, min(extra, 0.9 * challenge.deadline_s - elapsed_s))


def check_behaviour(behaviour: str) -> str:
    """``behaviour`` when it is one of :data:`BEHAVIOURS`, else :class:`ProviderError`."""
    if behaviour not in BEHAVIOURS:
        raise ProviderError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
    return behaviour


def block_hook(behaviour: str, challenge: ch.Challenge) -> cm.BlockHook | None:
    """What a provider with ``behaviour`` commits instead of a block of rows starting at ``r0``
    (``None`` for an honest one). The server applies it again, row by row, when it opens rows, so
    the openings match what it committed."""
    n, half = challenge.n, (challenge.rows + 1) // 2

    def wrong(r0: int, c: np.ndarray) -> np.ndarray:
        c = c.copy()
        rows = np.arange(r0, r0 + len(c))
        c[rows - r0, (rows * 7 + 3) % n] += 1
        return c

    def lazy(r0: int, c: np.ndarray) -> np.ndarray:
        c = c.copy()
        c[max(0, half - r0) :] = 0
        return c

    return {"wrong": wrong, "lazy": lazy}.get(behaviour)
