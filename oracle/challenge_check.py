"""The validator's checks of an answer: sampled rows through secret projections
(:func:`check_rows`, :class:`ProjectionKey`), Freivalds on a full product (:func:`freivalds_check`),
the deadline, and the escape bounds each verdict states (:func:`escape_bound`, :func:`escape_table`).
The protocol is :mod:`oracle.challenge`; its step 4, the checks, and their soundness are here:

   (a) sampled rows (:func:`check_rows`): after receiving the root it picks ``s`` distinct rows
       with its own randomness; for each opened row it checks the range ``|x| <= 64 n``, that the
       row's digest is the one at its place in the opened group, that the group is leaf ``g`` of
       the root, and the row itself through ``k`` secret random projections:
       ``C_S R == A_S (B R) (mod p)`` with ``R`` an n x k matrix uniform in F_p that never leaves
       the validator (:class:`ProjectionKey`). Per challenge: O(s n) arithmetic, s digests and
       s log(rows/group) hashes.
       SOUNDNESS. Call a row *done* when its committed digest is the digest of the true row
       ``a_i B``. An opened row passes only if it equals the true row (a different row passes the
       ``k`` projections with probability ``<= p^-k``: the difference is a non-zero vector mod p
       because both rows are range-checked to ``|x| <= 64 n < p / 2``) and its digest is the
       committed one, so a sampled row that is not done passes with probability
       ``<= p^-k + 2^-64`` (the second term: a digest committed without computing the row matches
       the true one; the assumption behind it is stated in :mod:`oracle.mixer`). A provider that
       did a fraction ``f`` of the rows escapes ``s`` distinct uniformly sampled rows with
       probability ``C(f rows, s) / C(rows, s) <= f^s`` (:func:`escape_bound_rows`), so
       ``escape <= C(f rows, s) / C(rows, s) + p^-k + 2^-64``. A verdict reports it for a stated
       ``f`` and as a table over several ``f`` (:func:`escape_table`), including ``f = 1 - 1/rows``
       (one row skipped: it escapes with probability ``1 - s / rows``; only repetition catches it,
       and it saves ``1/rows`` of the work).
   (b) Freivalds (:func:`freivalds_check`), when the full ``C`` is sent (small sizes): checks
       ``A (B r) == C r (mod p)``, ``p = 2^31 - 1``, for ``k`` independent vectors ``r`` uniform in
       F_p^n, after checking that ``C`` matches the committed root and that every entry is in range
       (so ``C != AB`` as integers implies ``C != AB (mod p)``). ESCAPE PROBABILITY: a wrong ``C``
       passes one round with probability <= 1/p, all ``k`` rounds with probability
       ``<= (1/p)^k`` (:func:`escape_bound_freivalds`).

   An answer that arrives after ``deadline_s`` fails whatever its content (:func:`check_deadline`)."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from oracle import challenge as ch
from oracle import commitment as cm

PRIME = 2**31 - 1
"""The Freivalds modulus p (a Mersenne prime < 2^31)."""
DEFAULT_SAMPLES = 16
DEFAULT_PROJECTIONS = 2
"""Random projections ``k`` in the sampled-row check: a sampled wrong row passes with ``<= p^-k``."""
DEFAULT_ASSUMED_CORRECT_FRACTION = 0.5
"""Fraction ``f`` stated with a verdict's single escape probability (the table lists others)."""

# --------------------------------------------------------------------------------------------
# Verdicts and escape bounds
# --------------------------------------------------------------------------------------------

ESCAPE_TABLE_FRACTIONS = (0.5, 0.9, 0.99)
"""Fractions of rows done listed in every verdict's escape table (plus one row skipped)."""


@dataclass
class Verdict:
    """Outcome of checking one answer.

    ``escape_probability`` bounds the chance that a provider that did only a fraction ``f`` =
    ``assumed_correct_fraction`` of the rows would have passed this check with this sample:
    ``C(f rows, s) / C(rows, s) + p^-k + 2^-64`` for ``s`` sampled rows checked by ``k``
    projections; ``(1/p)^k`` for ``k`` Freivalds rounds on the full product; their product when
    both ran. It is 1.0 when nothing was checked, 0.0 when the answer failed. ``escape_table`` lists
    the same bound for other ``f`` (:func:`escape_table`). ``attested_flops`` and ``proven_flops``
    are set by the prober (:func:`oracle.challenge.attested_flops`, :func:`oracle.challenge.proven_flops`)."""

    ok: bool
    reason: str
    escape_probability: float
    check_seconds: float
    samples: int = 0
    freivalds_rounds: int = 0
    assumed_correct_fraction: float = DEFAULT_ASSUMED_CORRECT_FRACTION
    elapsed_s: float | None = None
    deadline_s: float | None = None
    root: str | None = None
    failed_rows: list[int] = field(default_factory=list)
    escape_table: list[dict] = field(default_factory=list)
    work_flops: int = 0
    attested_flops: float = 0.0
    """What this validator measured, ``work / wall time`` (capped at the claim); 0 on failure."""
    proven_flops: float = 0.0
    """What the pass proves, ``work / deadline`` (capped at the claim): the figure signed."""
    unreachable: bool = False
    """No connection could be made for the challenge: nothing was proven, not a fault."""
    busy: dict | None = None
    """The node answered busy: ``{"running": <the signed request it runs>, "retry_after_s"}``."""

    def to_json(self) -> dict:
        return asdict(self)


def escape_bound_rows(correct_fraction: float, samples: int, rows: int | None = None) -> float:
    """Chance that ``s`` distinct uniformly sampled rows all hit rows that were done when only a
    fraction ``f`` was: exactly ``C(floor(f rows), s) / C(rows, s)`` when ``rows`` is given, else the
    bound ``f^s`` (which the exact value never exceeds)."""
    if not 0.0 <= correct_fraction <= 1.0:
        raise ch.ChallengeError("correct_fraction must be in [0, 1]")
    if rows is None:
        return float(correct_fraction**samples)
    done = math.floor(correct_fraction * rows + 1e-9)
    s = min(samples, rows)
    return math.comb(done, s) / math.comb(rows, s)


def escape_bound_freivalds(rounds: int, p: int = PRIME) -> float:
    """Upper bound ``(1/p)^k`` on the chance that a wrong ``C`` passes ``k`` Freivalds rounds."""
    return float((1.0 / p) ** rounds)


def escape_bound(correct_fraction: float, samples: int, rows: int, rounds: int, p: int = PRIME) -> float:
    """Whole sampled-row bound: ``C(f rows, s)/C(rows, s) + p^-k + 2^-64`` (at most 1)."""
    if samples <= 0:
        return 1.0
    tail = escape_bound_freivalds(rounds, p) + ch.DIGEST_GUESS
    return min(1.0, escape_bound_rows(correct_fraction, samples, rows) + tail)


def escape_table(rows: int, samples: int, rounds: int = DEFAULT_PROJECTIONS, p: int = PRIME) -> list[dict]:
    """``[{"f", "rows_skipped", "escape"}]`` for f in :data:`ESCAPE_TABLE_FRACTIONS` and for one row
    skipped (``f = 1 - 1/rows``): what this sample lets through, by how much work was left out."""
    out = []
    for f in ESCAPE_TABLE_FRACTIONS:
        done = math.floor(f * rows + 1e-9)
        if done < rows:
            out.append(
                {"f": f, "rows_skipped": rows - done, "escape": escape_bound(f, samples, rows, rounds, p)}
            )
    one = (rows - 1) / rows
    out.append({"f": one, "rows_skipped": 1, "escape": escape_bound(one, samples, rows, rounds, p)})
    return out


def check_deadline(challenge: ch.Challenge, elapsed_s: float) -> Verdict | None:
    """A failing :class:`Verdict` when the answer came after the deadline, else ``None``."""
    if elapsed_s > challenge.deadline_s:
        return Verdict(
            ok=False,
            reason=f"late: answered after {elapsed_s:.3f} s, deadline {challenge.deadline_s:.3f} s",
            escape_probability=0.0,
            check_seconds=0.0,
            elapsed_s=elapsed_s,
            deadline_s=challenge.deadline_s,
            work_flops=challenge.flops,
        )
    return None


class ProjectionKey:
    """A validator's secret for checking sampled rows without recomputing them.

    ``r``: ``rounds`` vectors uniform in F_p^n (an n x k matrix) drawn from the validator's own
    randomness, never sent anywhere; ``br = B r mod p`` for the ``B`` of one ``b_seed``. Building it
    costs O(n^2) (derive ``B``, one float64 BLAS pass over it); the validator builds one per epoch
    and checks every challenge of that epoch with it (:class:`ProjectionKeys` caches them by
    ``b_seed`` and ``n``), so per challenge only O(s n) arithmetic remains. Immutable once built.
    :func:`freivalds_check` uses the same key over the whole ``C``."""

    def __init__(
        self,
        b_seed: bytes,
        n: int,
        rounds: int = DEFAULT_PROJECTIONS,
        *,
        rng: np.random.Generator | None = None,
        b: np.ndarray | None = None,
        p: int = PRIME,
    ):
        if not 1 <= rounds <= 64:
            raise ch.ChallengeError(f"rounds must be in [1, 64], got {rounds!r}")
        if not 2 <= p <= PRIME:
            raise ch.ChallengeError(f"p must be a prime in [2, {PRIME}]")
        rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
        self.b_seed, self.n, self.rounds, self.p = bytes(b_seed), n, rounds, p
        self.r = rng.integers(0, p, size=(n, rounds), dtype=np.int64)
        b = ch.derive_b(self.b_seed, n) if b is None else b
        if b.shape != (n, n):
            raise ch.ChallengeError(f"b has shape {b.shape}, expected ({n}, {n})")
        self.br = _matmul_mod(b, self.r, ch.ENTRY_ABS_MAX, p)

    def project(self, rows: np.ndarray, bound: int) -> np.ndarray:
        """``rows @ r mod p`` for integer rows with entries of magnitude at most ``bound``."""
        return _matmul_mod(rows, self.r, bound, self.p)

    def expected(self, a_rows: np.ndarray) -> np.ndarray:
        """``a_rows @ (B r) mod p``: the projections the true rows ``a_rows @ B`` must have."""
        return _matmul_mod(a_rows, self.br, ch.ENTRY_ABS_MAX, self.p)


class ProjectionKeys:
    """One :class:`ProjectionKey` per ``(b_seed, n)``, built on first use and kept for ``keep`` keys
    (the validator's cache across one epoch's challenges; thread-safe)."""

    def __init__(self, rounds: int = DEFAULT_PROJECTIONS, keep: int = 4):
        self.rounds, self.keep = rounds, keep
        self._keys: dict[tuple[bytes, int], ProjectionKey] = {}
        self._lock = threading.Lock()

    def for_challenge(self, challenge: ch.Challenge) -> ProjectionKey:
        ident = (bytes(challenge.b_seed), challenge.n)
        with self._lock:  # built under the lock: concurrent probes of one epoch build it once
            key = self._keys.get(ident)
            if key is None:
                key = ProjectionKey(ident[0], ident[1], self.rounds)
                self._keys[ident] = key
                while len(self._keys) > self.keep:
                    del self._keys[next(iter(self._keys))]
            return key


def sample_rows(rows: int, samples: int, rng: np.random.Generator | None = None) -> list[int]:
    """``min(samples, rows)`` distinct row indices, uniform, from the validator's own randomness."""
    rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    k = min(samples, rows)
    return sorted(int(i) for i in rng.choice(rows, size=k, replace=False))


Opening = tuple[Sequence[int] | np.ndarray, bytes, Sequence[bytes]]
"""An opened row: ``(values, digests of its group as bytes, Merkle proof of the group)``."""


def check_rows(
    challenge: ch.Challenge,
    root: bytes,
    openings: Mapping[int, Opening],
    rows: Sequence[int],
    *,
    key: ProjectionKey | None = None,
    b: np.ndarray | None = None,
    assumed_correct_fraction: float = DEFAULT_ASSUMED_CORRECT_FRACTION,
) -> Verdict:
    """Check the provider's openings ``{row: (values, group digests, proof)}`` of the sampled
    ``rows`` against ``root`` and, through ``key``'s secret projections, against the true rows
    ``a_i @ B``.

    Cost with a ``key`` built for this challenge's ``b_seed`` (the validator's per-epoch
    :class:`ProjectionKey`): O(s n) arithmetic plus the s digests and Merkle proofs. Without one, a
    fresh key is built first (O(n^2): derive ``B`` -- skipped when ``b`` is passed -- and project it)."""
    started = time.perf_counter()
    n = challenge.n
    if key is None:
        key = ProjectionKey(challenge.b_seed, n, b=b)
    elif key.b_seed != bytes(challenge.b_seed) or key.n != n:
        raise ch.ChallengeError("projection key was built for another b_seed or n than this challenge's")

    def fail(reason: str, bad: list[int] | None = None) -> Verdict:
        return Verdict(
            ok=False,
            reason=reason,
            escape_probability=0.0,
            check_seconds=time.perf_counter() - started,
            samples=len(rows),
            freivalds_rounds=key.rounds,
            assumed_correct_fraction=assumed_correct_fraction,
            root="0x" + root.hex(),
            failed_rows=bad or [],
            work_flops=challenge.flops,
        )

    missing = [i for i in rows if i not in openings]
    if missing:
        return fail(f"provider did not open requested row(s) {missing[:8]}", missing)
    values = np.empty((len(rows), n), dtype=np.int64)
    for k, i in enumerate(rows):
        try:
            row = np.asarray(openings[i][0], dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            return fail(f"opened row {i} is not a list of integers", [i])
        if row.shape != (n,):
            return fail(f"opened row {i} does not have {n} entries", [i])
        values[k] = row
    limit = ch.product_bound(n)
    out_of_range = [i for k, i in enumerate(rows) if np.abs(values[k]).max(initial=0) > limit]
    if out_of_range:
        bad = out_of_range[:8]
        return fail(f"opened row(s) {bad} have an entry outside [-{limit}, {limit}] (wrong product)", bad)
    values = values.astype(np.int32)
    keys = cm.column_keys(challenge)
    for k, i in enumerate(rows):
        _, group_digests, proof = openings[i]
        problem = cm.verify_opening(challenge, root, i, values[k], group_digests, proof, keys)
        if problem is not None:
            return fail(problem, [i])
    got = key.project(values, limit)
    want = key.expected(ch.derive_a_rows(challenge.seed, n, rows))
    wrong = [i for k, i in enumerate(rows) if not np.array_equal(got[k], want[k])]
    if wrong:
        return fail(f"row(s) {wrong[:8]} differ from A @ B (wrong product)", wrong)
    return Verdict(
        ok=True,
        reason=f"{len(rows)} sampled row(s) committed and correct ({key.rounds} secret projections)",
        escape_probability=escape_bound(
            assumed_correct_fraction, len(rows), challenge.rows, key.rounds, key.p
        ),
        check_seconds=time.perf_counter() - started,
        samples=len(rows),
        freivalds_rounds=key.rounds,
        assumed_correct_fraction=assumed_correct_fraction,
        root="0x" + root.hex(),
        escape_table=escape_table(challenge.rows, len(rows), key.rounds, key.p),
        work_flops=challenge.flops,
    )


def _matmul_mod(m: np.ndarray, v: np.ndarray, bound: int, p: int = PRIME, block: int = 256) -> np.ndarray:
    """``(m @ v) mod p`` exactly, with float64 BLAS: ``|m| <= bound`` and ``0 <= v < p``.

    ``v`` is split into limbs small enough that every dot product stays below 2^53; ``m`` is
    converted to float64 a block of rows at a time (no n x n float64 temporary)."""
    n = m.shape[1]
    limb_bits = 52 - max(1, int(bound).bit_length()) - max(1, n.bit_length())
    if limb_bits < 1:
        raise ch.ChallengeError("matrix too large for the exact float64 Freivalds product")
    limbs, scales, rest, shift = [], [], v.astype(np.int64), 0
    while True:
        limbs.append((rest & ((1 << limb_bits) - 1)).astype(np.float64))
        scales.append(pow(2, shift, p))
        rest, shift = rest >> limb_bits, shift + limb_bits
        if not rest.any():
            break
    result = np.empty((m.shape[0], v.shape[1]), dtype=np.int64)
    for r0 in range(0, m.shape[0], block):
        m64 = m[r0 : r0 + block].astype(np.float64)
        acc = np.zeros((m64.shape[0], v.shape[1]), dtype=np.int64)
        for limb, scale in zip(limbs, scales, strict=True):
            part = np.mod((m64 @ limb).astype(np.int64), p)
            acc = (acc + part * scale) % p
        result[r0 : r0 + block] = acc
    return result


def freivalds_check(
    challenge: ch.Challenge,
    c: np.ndarray,
    rounds: int,
    *,
    root: bytes | None = None,
    rng: np.random.Generator | None = None,
    p: int = PRIME,
) -> Verdict:
    """Freivalds' check of a full ``C`` (``rows x n``): ``A (B R) == C R (mod p)`` for an n x k
    matrix ``R`` of independent uniform vectors in F_p^n. When ``root`` is given ``C`` must also
    match it (:func:`cm.commitment_root`). Cost O(k rows n) plus the digests. Escape: ``<= (1/p)^k``.
    ``p`` must be a prime > 128 n for that bound to hold for every wrong ``C``; tests pass a small
    prime to measure the escape rate empirically (then only differences that are not multiples of p
    are caught)."""
    started = time.perf_counter()
    n = challenge.n

    def fail(reason: str) -> Verdict:
        return Verdict(
            ok=False,
            reason=reason,
            escape_probability=0.0,
            check_seconds=time.perf_counter() - started,
            freivalds_rounds=rounds,
            root=None if root is None else "0x" + root.hex(),
            work_flops=challenge.flops,
        )

    c = np.asarray(c)
    if c.shape != (challenge.rows, n):
        return fail(f"product has shape {c.shape}, expected ({challenge.rows}, {n})")
    if not np.issubdtype(c.dtype, np.integer):
        return fail(f"product must hold integers, got dtype {c.dtype}")
    limit = ch.product_bound(n)
    if c.size and (int(c.min()) < -limit or int(c.max()) > limit):
        return fail(f"product has an entry outside [-{limit}, {limit}] (wrong product)")
    if root is not None and cm.commitment_root(challenge, c) != root:
        return fail("full product does not match the committed root")
    key = ProjectionKey(challenge.b_seed, n, rounds, rng=rng, p=p)  # the same R, B R as the row check
    abr = key.expected(ch.derive_a(challenge.seed, n, challenge.rows))
    cr = key.project(c, limit)
    if not np.array_equal(abr, cr):
        bad = int(np.flatnonzero((abr != cr).any(axis=1))[0])
        return fail(f"Freivalds check failed (row {bad} of C is wrong)")
    return Verdict(
        ok=True,
        reason=f"Freivalds check passed ({rounds} round(s))",
        escape_probability=escape_bound_freivalds(rounds, p),
        check_seconds=time.perf_counter() - started,
        freivalds_rounds=rounds,
        root=None if root is None else "0x" + root.hex(),
        work_flops=challenge.flops,
    )
