"""Checkable matrix-product challenges: pure functions shared by the validator and the provider.

Protocol (one challenge)
------------------------
1. The validator issues ``Challenge(seed, n, precision, deadline_s, b_seed)``. ``seed`` is 32 fresh
   random bytes per challenge; ``b_seed`` is 32 random bytes the validator draws once per epoch and
   uses for every provider it challenges in that epoch (it defaults to ``seed``);
   ``deadline_s = overhead_s + 2 n^3 / claimed_flops * slack`` (:func:`deadline_for`).
2. Both sides derive the same ``A`` (from ``seed``) and ``B`` (from ``b_seed``), n x n with entries
   in [-8, 7] (:func:`derive_a`, :func:`derive_b`, :func:`derive_a_rows`). Sharing ``B`` across an
   epoch's challenges shares no work between providers: each ``C = A_i B`` needs its own n^3
   product, and a ``B`` known early does not help compute ``A_i B`` for an ``A_i`` that is not.
   What it buys is the validator's check (4a): its O(n^2) part is done once per epoch instead of
   once per provider. The generator is NumPy's ``PCG64``
   seeded with ``keccak256(tag || seed)``; matrix row ``i`` is the little-endian bytes of raw 64-bit
   draws ``i*w .. (i+1)*w - 1`` (``w = ceil(n/8)``), each byte read as int8 and shifted right by 4.
   Because PCG64 can jump ahead (``advance``), the validator derives single rows of ``A`` in O(n).
3. The provider computes ``C = A @ B`` and answers, before the deadline, with the Merkle root
   (SHA-256, see :func:`row_leaf`) over the rows of ``C`` (:class:`MerkleTree`). Every entry of ``C`` is an integer with
   ``|C_ij| <= 64 n``, so the product is EXACT in every supported precision as long as the
   accumulator is fp32 or wider (fp32 holds every integer up to 2^24 and 64 n <= 2^20 for
   n <= MAX_N; every partial sum is bounded the same way). fp16/bf16 inputs hold [-8, 7] exactly;
   the provider must accumulate and output in fp32 (cuBLAS compute type 32F, ``torch.mm(...,
   out_dtype=torch.float32)``). The committed matrix is therefore the same ``int32`` matrix for
   every honest provider, whatever its hardware, which is what makes the answer checkable.
4. The validator checks cheaply:

   (a) sampled rows (:func:`check_rows`): after receiving the root it picks ``s`` distinct rows
       with its own randomness, the provider opens them with Merkle proofs, the validator verifies
       the proofs against the root and checks the opened rows ``C_S`` through ``k`` secret random
       projections: ``C_S R == A_S (B R) (mod p)`` with ``R`` an n x k matrix uniform in F_p that
       never leaves the validator (:class:`ProjectionKey`). ``B R`` is computed once per
       ``b_seed`` (per epoch: derive ``B``, one pass through BLAS); per challenge the check costs
       O(s n) arithmetic, s leaf hashes of 4n bytes and s log n inner hashes.
       ESCAPE PROBABILITY: a provider whose committed rows are correct for a fraction ``f`` of the
       rows escapes ``s`` distinct uniformly sampled rows with probability
       ``C(fn, s) / C(n, s) <= f^s`` (:func:`escape_bound_rows`); a wrong row that is sampled
       passes ``k`` projections with probability ``<= p^-k`` (its difference from the true row is
       a non-zero vector mod p because both are range-checked to ``|x| <= 64 n < p / 2``), so the
       whole check lets a cheat through with probability ``<= f^s + p^-k``.
   (b) Freivalds (:func:`freivalds_check`), when the full ``C`` is sent (small n): checks
       ``A (B r) == C r (mod p)``, ``p = 2^31 - 1``, for ``k`` independent vectors ``r`` uniform in
       F_p^n, after checking that ``C`` matches the committed root and that every entry is in range
       (so ``C != AB`` as integers implies ``C != AB (mod p)``). ESCAPE PROBABILITY: a wrong ``C``
       passes one round with probability <= 1/p, all ``k`` rounds with probability
       ``<= (1/p)^k`` (:func:`escape_bound_freivalds`).

   An answer that arrives after ``deadline_s`` fails whatever its content (:func:`check_deadline`).

Everything in this module is deterministic and side-effect free except the validator's choice of
rows / Freivalds vectors, which takes an optional ``numpy.random.Generator`` (default: fresh OS
entropy) so tests can replay it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from eth_utils import keccak

from oracle.errors import OracleError

PRIME = 2**31 - 1
"""The Freivalds modulus p (a Mersenne prime < 2^31)."""

ENTRY_MIN, ENTRY_MAX = -8, 7
"""Range of the entries of A and B."""
ENTRY_ABS_MAX = max(-ENTRY_MIN, ENTRY_MAX)
"""Largest magnitude of an entry of A or B (8)."""


def product_bound(n: int) -> int:
    """Largest magnitude of an entry of ``C = A @ B`` (and of any partial sum): ``64 n``."""
    return ENTRY_ABS_MAX**2 * n


MAX_N = 16384
"""Largest accepted matrix size (C as int32 is 1 GiB at this size)."""

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "int8")
"""Precisions a challenge may name. The product is exact in all of them (see module doc)."""

DEFAULT_OVERHEAD_S = 2.0
DEFAULT_SLACK = 3.0
DEFAULT_SAMPLES = 16
DEFAULT_PROJECTIONS = 2
"""Random projections ``k`` in the sampled-row check: a sampled wrong row passes with ``<= p^-k``."""
DEFAULT_ASSUMED_CORRECT_FRACTION = 0.5
"""Fraction ``f`` used for the reported row-sampling escape probability ``f^s``: the bound for a
provider that skipped (or botched) at least half of the rows. Callers can pass another ``f``."""

_TAG_A = b"oracle.challenge.A"
_TAG_B = b"oracle.challenge.B"
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ChallengeError(OracleError, ValueError):
    """A challenge, commitment or opening is malformed (the message says which field and why)."""


# --------------------------------------------------------------------------------------------
# Challenge and deadline
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """What a validator asks: multiply the two matrices derived from ``seed`` within ``deadline_s``."""

    seed: bytes
    n: int
    precision: str
    deadline_s: float
    b_seed: bytes | None = None
    """Seed of ``B``, shared by the challenges a validator sends in one epoch; ``None`` = ``seed``."""

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes | bytearray) or len(self.seed) != 32:
            raise ChallengeError("seed must be 32 bytes (a bytes32, e.g. secrets.token_bytes(32))")
        if self.b_seed is None:
            object.__setattr__(self, "b_seed", bytes(self.seed))
        elif not isinstance(self.b_seed, bytes | bytearray) or len(self.b_seed) != 32:
            raise ChallengeError("b_seed must be 32 bytes (a bytes32, e.g. secrets.token_bytes(32))")
        if not isinstance(self.n, int) or isinstance(self.n, bool) or not 1 <= self.n <= MAX_N:
            raise ChallengeError(f"n must be an integer in [1, {MAX_N}], got {self.n!r}")
        if self.precision not in PRECISIONS:
            raise ChallengeError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not (isinstance(self.deadline_s, int | float) and math.isfinite(self.deadline_s)):
            raise ChallengeError(f"deadline_s must be a finite number of seconds, got {self.deadline_s!r}")
        if self.deadline_s <= 0:
            raise ChallengeError(f"deadline_s must be positive, got {self.deadline_s!r}")

    @property
    def flops(self) -> int:
        """Arithmetic work of the product: 2 n^3 (one multiply and one add per term)."""
        return 2 * self.n**3

    def to_json(self) -> dict:
        """JSON-ready form: ``{"seed": "0x..", "b_seed": "0x..", "n": .., "precision": .., "deadline_s": ..}``."""
        return {
            "seed": "0x" + bytes(self.seed).hex(),
            "b_seed": "0x" + bytes(self.b_seed).hex(),
            "n": self.n,
            "precision": self.precision,
            "deadline_s": float(self.deadline_s),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Challenge:
        """Parse :meth:`to_json` output (``b_seed`` may be left out: it is then ``seed``); raises
        :class:`ChallengeError` on any malformed field."""
        if not isinstance(data, Mapping):
            raise ChallengeError("challenge must be a JSON object with seed, n, precision, deadline_s")
        missing = [k for k in ("seed", "n", "precision", "deadline_s") if k not in data]
        if missing:
            raise ChallengeError(f"challenge is missing field(s): {', '.join(missing)}")
        return cls(
            seed=parse_bytes32(data["seed"], "seed"),
            n=data["n"],
            precision=data["precision"],
            deadline_s=data["deadline_s"],
            b_seed=parse_bytes32(data["b_seed"], "b_seed") if data.get("b_seed") is not None else None,
        )


def parse_bytes32(value: object, name: str = "value") -> bytes:
    """``"0x" + 64 hex digits`` (or 64 hex digits) -> 32 bytes; :class:`ChallengeError` otherwise."""
    if not isinstance(value, str):
        raise ChallengeError(f"{name} must be a 0x-prefixed hex string of 32 bytes")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ChallengeError(f"{name} is not valid hex: {value[:80]!r}") from None
    if len(raw) != 32:
        raise ChallengeError(f"{name} must be 32 bytes, got {len(raw)}")
    return raw


def deadline_for(
    n: int, claimed_flops: float, overhead_s: float = DEFAULT_OVERHEAD_S, slack: float = DEFAULT_SLACK
) -> float:
    """Deadline for a provider claiming ``claimed_flops`` (FLOP/s at the challenge precision):
    ``overhead_s + 2 n^3 / claimed_flops * slack``. ``overhead_s`` covers the network round trip,
    deriving A and B and the Merkle commitment; ``slack`` tolerates clock and load jitter."""
    if claimed_flops <= 0:
        raise ChallengeError(f"claimed_flops must be positive, got {claimed_flops!r}")
    if overhead_s < 0 or slack < 1:
        raise ChallengeError("overhead_s must be >= 0 and slack >= 1")
    return overhead_s + 2.0 * n**3 / claimed_flops * slack


def new_challenge(
    n: int,
    precision: str,
    claimed_flops: float,
    *,
    seed: bytes | None = None,
    b_seed: bytes | None = None,
    overhead_s: float = DEFAULT_OVERHEAD_S,
    slack: float = DEFAULT_SLACK,
) -> Challenge:
    """A fresh challenge with a random seed (``secrets``) and the deadline of :func:`deadline_for`.
    Pass the epoch's ``b_seed`` to share ``B`` (and the validator's :class:`ProjectionKey`)."""
    return Challenge(
        seed=secrets.token_bytes(32) if seed is None else seed,
        n=n,
        precision=precision,
        deadline_s=deadline_for(n, claimed_flops, overhead_s, slack),
        b_seed=b_seed,
    )


# --------------------------------------------------------------------------------------------
# Deterministic matrices
# --------------------------------------------------------------------------------------------


def _bit_generator(seed: bytes, tag: bytes) -> np.random.PCG64:
    return np.random.PCG64(int.from_bytes(keccak(tag + bytes(seed)), "big"))


def _rows_from_words(words: np.ndarray, rows: int, n: int) -> np.ndarray:
    width = -(-n // 8) * 8
    raw = words.astype("<u8", copy=False).view(np.int8).reshape(rows, width)
    return raw[:, :n] >> 4  # arithmetic shift: uniform in [-8, 7]


def _derive(seed: bytes, tag: bytes, n: int) -> np.ndarray:
    words_per_row = -(-n // 8)
    return _rows_from_words(_bit_generator(seed, tag).random_raw(n * words_per_row), n, n)


def derive_a(seed: bytes, n: int) -> np.ndarray:
    """The challenge's left matrix ``A`` (n x n, int8, entries in [-8, 7])."""
    return _derive(seed, _TAG_A, n)


def derive_b(b_seed: bytes, n: int) -> np.ndarray:
    """The challenge's right matrix ``B`` (n x n, int8, entries in [-8, 7]) from its ``b_seed``."""
    return _derive(b_seed, _TAG_B, n)


def derive_a_rows(seed: bytes, n: int, rows: Iterable[int]) -> np.ndarray:
    """Rows ``rows`` of ``A`` without deriving the rest: O(n) per row (PCG64 jump-ahead)."""
    words_per_row = -(-n // 8)
    rows = list(rows)
    out = np.empty((len(rows), n), dtype=np.int8)
    bit_gen, position = _bit_generator(seed, _TAG_A), 0  # position: rows already drawn
    for k in sorted(range(len(rows)), key=rows.__getitem__):
        i = rows[k]
        if not 0 <= i < n:
            raise ChallengeError(f"row index {i} out of range [0, {n})")
        if i < position:  # a repeated index: start again from the beginning
            bit_gen, position = _bit_generator(seed, _TAG_A), 0
        bit_gen.advance((i - position) * words_per_row)
        out[k] = _rows_from_words(bit_gen.random_raw(words_per_row), 1, n)[0]
        position = i + 1
    return out


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``a @ b`` for challenge matrices, as int32, computed with a float32 BLAS GEMM.

    Exact because every partial sum is an integer of magnitude <= 64 n <= 2^20 < 2^24."""
    n = a.shape[1]
    if n > MAX_N:
        raise ChallengeError(f"inner dimension {n} exceeds MAX_N={MAX_N}")
    return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int32)


def compute_product(seed: bytes, n: int, b_seed: bytes | None = None) -> np.ndarray:
    """What an honest CPU provider computes: ``derive_a(seed) @ derive_b(b_seed)`` as int32
    (``b_seed`` defaults to ``seed``, as in :class:`Challenge`)."""
    return product(derive_a(seed, n), derive_b(seed if b_seed is None else b_seed, n))


# --------------------------------------------------------------------------------------------
# Merkle commitment over rows
# --------------------------------------------------------------------------------------------


def row_bytes(row: np.ndarray | Sequence[int]) -> bytes:
    """Canonical encoding of a row of ``C``: int32 little-endian."""
    return np.asarray(row, dtype="<i4").tobytes()


def row_leaf(index: int, row: np.ndarray | Sequence[int]) -> bytes:
    """Leaf hash: ``sha256(0x00 || uint32_be(index) || int32_le(row))`` (0x00 separates leaves
    from inner nodes, the index binds the row to its position).

    SHA-256, not keccak: this tree never reaches the chain (a row cannot be recomputed on chain at
    any useful n), and hashlib's SHA-256 runs at ~2 GB/s with the CPU's SHA extensions against
    ~0.4 GB/s for keccak in Python -- the provider's commitment and the validator's proof checks
    are 5-15x cheaper."""
    return hashlib.sha256(_LEAF_PREFIX + index.to_bytes(4, "big") + row_bytes(row)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Inner node: ``sha256(0x01 || left || right)`` (ordered: position matters)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class MerkleTree:
    """Binary Merkle tree over the rows of ``C``. At a level with an odd number of nodes the last
    node is carried up unchanged (no duplication), so the shape depends only on ``n``."""

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise ChallengeError("a Merkle tree needs at least one leaf")
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            self.levels.append(above)

    @classmethod
    def from_matrix(cls, c: np.ndarray) -> MerkleTree:
        """Tree over the rows of ``c`` (any integer dtype; encoded as int32 LE)."""
        c32 = np.ascontiguousarray(c, dtype="<i4")
        return cls([row_leaf(i, c32[i]) for i in range(c32.shape[0])])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from the leaf up (levels where the node is carried up contribute none)."""
        if not 0 <= index < len(self.levels[0]):
            raise ChallengeError(f"row index {index} out of range [0, {len(self.levels[0])})")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def merkle_root(c: np.ndarray) -> bytes:
    """Commitment to ``C``: the root of :class:`MerkleTree` over its rows."""
    return MerkleTree.from_matrix(c).root


def verify_proof(
    root: bytes, n: int, index: int, row: Sequence[int] | np.ndarray, proof: Sequence[bytes]
) -> bool:
    """True when ``row`` is row ``index`` of the n-row matrix committed to by ``root``."""
    if not 0 <= index < n:
        return False
    node = row_leaf(index, row)
    width, pos, used = n, index, 0
    while width > 1:
        sibling = pos ^ 1
        if sibling < width:
            if used >= len(proof):
                return False
            node = node_hash(node, proof[used]) if pos % 2 == 0 else node_hash(proof[used], node)
            used += 1
        pos //= 2
        width = (width + 1) // 2
    return used == len(proof) and node == root


# --------------------------------------------------------------------------------------------
# Verdicts and checks
# --------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """Outcome of checking one answer.

    ``escape_probability`` bounds the chance that a cheating provider would have passed this check:
    ``f^s + p^-k`` for ``s`` sampled rows checked by ``k`` projections (``f`` =
    ``assumed_correct_fraction``), ``(1/p)^k`` for ``k`` Freivalds rounds on the full product, their
    product when both ran (the draws are independent). It is 1.0 when nothing was checked, 0.0 when
    the answer failed. ``freivalds_rounds`` counts the random vectors used (projections included)."""

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

    def to_json(self) -> dict:
        return asdict(self)


def escape_bound_rows(correct_fraction: float, samples: int) -> float:
    """Upper bound ``f^s`` on the chance that ``s`` distinct uniformly sampled rows all hit the
    correct ones when only a fraction ``f`` of the committed rows is correct (sampling without
    replacement gives ``C(fn, s)/C(n, s)``, which is <= ``f^s``)."""
    if not 0.0 <= correct_fraction <= 1.0:
        raise ChallengeError("correct_fraction must be in [0, 1]")
    return float(correct_fraction**samples)


def escape_bound_freivalds(rounds: int, p: int = PRIME) -> float:
    """Upper bound ``(1/p)^k`` on the chance that a wrong ``C`` passes ``k`` Freivalds rounds."""
    return float((1.0 / p) ** rounds)


def check_deadline(challenge: Challenge, elapsed_s: float) -> Verdict | None:
    """A failing :class:`Verdict` when the answer came after the deadline, else ``None``."""
    if elapsed_s > challenge.deadline_s:
        return Verdict(
            ok=False,
            reason=f"late: answered after {elapsed_s:.3f} s, deadline {challenge.deadline_s:.3f} s",
            escape_probability=0.0,
            check_seconds=0.0,
            elapsed_s=elapsed_s,
            deadline_s=challenge.deadline_s,
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
            raise ChallengeError(f"rounds must be in [1, 64], got {rounds!r}")
        if not 2 <= p <= PRIME:
            raise ChallengeError(f"p must be a prime in [2, {PRIME}]")
        rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
        self.b_seed, self.n, self.rounds, self.p = bytes(b_seed), n, rounds, p
        self.r = rng.integers(0, p, size=(n, rounds), dtype=np.int64)
        b = derive_b(self.b_seed, n) if b is None else b
        if b.shape != (n, n):
            raise ChallengeError(f"b has shape {b.shape}, expected ({n}, {n})")
        self.br = _matmul_mod(b, self.r, ENTRY_ABS_MAX, p)

    def project(self, rows: np.ndarray, bound: int) -> np.ndarray:
        """``rows @ r mod p`` for integer rows with entries of magnitude at most ``bound``."""
        return _matmul_mod(rows, self.r, bound, self.p)

    def expected(self, a_rows: np.ndarray) -> np.ndarray:
        """``a_rows @ (B r) mod p``: the projections the true rows ``a_rows @ B`` must have."""
        return _matmul_mod(a_rows, self.br, ENTRY_ABS_MAX, self.p)


class ProjectionKeys:
    """One :class:`ProjectionKey` per ``(b_seed, n)``, built on first use and kept for ``keep`` keys
    (the validator's cache across one epoch's challenges; thread-safe)."""

    def __init__(self, rounds: int = DEFAULT_PROJECTIONS, keep: int = 4):
        self.rounds, self.keep = rounds, keep
        self._keys: dict[tuple[bytes, int], ProjectionKey] = {}
        self._lock = threading.Lock()

    def for_challenge(self, challenge: Challenge) -> ProjectionKey:
        ident = (bytes(challenge.b_seed), challenge.n)
        with self._lock:  # built under the lock: concurrent probes of one epoch build it once
            key = self._keys.get(ident)
            if key is None:
                key = ProjectionKey(ident[0], ident[1], self.rounds)
                self._keys[ident] = key
                while len(self._keys) > self.keep:
                    del self._keys[next(iter(self._keys))]
            return key


def sample_rows(n: int, samples: int, rng: np.random.Generator | None = None) -> list[int]:
    """``min(samples, n)`` distinct row indices, uniform, from the validator's own randomness."""
    rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    k = min(samples, n)
    return sorted(int(i) for i in rng.choice(n, size=k, replace=False))


def check_rows(
    challenge: Challenge,
    root: bytes,
    openings: Mapping[int, tuple[Sequence[int], Sequence[bytes]]],
    rows: Sequence[int],
    *,
    key: ProjectionKey | None = None,
    b: np.ndarray | None = None,
    assumed_correct_fraction: float = DEFAULT_ASSUMED_CORRECT_FRACTION,
) -> Verdict:
    """Check the provider's openings ``{row: (values, proof)}`` of the sampled ``rows`` against
    ``root`` and, through ``key``'s secret projections, against the true rows ``a_i @ B``.

    Cost with a ``key`` built for this challenge's ``b_seed`` (the validator's per-epoch
    :class:`ProjectionKey`): O(s n) arithmetic plus the s Merkle proofs. Without one, a fresh key is
    built first (O(n^2): derive ``B`` -- skipped when ``b`` is passed -- and project it)."""
    started = time.perf_counter()
    n = challenge.n
    if key is None:
        key = ProjectionKey(challenge.b_seed, n, b=b)
    elif key.b_seed != bytes(challenge.b_seed) or key.n != n:
        raise ChallengeError("projection key was built for another b_seed or n than this challenge's")

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
        )

    missing = [i for i in rows if i not in openings]
    if missing:
        return fail(f"provider did not open requested row(s) {missing[:8]}", missing)
    try:
        values = np.array([openings[i][0] for i in rows], dtype=np.int64).reshape(len(rows), n)
    except (TypeError, ValueError, OverflowError):
        values = None  # some row is malformed: find which one below
    if values is None:
        for i in rows:
            try:
                row = np.asarray(openings[i][0], dtype=np.int64)
            except (TypeError, ValueError, OverflowError):
                return fail(f"opened row {i} is not a list of integers", [i])
            if row.shape != (n,):
                return fail(f"opened row {i} does not have {n} entries", [i])
        return fail("opened rows are malformed")
    limit = product_bound(n)
    out_of_range = [i for k, i in enumerate(rows) if np.abs(values[k]).max(initial=0) > limit]
    if out_of_range:
        bad = out_of_range[:8]
        return fail(f"opened row(s) {bad} have an entry outside [-{limit}, {limit}] (wrong product)", bad)
    values = values.astype(np.int32)
    bad_proof = [i for k, i in enumerate(rows) if not verify_proof(root, n, i, values[k], openings[i][1])]
    if bad_proof:
        return fail(f"Merkle proof of row(s) {bad_proof[:8]} does not match the committed root", bad_proof)
    got = key.project(values, limit)
    want = key.expected(derive_a_rows(challenge.seed, n, rows))
    wrong = [i for k, i in enumerate(rows) if not np.array_equal(got[k], want[k])]
    if wrong:
        return fail(f"row(s) {wrong[:8]} differ from A @ B (wrong product)", wrong)
    escape = escape_bound_rows(assumed_correct_fraction, len(rows)) + escape_bound_freivalds(
        key.rounds, key.p
    )
    return Verdict(
        ok=True,
        reason=f"{len(rows)} sampled row(s) committed and correct ({key.rounds} secret projections)",
        escape_probability=min(1.0, escape),
        check_seconds=time.perf_counter() - started,
        samples=len(rows),
        freivalds_rounds=key.rounds,
        assumed_correct_fraction=assumed_correct_fraction,
        root="0x" + root.hex(),
    )


def _matmul_mod(m: np.ndarray, v: np.ndarray, bound: int, p: int = PRIME, block: int = 256) -> np.ndarray:
    """``(m @ v) mod p`` exactly, with float64 BLAS: ``|m| <= bound`` and ``0 <= v < p``.

    ``v`` is split into limbs small enough that every dot product stays below 2^53; ``m`` is
    converted to float64 a block of rows at a time (no n x n float64 temporary)."""
    n = m.shape[1]
    limb_bits = 52 - max(1, int(bound).bit_length()) - max(1, n.bit_length())
    if limb_bits < 1:
        raise ChallengeError("matrix too large for the exact float64 Freivalds product")
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
    challenge: Challenge,
    c: np.ndarray,
    rounds: int,
    *,
    root: bytes | None = None,
    rng: np.random.Generator | None = None,
    p: int = PRIME,
) -> Verdict:
    """Freivalds' check of a full ``C``: ``A (B R) == C R (mod p)`` for an n x k matrix ``R`` of
    independent uniform vectors in F_p^n. When ``root`` is given ``C`` must also match it.
    Cost O(k n^2) (plus O(n^2) hashing for the root). Escape: ``<= (1/p)^k``. ``p`` must be a
    prime > 128 n for that bound to hold for every wrong ``C``; tests pass a small prime to measure
    the escape rate empirically (then only differences that are not multiples of p are caught)."""
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
        )

    c = np.asarray(c)
    if c.shape != (n, n):
        return fail(f"product has shape {c.shape}, expected ({n}, {n})")
    if not np.issubdtype(c.dtype, np.integer):
        return fail(f"product must hold integers, got dtype {c.dtype}")
    limit = product_bound(n)
    if c.size and (int(c.min()) < -limit or int(c.max()) > limit):
        return fail(f"product has an entry outside [-{limit}, {limit}] (wrong product)")
    if root is not None and merkle_root(c) != root:
        return fail("full product does not match the committed root")
    key = ProjectionKey(challenge.b_seed, n, rounds, rng=rng, p=p)  # the same R, B R as the row check
    abr = key.expected(derive_a(challenge.seed, n))
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
    )
