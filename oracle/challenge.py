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
   ``benchmarks/RESULTS.md``). The figure attested is what the passed challenge proves,
   ``min(claimed, work / deadline_s)`` (:func:`proven_flops`: the claim / 1.5 at the defaults, so
   a provider inflating by up to the tolerated factor is still attested at or below its real
   speed), never the claim itself; each validator also reports what it measured on its own clock,
   ``work / wall time`` (:func:`attested_flops`), which k validators could not sign identically.
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
   leaf ``g`` holds the digests of rows ``g*group .. (g+1)*group - 1`` (:class:`oracle.commitment.RowCommitment`;
   leaves :func:`row_leaf` over the digests, so the host hashes ``rows / group`` leaves, not
   ``rows * n`` entries). Every entry of ``C`` is an integer with ``|C_ij| <= 64 n``, so the product
   is EXACT in every supported precision as long as the accumulator is fp32 or wider (fp32 holds
   every integer up to 2^24 and 64 n <= 2^20 for n <= MAX_N; every partial sum is bounded the same
   way); fp16/bf16/tf32 hold [-8, 7] exactly. The committed digests are therefore the same for
   every honest provider, whatever its hardware. To open row ``i`` the provider recomputes
   ``A_i B`` (O(n^2); it need not keep ``C``) and sends it with the digests of its group and the
   group's Merkle proof.
4. The validator checks cheaply, by sampled rows through secret projections or by Freivalds on
   the full product, and an answer after ``deadline_s`` fails whatever its content: the checks and
   their soundness are in :mod:`oracle.challenge_check`.

The commitment lives in :mod:`oracle.commitment`, the validator's checks in :mod:`oracle.challenge_check`.
Everything here is deterministic and side-effect free except the validator's choice of
rows / Freivalds vectors, which takes an optional ``numpy.random.Generator`` (default: fresh OS
entropy) so tests can replay it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oracle import mixer
from oracle.errors import OracleError
from oracle.merkle import MerkleTree as MerkleTree  # the row tree lives in oracle.merkle; re-exported
from oracle.merkle import merkle_root as merkle_root
from oracle.merkle import node_hash as node_hash
from oracle.merkle import row_bytes as row_bytes
from oracle.merkle import row_leaf as row_leaf
from oracle.merkle import verify_proof as verify_proof

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
DIGEST_GUESS = 2.0 ** (-8 * mixer.DIGEST_BYTES)
"""Chance that a digest committed without computing its row matches the true row's (2^-64)."""

_TAG_A = b"oracle.challenge.A"
_TAG_B = b"oracle.challenge.B"
_TAG_DIGEST = b"oracle.challenge.digest"


class ChallengeError(OracleError, ValueError):
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
    if not _is_int(n) or not 1 <= n <= MAX_N:
        raise ChallengeError(f"n must be an integer in [1, {MAX_N}], got {n!r}")
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


def proven_flops(challenge: Challenge, claimed_flops: float) -> float:
    """The speed a passed challenge proves, the same for every validator: ``work / deadline_s``
    (the answer came before the deadline, so the provider did the work at least that fast), never
    more than claimed. At the defaults it is the claim / 1.5, and a provider that overstated its
    speed by ``k <= tolerated_inflation()`` is never attested above its real speed
    (``k S T / (1.25 T + a) <= S``). This is the figure attested: k validators must sign
    byte-identical attestations, and each one's own wall time differs."""
    return float(min(claimed_flops, challenge.flops / challenge.deadline_s))


def attested_flops(challenge: Challenge, wall_s: float, claimed_flops: float) -> float:
    """The speed this validator measured: ``work / wall_s`` (its own clock, from sending the challenge
    to receiving the root), never more than claimed. Reported with each verdict; what is signed is
    :func:`proven_flops`, on which every validator agrees."""
    if not wall_s > 0:
        return 0.0
    return float(min(claimed_flops, challenge.flops / wall_s))


MAX_LEAVES = 4096
"""Leaves a challenge's tree needs at most (:func:`group_for`): the host's SHA-256 work per challenge."""


def group_for(rows: int) -> int:
    """Rows per leaf: :data:`DEFAULT_GROUP`, doubled until the tree has at most :data:`MAX_LEAVES`
    leaves (at most :data:`MAX_GROUP`): the host hashes ~8k times per challenge (about 40 ms in
    Python) instead of once per 64 rows (0.6 s at 4M rows)."""
    group = DEFAULT_GROUP
    while group < MAX_GROUP and -(-rows // group) > MAX_LEAVES:
        group *= 2
    return group


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
    group: int | None = None,
) -> Challenge:
    """A fresh challenge (random ``seed`` from ``secrets``) sized to the claim: :func:`rows_for` rows
    (or ``rows``), :func:`group_for` rows per leaf (or ``group``) and the deadline of
    :func:`deadline_for`. Pass the epoch's ``b_seed`` to share ``B`` (and the validator's
    :class:`oracle.challenge_check.ProjectionKey`)."""
    rows = rows_for(n, claimed_flops, target_s) if rows is None else rows
    group = group_for(rows) if group is None else group
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
    :class:`Challenge`). A provider commits block by block instead (:func:`oracle.commitment.compute_commitment`)."""
    return product(derive_a(seed, n, rows), derive_b(seed if b_seed is None else b_seed, n))


def product_rows(challenge: Challenge, rows: Sequence[int], b: np.ndarray | None = None) -> np.ndarray:
    """Rows ``rows`` of ``C`` recomputed (O(n^2) each): what a provider sends to open them."""
    for i in rows:
        if not 0 <= i < challenge.rows:
            raise ChallengeError(f"row index {i} out of range [0, {challenge.rows})")
    b = derive_b(challenge.b_seed, challenge.n) if b is None else b
    return product(derive_a_rows(challenge.seed, challenge.n, rows), b)
