"""Challenge derivation, Merkle commitment, row sampling and Freivalds checks (pure functions)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle import commitment as cm

SEED = bytes(range(32))
HYPO = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _challenge(n, seed=SEED, rows=None, group=4):
    return ch.Challenge(seed=seed, n=n, precision="fp32", deadline_s=10.0, rows=rows, group=group)


def _commit(seed: bytes, n: int, rows=None, group=4):
    """The full product and its commitment (``tree`` in the tests below)."""
    challenge = _challenge(n, seed, rows, group)
    c = ch.compute_product(seed, n, rows=challenge.rows)
    return c, cm.commit_product(challenge, c)


def _recommit(c, group=4, seed=SEED):
    """What a cheat commits to: its own (wrong) matrix ``c``."""
    return cm.commit_product(_challenge(c.shape[1], seed, c.shape[0], group), c)


def _openings(c, tree, rows):
    return {i: (c[i].tolist(), *tree.opening(i)) for i in rows}


def test_derived_matrices_are_deterministic_and_in_range():
    a1, a2 = ch.derive_a(SEED, 40), ch.derive_a(SEED, 40)
    assert np.array_equal(a1, a2)
    assert a1.min() >= ch.ENTRY_MIN and a1.max() <= ch.ENTRY_MAX
    assert not np.array_equal(a1, ch.derive_b(SEED, 40))
    assert not np.array_equal(a1, ch.derive_a(bytes(32), 40))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 33])
def test_single_rows_of_a_match_the_full_matrix(n):
    rows = [n - 1, 0, n // 2, n - 1]  # unsorted, repeated
    assert np.array_equal(ch.derive_a_rows(SEED, n, rows), ch.derive_a(SEED, n)[rows])


def test_product_is_exact_integer_product():
    a, b = ch.derive_a(SEED, 50), ch.derive_b(SEED, 50)
    assert np.array_equal(ch.product(a, b), a.astype(np.int64) @ b.astype(np.int64))


def test_deadline_formula():
    assert ch.deadline_for(2e9, 1e12, tolerance=2.0, allowance_s=1.0) == pytest.approx(1.0 + 2e9 / 1e12 * 2.0)
    with pytest.raises(ch.ChallengeError, match="claimed_flops"):
        ch.deadline_for(10, 0)


def test_challenge_json_round_trip_and_validation():
    c = ch.new_challenge(64, "bf16", 1e12)
    assert ch.Challenge.from_json(c.to_json()) == c
    assert len(c.seed) == 32
    with pytest.raises(ch.ChallengeError, match="precision"):
        ch.Challenge(SEED, 8, "fp8", 1.0)
    with pytest.raises(ch.ChallengeError, match="n must be"):
        ch.Challenge(SEED, 0, "fp32", 1.0)
    with pytest.raises(ch.ChallengeError, match="32 bytes"):
        ch.Challenge.from_json({"seed": "0x1234", "n": 8, "precision": "fp32", "deadline_s": 1})
    with pytest.raises(ch.ChallengeError, match="missing"):
        ch.Challenge.from_json({"seed": "0x" + "00" * 32})


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_merkle_proofs_verify_for_every_row_and_only_there(n):
    c = ch.compute_product(SEED, n)
    tree = ch.MerkleTree.from_matrix(c)
    for i in range(n):
        assert ch.verify_proof(tree.root, n, i, c[i], tree.proof(i))
        wrong = c[i].copy()
        wrong[0] += 1
        assert not ch.verify_proof(tree.root, n, i, wrong, tree.proof(i))
    if n > 1:
        assert not ch.verify_proof(tree.root, n, 1, c[0], tree.proof(0))


@pytest.mark.parametrize(("rows", "group"), [(1, 1), (5, 2), (9, 4), (64, 64), (65, 64)])
def test_every_row_opens_against_the_digest_commitment_and_only_where_it_belongs(rows, group):
    n = 7
    challenge = _challenge(n, rows=rows, group=group)
    c, tree = _commit(SEED, n, rows, group)
    keys = cm.column_keys(challenge)
    for i in range(rows):
        digests, proof = tree.opening(i)
        assert cm.verify_opening(challenge, tree.root, i, c[i], digests, proof, keys) is None
        wrong = c[i].copy()
        wrong[-1] += 1
        assert "digest" in cm.verify_opening(challenge, tree.root, i, wrong, digests, proof, keys)
    if rows > group:  # a row opened with another group's digests and proof
        other = rows - 1
        digests, proof = tree.opening(other)
        assert cm.verify_opening(challenge, tree.root, 0, c[0], digests, proof, keys) is not None


@HYPO
@given(seed=st.binary(min_size=32, max_size=32), n=st.integers(1, 24), s=st.integers(1, 24))
def test_correct_product_always_passes_both_checks(seed, n, s):
    challenge = _challenge(n, seed)
    c, tree = _commit(seed, n)
    rows = cc.sample_rows(n, s, np.random.default_rng(s))
    verdict = cc.check_rows(challenge, tree.root, _openings(c, tree, rows), rows)
    assert verdict.ok, verdict.reason
    exact = math.comb(n // 2, len(rows)) / math.comb(n, len(rows))
    assert verdict.escape_probability == pytest.approx(min(1, exact + cc.PRIME**-2 + ch.DIGEST_GUESS))
    fv = cc.freivalds_check(challenge, c, 2, root=tree.root)
    assert fv.ok, fv.reason
    assert fv.escape_probability == pytest.approx((1 / cc.PRIME) ** 2)


@HYPO
@given(
    seed=st.binary(min_size=32, max_size=32),
    n=st.integers(2, 24),
    where=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    delta=st.integers(1, 1000) | st.integers(-1000, -1),
)
def test_one_perturbed_entry_is_always_caught_by_freivalds_and_by_sampling_its_row(seed, n, where, delta):
    challenge = _challenge(n, seed)
    c, _ = _commit(seed, n)
    i, j = where[0] % n, where[1] % n
    c[i, j] += delta
    tree = _recommit(c, seed=seed)  # the cheat commits to its wrong matrix
    assert not cc.freivalds_check(challenge, c, 2, root=tree.root).ok
    verdict = cc.check_rows(challenge, tree.root, _openings(c, tree, [i]), [i])
    assert not verdict.ok
    assert verdict.failed_rows == [i]
    assert "wrong product" in verdict.reason


def test_challenges_sharing_b_seed_share_b_but_not_a_and_json_carries_it():
    b_seed = bytes(range(100, 132))
    c1 = ch.new_challenge(16, "fp32", 1e9, rows=16, b_seed=b_seed)
    c2 = ch.new_challenge(16, "fp32", 1e9, rows=16, b_seed=b_seed)
    assert c1.b_seed == c2.b_seed == b_seed and c1.seed != c2.seed
    assert ch.Challenge.from_json(c1.to_json()) == c1
    assert c1.to_json()["b_seed"] == "0x" + b_seed.hex()
    legacy = {k: v for k, v in c1.to_json().items() if k != "b_seed"}
    assert ch.Challenge.from_json(legacy).b_seed == c1.seed  # left out: B from the same seed
    assert ch.Challenge(SEED, 8, "fp32", 1.0).b_seed == SEED
    with pytest.raises(ch.ChallengeError, match="b_seed must be 32 bytes"):
        ch.Challenge(SEED, 8, "fp32", 1.0, b_seed=b"short")
    with pytest.raises(ch.ChallengeError, match="b_seed"):
        ch.Challenge.from_json({**c1.to_json(), "b_seed": "0x12"})
    c = ch.compute_product(c1.seed, 16, b_seed)
    assert np.array_equal(c, ch.derive_a(c1.seed, 16).astype(np.int64) @ ch.derive_b(b_seed, 16))
    assert ch.Challenge.from_json({k: v for k, v in c1.to_json().items() if k not in ("rows", "group")}) == c1
    assert not np.array_equal(c, ch.compute_product(c1.seed, 16))


def test_one_projection_key_checks_every_challenge_of_its_b_seed():
    n, b_seed = 32, bytes(range(7, 39))
    keys = cc.ProjectionKeys()
    key = None
    for k in range(5):
        challenge = ch.new_challenge(n, "fp32", 1e9, rows=40, b_seed=b_seed)
        assert key is None or keys.for_challenge(challenge) is key  # built once, reused
        key = keys.for_challenge(challenge)
        c = ch.compute_product(challenge.seed, n, b_seed, challenge.rows)
        tree = cm.commit_product(challenge, c)
        rows = cc.sample_rows(challenge.rows, 6, np.random.default_rng(k))
        assert cc.check_rows(challenge, tree.root, _openings(c, tree, rows), rows, key=key).ok
        ignored_b = ch.compute_product(challenge.seed, n, rows=challenge.rows)  # it ignored b_seed
        bad_tree = cm.commit_product(challenge, ignored_b)
        bad = cc.check_rows(challenge, bad_tree.root, _openings(ignored_b, bad_tree, rows), rows, key=key)
        assert not bad.ok and bad.failed_rows == rows
    other = ch.new_challenge(n, "fp32", 1e9, rows=40)
    assert keys.for_challenge(other) is not key
    with pytest.raises(ch.ChallengeError, match="another b_seed"):
        cc.check_rows(other, tree.root, {}, [], key=key)


def test_empirical_projection_escape_rate_matches_one_over_p_with_a_small_prime():
    """A sampled row with one entry off by one passes k projections mod p exactly when the
    matching entries of all k secret vectors are 0 mod p: rate p^-k."""
    n, p, trials = 6, 5, 600
    challenge = _challenge(n)
    c, _ = _commit(SEED, n)
    c[2, 3] += 1
    tree = _recommit(c)
    b = ch.derive_b(SEED, n)
    rng = np.random.default_rng(11)
    for rounds in (1, 2):
        escapes = 0
        for _ in range(trials):
            key = cc.ProjectionKey(SEED, n, rounds, rng=rng, b=b, p=p)
            escapes += cc.check_rows(challenge, tree.root, _openings(c, tree, [2]), [2], key=key).ok
        bound = cc.escape_bound_freivalds(rounds, p)
        sigma = math.sqrt(bound * (1 - bound) / trials)
        assert abs(escapes / trials - bound) <= 4 * sigma


def test_projection_key_rejects_bad_parameters():
    with pytest.raises(ch.ChallengeError, match="rounds"):
        cc.ProjectionKey(SEED, 8, 0)
    with pytest.raises(ch.ChallengeError, match="prime"):
        cc.ProjectionKey(SEED, 8, 1, p=2**40)
    with pytest.raises(ch.ChallengeError, match="shape"):
        cc.ProjectionKey(SEED, 8, 1, b=np.zeros((4, 4), dtype=np.int8))


def test_opening_that_does_not_match_the_commitment_fails():
    n = 16
    c, tree = _commit(SEED, n)
    forged = c.copy()
    forged[3] = 0
    ops = _openings(forged, tree, [3])
    verdict = cc.check_rows(_challenge(n), tree.root, ops, [3])
    assert not verdict.ok and "not the committed one" in verdict.reason
    ops = {3: (c[3], tree.opening(3)[0], tree.opening(9)[1])}  # right row, another group's proof
    assert "Merkle proof" in cc.check_rows(_challenge(n), tree.root, ops, [3]).reason


def test_missing_or_malformed_openings_fail():
    n = 8
    c, tree = _commit(SEED, n)
    assert "did not open" in cc.check_rows(_challenge(n), tree.root, {}, [1]).reason
    short = {1: (c[1][:-1].tolist(), *tree.opening(1))}
    assert "entries" in cc.check_rows(_challenge(n), tree.root, short, [1]).reason
    cut = {1: (c[1], tree.opening(1)[0][:-1], tree.opening(1)[1])}
    assert "digests must be" in cc.check_rows(_challenge(n), tree.root, cut, [1]).reason
    garbage = {1: (["x"] * n, *tree.opening(1))}
    assert "integers" in cc.check_rows(_challenge(n), tree.root, garbage, [1]).reason


def test_full_product_that_does_not_match_root_fails_freivalds():
    n = 8
    c, tree = _commit(SEED, n)
    other = _recommit(c + 1).root
    assert "committed root" in cc.freivalds_check(_challenge(n), c, 1, root=other).reason


@HYPO
@given(deadline=st.floats(0.01, 1e4), extra=st.floats(1e-6, 1e4))
def test_any_answer_after_the_deadline_fails_and_any_before_passes_the_timing(deadline, extra):
    challenge = ch.Challenge(SEED, 8, "fp32", deadline)
    late = cc.check_deadline(challenge, deadline + extra)
    assert late is not None and not late.ok and late.escape_probability == 0.0
    assert cc.check_deadline(challenge, deadline * 0.999) is None


def test_late_answer_fails():
    challenge = ch.Challenge(SEED, 8, "fp32", 1.5)
    assert cc.check_deadline(challenge, 1.4) is None
    late = cc.check_deadline(challenge, 1.6)
    assert late is not None and not late.ok and late.reason.startswith("late")


def _escape_rate_rows(n, correct, s, trials):
    """Empirical escape rate of a provider whose rows outside ``correct`` are wrong."""
    challenge = _challenge(n)
    c, _ = _commit(SEED, n)
    cheat = c.copy()
    for i in range(n):
        if i not in correct:
            cheat[i] = 0  # skipped rows
    tree = _recommit(cheat)
    rng = np.random.default_rng(1234)
    b = ch.derive_b(SEED, n)
    escapes = 0
    for _ in range(trials):
        rows = cc.sample_rows(n, s, rng)
        escapes += cc.check_rows(challenge, tree.root, _openings(cheat, tree, rows), rows, b=b).ok
    return escapes / trials


@pytest.mark.parametrize(("n", "n_correct", "s"), [(8, 4, 1), (8, 4, 2), (8, 7, 2), (10, 5, 3)])
def test_empirical_row_sampling_escape_rate_is_within_the_bound(n, n_correct, s):
    trials = 600
    f = n_correct / n
    rate = _escape_rate_rows(n, set(range(n_correct)), s, trials)
    exact = math.comb(n_correct, s) / math.comb(n, s)  # sampling without replacement
    bound = cc.escape_bound_rows(f, s)
    assert exact <= bound
    sigma = math.sqrt(exact * (1 - exact) / trials)
    assert abs(rate - exact) <= 4 * sigma + 1e-9
    assert rate <= bound + 4 * sigma


def test_empirical_freivalds_escape_rate_matches_one_over_p_with_a_small_prime():
    n, p, trials = 6, 5, 600
    challenge = _challenge(n)
    c, _ = _commit(SEED, n)
    c[2, 3] += 1
    rng = np.random.default_rng(7)
    escapes = sum(cc.freivalds_check(challenge, c, 1, rng=rng, p=p).ok for _ in range(trials))
    rate = escapes / trials
    bound = cc.escape_bound_freivalds(1, p)
    sigma = math.sqrt(bound * (1 - bound) / trials)
    assert abs(rate - bound) <= 4 * sigma  # a single +1 escapes exactly when r_3 == 0 (mod p)
    escapes2 = sum(cc.freivalds_check(challenge, c, 2, rng=rng, p=p).ok for _ in range(trials))
    assert escapes2 / trials <= cc.escape_bound_freivalds(2, p) + 4 * math.sqrt(0.04 / trials)


def test_freivalds_rejects_out_of_range_and_misshapen_products():
    n = 8
    c, _ = _commit(SEED, n)
    big = c.copy()
    big[0, 0] = 64 * n + 1
    assert "outside" in cc.freivalds_check(_challenge(n), big, 1).reason
    assert "shape" in cc.freivalds_check(_challenge(n), c[:4], 1).reason


def test_check_cost_is_small_against_compute_at_moderate_n():
    n = 512
    c, tree = _commit(SEED, n)
    rows = cc.sample_rows(n, 8, np.random.default_rng(0))
    verdict = cc.check_rows(_challenge(n), tree.root, _openings(c, tree, rows), rows)
    assert verdict.ok and verdict.samples == 8
    exact = math.comb(256, 8) / math.comb(512, 8)
    assert verdict.escape_probability == pytest.approx(exact + cc.PRIME**-2 + ch.DIGEST_GUESS)
    assert verdict.escape_probability < 0.5**8
