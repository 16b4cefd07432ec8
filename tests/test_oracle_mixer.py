"""The counter-based generator and row digests (oracle.mixer): the NumPy fast path, the portable
int64 path (the one PyTorch runs) and, where PyTorch is installed, PyTorch itself give the same bits;
and the challenge's work sizing, deadline, attested figure and escape table (oracle.challenge)."""

import math

import numpy as np
import pytest

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle import commitment as cm
from oracle import mixer as mx

SEED = bytes(range(32))
KEYS = mx.key_words(b"test", SEED)


def _portable_rows(keys, n, first, last, xp_stack=lambda parts: np.stack(parts, axis=-1)):
    w = mx.words_per_row(n)
    words = mx.word(keys, np.arange(first * w, last * w, dtype=np.int64)).reshape(last - first, w)
    return mx.nibbles(words, xp_stack)[:, :n].astype(np.int8)


def test_mul32_and_fmix_match_uint32_wraparound_on_edge_values():
    edge = np.array([0, 1, 2**16 - 1, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 0x9E3779B9], dtype=np.int64)
    for c in (mx.FMIX_C1, mx.FMIX_C2, 2**32 - 1, 1, 0):
        want = (edge.astype(np.uint64) * np.uint64(c)) & np.uint64(mx.M32)
        assert np.array_equal(mx.mul32(edge, c), want.astype(np.int64))
    assert np.array_equal(
        mx.mul32(edge, edge), ((edge.astype(np.uint64) ** 2) & np.uint64(mx.M32)).astype(np.int64)
    )
    fast = mx._fmix_u32(edge.astype(np.uint32))
    assert np.array_equal(mx.fmix(edge), fast.astype(np.int64))


def test_known_answer_words_pin_the_generator():
    """Changing the generator changes every challenge: these values are its definition, frozen."""
    keys = mx.key_words(b"oracle.challenge.A", bytes(32))
    assert mx.words_u32(keys, np.arange(4, dtype=np.uint32)).tolist() == [
        3017577694,
        3385687984,
        3052004607,
        1717619284,
    ]
    assert mx.word(keys, np.arange(4, dtype=np.int64)).tolist() == [
        3017577694,
        3385687984,
        3052004607,
        1717619284,
    ]
    assert ch.derive_a(bytes(32), 8, 2).tolist() == [[6, 5, -4, 1, 4, 5, -5, 3], [-8, 3, 7, -1, 5, 4, 1, 4]]


@pytest.mark.parametrize(("n", "first", "last"), [(1, 0, 3), (8, 5, 9), (13, 0, 7), (64, 30, 33)])
def test_fast_and_portable_generators_give_the_same_entries(n, first, last):
    fast = mx.derive_rows(KEYS, n, first, last)
    assert np.array_equal(fast, _portable_rows(KEYS, n, first, last))
    assert fast.min() >= -8 and fast.max() <= 7
    picked = [last - 1, first, last - 1]
    assert np.array_equal(mx.derive_rows_at(KEYS, n, picked), fast[[p - first for p in picked]])


def test_entries_are_uniform_over_minus_8_to_7_and_rows_differ():
    a = mx.derive_rows(KEYS, 256, 0, 256)
    counts = np.bincount((a.astype(np.int64) + 8).ravel(), minlength=16)
    expected = a.size / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 50  # 15 degrees of freedom: p < 1e-5 for a fair generator
    assert len({row.tobytes() for row in a}) == 256


def test_counter_range_is_enforced():
    with pytest.raises(ValueError, match="2\\^32"):
        mx.derive_rows(KEYS, 8, 2**32 - 1, 2**32 + 1)
    with pytest.raises(ch.ChallengeError, match="2\\^32"):
        ch.Challenge(SEED, 16384, "fp32", 1.0, rows=2**21 + 1)


def test_fast_and_portable_row_digests_agree_and_see_every_entry():
    n = 33
    keys = mx.column_keys(mx.key_words(b"d", SEED, 6), n)
    rng = np.random.default_rng(5)
    c = rng.integers(-64 * n, 64 * n + 1, size=(20, n)).astype(np.int32)
    fast = mx.row_digests(c, keys, chunk_rows=7)
    portable = np.stack(
        mx.row_digests_portable(c.astype(np.int64), keys.astype(np.int64), lambda x: x.sum(axis=-1)), axis=-1
    )
    assert np.array_equal(fast, portable)
    for j in range(n):  # one entry changed in any column changes the digest
        d = c[:1].copy()
        d[0, j] += 1
        assert not np.array_equal(mx.row_digests(d, keys)[0], fast[0])


def test_torch_path_gives_the_same_bits_on_cpu():
    torch = pytest.importorskip("torch")
    n = 37
    ref = mx.derive_rows(KEYS, n, 3, 11)
    got = mx.torch_derive_rows(KEYS, n, 3, 11, torch.device("cpu"))
    assert np.array_equal(got.numpy(), ref)
    dk = mx.key_words(b"d", SEED, 6)
    c = (ref.astype(np.int32) * 997) - 5
    want = mx.row_digests(c, mx.column_keys(dk, n))
    dig = mx.torch_row_digests(torch.from_numpy(c), mx.torch_column_keys(dk, n, torch.device("cpu")))
    assert np.array_equal(dig.numpy().astype(np.uint32), want)


# --------------------------------------------------------------------------------------------
# Work sized to the claim
# --------------------------------------------------------------------------------------------


def test_work_is_sized_to_the_claim_and_the_deadline_to_the_work():
    challenge = ch.new_challenge(128, "fp16", 5e9, target_s=0.5, tolerance=1.25, allowance_s=0.1)
    assert challenge.rows == math.ceil(5e9 * 0.5 / (2 * 128**2))
    assert challenge.flops == 2 * challenge.rows * 128**2
    assert challenge.deadline_s == pytest.approx(challenge.flops / 5e9 * 1.25 + 0.1)
    assert ch.rows_for(128, 1.0) == 1  # never zero rows
    assert ch.rows_for(16384, 1e30) == min(ch.MAX_ROWS, 2**32 // 2048)  # capped
    with pytest.raises(ch.ChallengeError, match="claimed_flops"):
        ch.rows_for(8, float("inf"))


def test_groups_grow_with_the_rows_so_the_host_tree_stays_small():
    assert ch.group_for(1) == ch.group_for(ch.MAX_LEAVES * 64) == 64
    assert ch.group_for(ch.MAX_LEAVES * 64 + 1) == 128
    assert ch.group_for(ch.MAX_ROWS) == 1024 and ch.MAX_ROWS // 1024 <= ch.MAX_LEAVES
    assert ch.new_challenge(8, "fp32", 1.0, rows=ch.MAX_ROWS).group == 1024


def test_attested_figure_is_the_measured_speed_capped_at_the_claim():
    challenge = ch.Challenge(SEED, 100, "fp32", 5.0, rows=500)  # 1e7 flops
    assert ch.attested_flops(challenge, 0.5, 1e9) == pytest.approx(2e7)
    assert ch.attested_flops(challenge, 0.001, 1e9) == 1e9
    assert ch.attested_flops(challenge, 0.0, 1e9) == 0.0


def test_tolerated_inflation_formula():
    assert ch.tolerated_inflation() == pytest.approx(1.5)
    assert ch.tolerated_inflation(1.0, 1.25, 0.25, fixed_s=0.1) == pytest.approx(1.4)


def test_escape_table_states_the_one_row_cheat_honestly():
    table = cc.escape_table(rows=512, samples=16)
    by_skipped = {row["rows_skipped"]: row["escape"] for row in table}
    assert by_skipped[1] == pytest.approx(1 - 16 / 512, rel=1e-9)  # one row skipped: ~0.97
    assert by_skipped[256] == pytest.approx(math.comb(256, 16) / math.comb(512, 16), rel=1e-6)
    assert [row["f"] for row in table][:3] == [0.5, 0.9, 0.99]
    assert cc.escape_bound(0.5, 0, 512, 2) == 1.0


@pytest.mark.parametrize("block_rows", [1, 5, 64])
def test_block_by_block_commitment_equals_the_commitment_of_the_whole_product(block_rows):
    challenge = ch.Challenge(SEED, 12, "fp32", 1.0, rows=37, group=8)
    whole = ch.compute_product(SEED, 12, rows=37)
    assert cm.compute_commitment(challenge, block_rows=block_rows).root == cm.commitment_root(
        challenge, whole
    )
    assert np.array_equal(ch.product_rows(challenge, [36, 0]), whole[[36, 0]])
    zeroed = cm.compute_commitment(challenge, block_rows=block_rows, hook=lambda r0, c: c * 0)
    assert zeroed.root == cm.commitment_root(challenge, whole * 0)


def test_device_commitment_has_the_numpy_root_on_cpu_torch():
    pytest.importorskip("torch")
    from oracle.provider.device import torch_commitment

    challenge = ch.Challenge(SEED, 24, "fp32", 1.0, rows=50, group=8)
    want = cm.compute_commitment(challenge).root
    assert torch_commitment(challenge, device="cpu", block_rows=7).root == want
