"""The validator's side of one challenge (:func:`run_challenge`): send it, check the deadline,
open the rows it samples and check them (and, when asked, the full product with Freivalds), and
turn whatever the provider did into a :class:`~oracle.challenge_check.Verdict`. It never raises:
what went wrong is in the verdict. :class:`~oracle.validator.prober.ChallengeProber` sizes the
challenges and calls it once per precision; ``oracle challenge`` calls it once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle.errors import ProviderError, ProviderTimeout, ProviderUnreachable
from oracle.validator.client import Commitment, ProviderBusy, ProviderClient


def run_challenge(
    client: ProviderClient,
    challenge: ch.Challenge,
    samples: int = cc.DEFAULT_SAMPLES,
    *,
    body: dict | None = None,
    answer_check: Callable[[Commitment], str | None] | None = None,
    freivalds_rounds: int = 0,
    assumed_correct_fraction: float = cc.DEFAULT_ASSUMED_CORRECT_FRACTION,
    rng: np.random.Generator | None = None,
    key: cc.ProjectionKey | None = None,
) -> cc.Verdict:
    """The whole validator-side protocol for one challenge; never raises.

    Only a connection refused (or never made) for ``POST /challenge`` gives a verdict marked
    ``unreachable`` (not a fault: nothing was proven). A node that answers busy gives a verdict
    with ``busy`` set (the caller checks its evidence). Everything else that goes wrong once the
    provider has accepted the connection is a failing verdict, a fault: a malformed, oversized,
    late or crashing answer, a root not signed as ``answer_check`` requires, and any failure of a
    later request (a provider that has committed cannot dodge its opening by refusing the next
    connection).

    1. ``POST /challenge`` (``body``: the signed request); answer after ``deadline_s`` (validator
       wall clock) -> ``late``.
    2. ``samples`` rows chosen by the validator after the commitment, opened with ``POST /open`` and
       checked by :func:`oracle.challenge.check_rows` with ``key``, the validator's projection key
       for this challenge's ``b_seed`` (built here when not given).
    3. When ``freivalds_rounds > 0``: ``POST /product`` and :func:`oracle.challenge.freivalds_check`
       against the same root (escape <= ``(1/p)^k``); the escape bounds multiply.
    """

    def failed(reason: str, elapsed: float | None = None) -> cc.Verdict:
        return cc.Verdict(
            ok=False,
            reason=reason,
            escape_probability=0.0,
            check_seconds=0.0,
            elapsed_s=elapsed,
            deadline_s=challenge.deadline_s,
            work_flops=challenge.flops,
        )

    try:
        commitment = client.challenge(challenge, body)
    except ProviderUnreachable as exc:
        verdict = failed(f"unreachable: {exc}")
        verdict.unreachable = True
        return verdict
    except ProviderBusy as exc:
        verdict = failed(f"busy: {exc}")
        verdict.busy = {"running": exc.evidence, "retry_after_s": exc.retry_after_s}
        return verdict
    except ProviderTimeout as exc:
        return failed(f"no answer: {exc}")
    except ProviderError as exc:
        return failed(f"bad answer: {exc}")
    except Exception as exc:  # noqa: BLE001 - whatever the answer did, it is the provider's fault
        return failed(f"bad answer: it crashed the client ({type(exc).__name__}: {str(exc)[:200]})")
    try:
        problem = answer_check(commitment) if answer_check is not None else None
        if problem is not None:
            return failed(f"bad answer: {problem}", commitment.wall_s)
        return _check_commitment(
            client,
            challenge,
            commitment,
            samples,
            freivalds_rounds,
            assumed_correct_fraction,
            rng,
            key,
            failed,
        )
    except Exception as exc:  # noqa: BLE001
        return failed(
            f"bad answer: the opening crashed the check ({type(exc).__name__}: {str(exc)[:200]})",
            commitment.wall_s,
        )


def _check_commitment(
    client: ProviderClient,
    challenge: ch.Challenge,
    commitment: Commitment,
    samples: int,
    freivalds_rounds: int,
    assumed_correct_fraction: float,
    rng: np.random.Generator | None,
    key: cc.ProjectionKey | None,
    failed: Callable[..., cc.Verdict],
) -> cc.Verdict:
    """Steps 2 and 3 of :func:`run_challenge`, once the root has arrived."""
    late = cc.check_deadline(challenge, commitment.wall_s)
    if late is not None:
        late.root = "0x" + commitment.root.hex()
        return late
    rows = cc.sample_rows(challenge.rows, samples, rng) if samples > 0 else []
    verdict: cc.Verdict | None = None
    if rows:
        try:
            openings = client.open(challenge.seed, rows)
        except ProviderError as exc:
            return failed(f"opening failed: {exc}", commitment.wall_s)
        verdict = cc.check_rows(
            challenge,
            commitment.root,
            openings,
            rows,
            key=key,
            assumed_correct_fraction=assumed_correct_fraction,
        )
        if not verdict.ok:
            verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
            return verdict
    if freivalds_rounds > 0:
        try:
            c = client.product(challenge.seed)
        except ProviderError as exc:
            return failed(f"full product failed: {exc}", commitment.wall_s)
        fv = cc.freivalds_check(challenge, c, freivalds_rounds, root=commitment.root, rng=rng)
        if verdict is None or not fv.ok:
            verdict = fv
        else:
            verdict = cc.Verdict(
                ok=True,
                reason=f"{verdict.reason}; {fv.reason}",
                escape_probability=verdict.escape_probability * fv.escape_probability,
                check_seconds=verdict.check_seconds + fv.check_seconds,
                samples=verdict.samples,
                freivalds_rounds=fv.freivalds_rounds,
                assumed_correct_fraction=assumed_correct_fraction,
                root=verdict.root,
                escape_table=verdict.escape_table,
                work_flops=challenge.flops,
            )
    if verdict is None:
        verdict = cc.Verdict(
            ok=True,
            reason="answered in time (nothing sampled: samples=0 and freivalds_rounds=0)",
            escape_probability=1.0,
            check_seconds=0.0,
            root="0x" + commitment.root.hex(),
            work_flops=challenge.flops,
        )
    verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
    return verdict
