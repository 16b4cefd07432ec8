"""Checkable matrix-product challenges sized to a claimed speed: pure functions shared by the
validator and the provider.

Protocol (one challenge)
------------------------
1. The validator issues ``Challenge(seed, n, precision, deadline_s, b_seed, rows, group)``: multiply
   ``A`` (``rows x n``) by ``B`` (``n x n``). ``seed`` is 32 fresh random bytes per challenge;
   ``b_seed`` is drawn once per validator and epoch and shared by its challenges of that epoch.
   The work is ``2 rows n^2`` flops and is SIZED TO THE CLAIM (:func:`new_challenge`):
   ``rows = ceil(claimed_flops * target_s / (2 n^2))``, so a provider working at the speed it
   claims needs ``target_s`` (default 1 s) of compute; the deadline is
   ``deadline_s = work / claimed_flops * tolerance + allowance_s`` (:func:`deadline_for`). Network
   latency and the per-challenge fixed costs (deriving ``B``, O(n^2)) are then noise next to the
   work, and a provider claiming ``k`` times its real speed needs ``k * target_s``: it is late for
   every ``k > tolerance + (allowance_s - fixed costs) / target_s`` (the TOLERATED INFLATION,
   :func:`tolerated_inflation`; 1.25 + 0.25 / 1 = 1.5 at the defaults, measured in
   ``benchmarks/RESULTS.md``). The figure attested is what the validator measured,
   ``min(claimed, work / wall time from sending the challenge to receiving the root)``
   (:func:`attested_flops`), never the claim itself.
2. Both sides derive ``A`` (from ``seed``) and ``B`` (from ``b_seed``), entries in [-8, 7], with the
   counter-based generator of :mod:`oracle.mixer`: entry ``(r, j)`` is a nibble of a keyed 32-bit
   mix of the counter ``r * ceil(n/8) + j // 8`` under a key ``keccak256(tag || seed)``. It gives
   the same bits in NumPy and in PyTorch (tested), so a GPU provider derives its blocks of ``A`` on
   the device, and the validator derives any single row of ``A`` in O(n). Sharing ``B`` across an
   epoch shares no work between providers (each ``A_i B`` is its own product; a ``B`` known early
   does not help with an ``A_i`` that is not); it lets the validator compute ``B R`` (4a) once per
   epoch instead of once per challenge.
3. The provider computes ``C = A @ B`` block by block and keeps only a digest per row: 8 bytes of
   a keyed non-linear integer hash computed where ``C`` is (on the device; :func:`oracle.mixer.
   row_digests`), then answers, before the deadline, with the root of a SHA-256 Merkle tree whose
   leaf ``g`` holds the digests of rows ``g*group .. (g+1)*group - 1`` (:class:`RowCommitment`;
   leaves :func:`row_leaf` over the digests, so the host hashes ``rows / group`` leaves, not
   ``rows * n`` entries). Every entry of ``C`` is an integer with ``|C_ij| <= 64 n``, so the product
   is EXACT in every supported precision as long as the accumulator is fp32 or wider (fp32 holds
   every integer up to 2^24 and 64 n <= 2^20 for n <= MAX_N; every partial sum is bounded the same
   way); fp16/bf16/tf32 hold [-8, 7] exactly. The committed digests are therefore the same for
   every honest provider, whatever its hardware. To open row ``i`` the provider recomputes
   ``A_i B`` (O(n^2); it need not keep ``C``) and sends it with the digests of its group and the
   group's Merkle proof.
4. The validator checks cheaply:

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from oracle import mixer

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
"""Largest accepted inner dimension (B as float32 is 1 GiB at this size)."""
MAX_ROWS = 1 << 22
"""Most rows of ``A`` one challenge may ask for (the provider keeps 8 bytes of digest per row)."""
MAX_GROUP = 1024
DEFAULT_GROUP = 64
"""Rows per Merkle leaf: the host hashes ``rows / 64`` leaves; an opening carries 512 bytes of digests."""

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "int8")
"""Precisions a challenge may name. The product is exact in all of them (see module doc)."""

DEFAULT_TARGET_S = 1.0
"""Compute time a challenge asks for at the claimed speed."""
DEFAULT_TOLERANCE = 1.25
"""Deadline = work / claimed speed x this + the allowance."""
DEFAULT_ALLOWANCE_S = 0.25
"""Seconds added to every deadline for the network round trip and the fixed per-challenge costs."""
DEFAULT_SAMPLES = 16
DEFAULT_PROJECTIONS = 2
"""Random projections ``k`` in the sampled-row check: a sampled wrong row passes with ``<= p^-k``."""
DEFAULT_ASSUMED_CORRECT_FRACTION = 0.5
"""Fraction ``f`` stated with a verdict's single escape probability (the table lists others)."""
DIGEST_GUESS = 2.0 ** (-8 * mixer.DIGEST_BYTES)
"""Chance that a digest committed without computing its row matches the true row's (2^-64)."""

_TAG_A = b"oracle.challenge.A"
_TAG_B = b"oracle.challenge.B"
_TAG_DIGEST = b"oracle.challenge.digest"
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ChallengeError(ValueError):
    """A challenge, commitment or opening is malformed (the message says which field and why)."""


# --------------------------------------------------------------------------------------------
# Challenge, work and deadline
# --------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Challenge:
    """What a validator asks: multiply ``A`` (``rows x n``, from ``seed``) by ``B`` (``n x n``, from
    ``b_seed``) and commit to the row digests (``group`` rows per leaf) within ``deadline_s``."""

    seed: bytes
    n: int
    precision: str
    deadline_s: float
    b_seed: bytes | None = None
    """Seed of ``B``, shared by the challenges a validator sends in one epoch; ``None`` = ``seed``."""
    rows: int | None = None
    """Rows of ``A`` and ``C``; ``None`` = ``n`` (a square product)."""
    group: int = DEFAULT_GROUP

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes | bytearray) or len(self.seed) != 32:
            raise ChallengeError("seed must be 32 bytes (a bytes32, e.g. secrets.token_bytes(32))")
        if self.b_seed is None:
            object.__setattr__(self, "b_seed", bytes(self.seed))
        elif not isinstance(self.b_seed, bytes | bytearray) or len(self.b_seed) != 32:
            raise ChallengeError("b_seed must be 32 bytes (a bytes32, e.g. secrets.token_bytes(32))")
        if not _is_int(self.n) or not 1 <= self.n <= MAX_N:
            raise ChallengeError(f"n must be an integer in [1, {MAX_N}], got {self.n!r}")
        if self.rows is None:
            object.__setattr__(self, "rows", self.n)
        if not _is_int(self.rows) or not 1 <= self.rows <= MAX_ROWS:
            raise ChallengeError(f"rows must be an integer in [1, {MAX_ROWS}], got {self.rows!r}")
        if self.rows * mixer.words_per_row(self.n) > mixer.MAX_COUNTERS:
            raise ChallengeError(f"rows x ceil(n/8) must be at most 2^32 (rows={self.rows}, n={self.n})")
        if not _is_int(self.group) or not 1 <= self.group <= MAX_GROUP:
            raise ChallengeError(f"group must be an integer in [1, {MAX_GROUP}], got {self.group!r}")
        if self.precision not in PRECISIONS:
            raise ChallengeError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not (isinstance(self.deadline_s, int | float) and math.isfinite(self.deadline_s)):
            raise ChallengeError(f"deadline_s must be a finite number of seconds, got {self.deadline_s!r}")
        if self.deadline_s <= 0:
            raise ChallengeError(f"deadline_s must be positive, got {self.deadline_s!r}")

    @property
    def flops(self) -> int:
        """Arithmetic work of the product: 2 rows n^2 (one multiply and one add per term)."""
        return 2 * self.rows * self.n**2

    @property
    def groups(self) -> int:
        """Leaves of the commitment: ``ceil(rows / group)``."""
        return -(-self.rows // self.group)

    def to_json(self) -> dict:
        """JSON-ready form: seeds as ``0x`` hex, ``n``, ``rows``, ``group``, ``precision``, ``deadline_s``."""
        return {
            "seed": "0x" + bytes(self.seed).hex(),
            "b_seed": "0x" + bytes(self.b_seed).hex(),
            "n": self.n,
            "rows": self.rows,
            "group": self.group,
            "precision": self.precision,
            "deadline_s": float(self.deadline_s),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Challenge:
        """Parse :meth:`to_json` output (``b_seed``, ``rows`` and ``group`` may be left out: then
        ``seed``, ``n`` and :data:`DEFAULT_GROUP`); raises :class:`ChallengeError` on any malformed field."""
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
            rows=data.get("rows"),
            group=data.get("group", DEFAULT_GROUP),
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


def rows_for(n: int, claimed_flops: float, target_s: float = DEFAULT_TARGET_S) -> int:
    """Rows of ``A`` that take ``target_s`` at ``claimed_flops``: ``ceil(claimed * target / (2 n^2))``,
    at least 1, at most what one challenge allows (:data:`MAX_ROWS`, 2^32 counters)."""
    if not claimed_flops > 0 or not math.isfinite(claimed_flops):
        raise ChallengeError(f"claimed_flops must be a positive finite number, got {claimed_flops!r}")
    if not target_s > 0:
        raise ChallengeError(f"target_s must be positive, got {target_s!r}")
    cap = min(MAX_ROWS, mixer.MAX_COUNTERS // mixer.words_per_row(n))
    return int(max(1, min(cap, math.ceil(claimed_flops * target_s / (2.0 * n * n)))))


def deadline_for(
    work_flops: float,
    claimed_flops: float,
    tolerance: float = DEFAULT_TOLERANCE,
    allowance_s: float = DEFAULT_ALLOWANCE_S,
) -> float:
    """Deadline for ``work_flops`` of work from a provider claiming ``claimed_flops`` (FLOP/s at the
    challenge precision): ``work / claimed * tolerance + allowance_s``."""
    if not claimed_flops > 0:
        raise ChallengeError(f"claimed_flops must be positive, got {claimed_flops!r}")
    if allowance_s < 0 or tolerance < 1:
        raise ChallengeError("allowance_s must be >= 0 and tolerance >= 1")
    return work_flops / claimed_flops * tolerance + allowance_s


def tolerated_inflation(
    target_s: float = DEFAULT_TARGET_S,
    tolerance: float = DEFAULT_TOLERANCE,
    allowance_s: float = DEFAULT_ALLOWANCE_S,
    fixed_s: float = 0.0,
) -> float:
    """Largest factor ``k`` by which a provider can overstate its speed and still answer in time:
    it needs ``k target_s + fixed_s`` (``fixed_s``: its round trip and per-challenge fixed costs)
    against a deadline of ``tolerance target_s + allowance_s``."""
    return tolerance + (allowance_s - fixed_s) / target_s


def attested_flops(challenge: Challenge, wall_s: float, claimed_flops: float) -> float:
    """The speed a passed challenge proves: ``work / wall_s`` (the validator's own clock, from sending
    the challenge to receiving the root), never more than claimed."""
    if not wall_s > 0:
        return 0.0
    return float(min(claimed_flops, challenge.flops / wall_s))


def new_challenge(
    n: int,
    precision: str,
    claimed_flops: float,
    *,
    target_s: float = DEFAULT_TARGET_S,
    rows: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    allowance_s: float = DEFAULT_ALLOWANCE_S,
    seed: bytes | None = None,
    b_seed: bytes | None = None,
    group: int = DEFAULT_GROUP,
) -> Challenge:
    """A fresh challenge (random ``seed`` from ``secrets``) sized to the claim: :func:`rows_for` rows
    (or ``rows``) and the deadline of :func:`deadline_for`. Pass the epoch's ``b_seed`` to share ``B``
    (and the validator's :class:`ProjectionKey`)."""
    rows = rows_for(n, claimed_flops, target_s) if rows is None else rows
    return Challenge(
        seed=secrets.token_bytes(32) if seed is None else seed,
        n=n,
        precision=precision,
        deadline_s=deadline_for(2.0 * rows * n * n, claimed_flops, tolerance, allowance_s),
        b_seed=b_seed,
        rows=rows,
        group=group,
    )


# --------------------------------------------------------------------------------------------
# Deterministic matrices (counter-based: oracle.mixer) and the product
# --------------------------------------------------------------------------------------------


def a_keys(seed: bytes) -> tuple[int, ...]:
    """Generator key of ``A`` (:func:`oracle.mixer.key_words` of the ``A`` tag and ``seed``)."""
    return mixer.key_words(_TAG_A, seed)


def b_keys(b_seed: bytes) -> tuple[int, ...]:
    """Generator key of ``B``."""
    return mixer.key_words(_TAG_B, b_seed)


def digest_keys(seed: bytes) -> tuple[int, ...]:
    """Key words of the row digests of the challenge with this ``seed`` (two lanes of three)."""
    return mixer.key_words(_TAG_DIGEST, seed, mixer.ROUNDS * mixer.LANES)


def derive_a(seed: bytes, n: int, rows: int | None = None) -> np.ndarray:
    """The challenge's left matrix ``A`` (``rows x n``, default square; int8, entries in [-8, 7])."""
    return mixer.derive_rows(a_keys(seed), n, 0, n if rows is None else rows)


def derive_a_block(seed: bytes, n: int, first_row: int, last_row: int) -> np.ndarray:
    """Rows ``first_row .. last_row - 1`` of ``A``."""
    return mixer.derive_rows(a_keys(seed), n, first_row, last_row)


def derive_b(b_seed: bytes, n: int) -> np.ndarray:
    """The challenge's right matrix ``B`` (n x n, int8, entries in [-8, 7]) from its ``b_seed``."""
    return mixer.derive_rows(b_keys(b_seed), n, 0, n)


def derive_a_rows(seed: bytes, n: int, rows: Iterable[int]) -> np.ndarray:
    """Rows ``rows`` of ``A`` (any order, repeats allowed) without deriving the rest: O(n) each."""
    rows = [int(i) for i in rows]
    if any(i < 0 for i in rows):
        raise ChallengeError(f"row index {min(rows)} out of range")
    return mixer.derive_rows_at(a_keys(seed), n, rows)


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``a @ b`` for challenge matrices, as int32, computed with a float32 BLAS GEMM.

    Exact because every partial sum is an integer of magnitude <= 64 n <= 2^20 < 2^24."""
    n = a.shape[1]
    if n > MAX_N:
        raise ChallengeError(f"inner dimension {n} exceeds MAX_N={MAX_N}")
    return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int32)


def compute_product(seed: bytes, n: int, b_seed: bytes | None = None, rows: int | None = None) -> np.ndarray:
    """The whole ``C = A @ B`` as int32 (small sizes; ``b_seed`` defaults to ``seed``, as in
    :class:`Challenge`). A provider commits block by block instead (:func:`compute_commitment`)."""
    return product(derive_a(seed, n, rows), derive_b(seed if b_seed is None else b_seed, n))


def product_rows(challenge: Challenge, rows: Sequence[int], b: np.ndarray | None = None) -> np.ndarray:
    """Rows ``rows`` of ``C`` recomputed (O(n^2) each): what a provider sends to open them."""
    for i in rows:
        if not 0 <= i < challenge.rows:
            raise ChallengeError(f"row index {i} out of range [0, {challenge.rows})")
    b = derive_b(challenge.b_seed, challenge.n) if b is None else b
    return product(derive_a_rows(challenge.seed, challenge.n, rows), b)


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
    """Root of :class:`MerkleTree` over the rows of ``c`` (a generic row tree; a challenge's own
    commitment is :class:`RowCommitment`, over row digests)."""
    return MerkleTree.from_matrix(c).root


def verify_proof(
    root: bytes, n: int, index: int, row: Sequence[int] | np.ndarray, proof: Sequence[bytes]
) -> bool:
    """True when ``row`` is leaf ``index`` of the n-leaf tree committed to by ``root``."""
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
# The challenge's commitment: row digests, grouped into SHA-256 leaves
# --------------------------------------------------------------------------------------------


def column_keys(challenge: Challenge) -> np.ndarray:
    """The digest's column keys of this challenge (``LANES x n`` uint32, O(n))."""
    return mixer.column_keys(digest_keys(challenge.seed), challenge.n)


def group_words(digests: np.ndarray) -> np.ndarray:
    """A group's digests (``k x LANES`` uint32) as the int32 words :func:`row_leaf` hashes."""
    return np.ascontiguousarray(digests, dtype="<u4").reshape(-1).view("<i4")


class RowCommitment:
    """A provider's commitment to ``C``: one digest per row (``rows x LANES`` uint32) and the Merkle
    tree whose leaf ``g`` is ``row_leaf(g, digests of rows g*group .. (g+1)*group - 1)``."""

    def __init__(self, digests: np.ndarray, group: int):
        digests = np.ascontiguousarray(digests, dtype=np.uint32)
        if digests.ndim != 2 or digests.shape[1] != mixer.LANES or not digests.shape[0]:
            raise ChallengeError(f"digests must be rows x {mixer.LANES}, got shape {digests.shape}")
        self.digests, self.group = digests, group
        self.tree = MerkleTree(
            [
                row_leaf(g, group_words(digests[r0 : r0 + group]))
                for g, r0 in enumerate(range(0, len(digests), group))
            ]
        )

    @property
    def root(self) -> bytes:
        return self.tree.root

    def opening(self, row: int) -> tuple[bytes, list[bytes]]:
        """``(digests of the row's group as bytes, Merkle proof of the group)``."""
        if not 0 <= row < len(self.digests):
            raise ChallengeError(f"row index {row} out of range [0, {len(self.digests)})")
        g = row // self.group
        block = self.digests[g * self.group : (g + 1) * self.group]
        return mixer.digest_bytes(block), self.tree.proof(g)


def commit_product(challenge: Challenge, c: np.ndarray) -> RowCommitment:
    """The commitment to a whole ``C`` (``rows x n``)."""
    return RowCommitment(mixer.row_digests(c, column_keys(challenge)), challenge.group)


def commitment_root(challenge: Challenge, c: np.ndarray) -> bytes:
    """Root of :func:`commit_product`."""
    return commit_product(challenge, c).root


BlockHook = Callable[[int, np.ndarray], np.ndarray]
"""``(first_row, C block) -> block``: what a provider commits instead of the true block (tests and
fault drills; the identity for an honest provider)."""


def compute_commitment(
    challenge: Challenge,
    *,
    block_rows: int | None = None,
    hook: BlockHook | None = None,
    b: np.ndarray | None = None,
    pace: Callable[[int], None] | None = None,
) -> RowCommitment:
    """An honest CPU provider's whole job: derive ``B``, then for each block of rows derive ``A``'s
    block, multiply (exact float32 BLAS), digest the rows; never holds more than one block of ``C``.
    ``pace(flops)`` is called after each block (a provider standing in for slower hardware)."""
    n, rows = challenge.n, challenge.rows
    block_rows = max(1, block_rows or max(256, n))
    b32 = (derive_b(challenge.b_seed, n) if b is None else b).astype(np.float32)
    keys = column_keys(challenge)
    digests = np.empty((rows, mixer.LANES), dtype=np.uint32)
    for r0 in range(0, rows, block_rows):
        r1 = min(rows, r0 + block_rows)
        c = (derive_a_block(challenge.seed, n, r0, r1).astype(np.float32) @ b32).astype(np.int32)
        if hook is not None:
            c = hook(r0, c)
        digests[r0:r1] = mixer.row_digests(c, keys)
        if pace is not None:
            pace(2 * (r1 - r0) * n * n)
    return RowCommitment(digests, challenge.group)


def verify_opening(
    challenge: Challenge,
    root: bytes,
    index: int,
    values: np.ndarray,
    group_digests: bytes,
    proof: Sequence[bytes],
    keys: np.ndarray,
) -> str | None:
    """Why the opening of row ``index`` does not match the commitment ``root``, or ``None`` when it
    does (``values`` int32, range-checked by the caller; ``keys``: :func:`column_keys`)."""
    g, slot = divmod(index, challenge.group)
    size = min(challenge.group, challenge.rows - g * challenge.group)
    if not isinstance(group_digests, bytes | bytearray) or len(group_digests) != size * mixer.DIGEST_BYTES:
        return f"row {index}: its group's digests must be {size * mixer.DIGEST_BYTES} bytes"
    digests = np.frombuffer(bytes(group_digests), dtype="<u4").reshape(size, mixer.LANES)
    if not np.array_equal(mixer.row_digests(values.reshape(1, -1), keys)[0], digests[slot]):
        return f"row {index}: its digest is not the committed one"
    if not verify_proof(root, challenge.groups, g, group_words(digests), proof):
        return f"row {index}: the Merkle proof of its group does not match the committed root"
    return None


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
    the same bound for other ``f`` (:func:`escape_table`). ``attested_flops`` is the speed the
    challenge proves (:func:`attested_flops`), 0 on failure."""

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
    unreachable: bool = False
    """No connection could be made for the challenge: nothing was proven, not a fault."""

    def to_json(self) -> dict:
        return asdict(self)


def escape_bound_rows(correct_fraction: float, samples: int, rows: int | None = None) -> float:
    """Chance that ``s`` distinct uniformly sampled rows all hit rows that were done when only a
    fraction ``f`` was: exactly ``C(floor(f rows), s) / C(rows, s)`` when ``rows`` is given, else the
    bound ``f^s`` (which the exact value never exceeds)."""
    if not 0.0 <= correct_fraction <= 1.0:
        raise ChallengeError("correct_fraction must be in [0, 1]")
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
    tail = escape_bound_freivalds(rounds, p) + DIGEST_GUESS
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


def sample_rows(rows: int, samples: int, rng: np.random.Generator | None = None) -> list[int]:
    """``min(samples, rows)`` distinct row indices, uniform, from the validator's own randomness."""
    rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    k = min(samples, rows)
    return sorted(int(i) for i in rng.choice(rows, size=k, replace=False))


Opening = tuple[Sequence[int] | np.ndarray, bytes, Sequence[bytes]]
"""An opened row: ``(values, digests of its group as bytes, Merkle proof of the group)``."""


def check_rows(
    challenge: Challenge,
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
    limit = product_bound(n)
    out_of_range = [i for k, i in enumerate(rows) if np.abs(values[k]).max(initial=0) > limit]
    if out_of_range:
        bad = out_of_range[:8]
        return fail(f"opened row(s) {bad} have an entry outside [-{limit}, {limit}] (wrong product)", bad)
    values = values.astype(np.int32)
    keys = column_keys(challenge)
    for k, i in enumerate(rows):
        _, group_digests, proof = openings[i]
        problem = verify_opening(challenge, root, i, values[k], group_digests, proof, keys)
        if problem is not None:
            return fail(problem, [i])
    got = key.project(values, limit)
    want = key.expected(derive_a_rows(challenge.seed, n, rows))
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
    """Freivalds' check of a full ``C`` (``rows x n``): ``A (B R) == C R (mod p)`` for an n x k
    matrix ``R`` of independent uniform vectors in F_p^n. When ``root`` is given ``C`` must also
    match it (:func:`commitment_root`). Cost O(k rows n) plus the digests. Escape: ``<= (1/p)^k``.
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
    limit = product_bound(n)
    if c.size and (int(c.min()) < -limit or int(c.max()) > limit):
        return fail(f"product has an entry outside [-{limit}, {limit}] (wrong product)")
    if root is not None and commitment_root(challenge, c) != root:
        return fail("full product does not match the committed root")
    key = ProjectionKey(challenge.b_seed, n, rounds, rng=rng, p=p)  # the same R, B R as the row check
    abr = key.expected(derive_a(challenge.seed, n, challenge.rows))
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
