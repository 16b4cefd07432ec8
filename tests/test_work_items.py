"""The fast item tree (leaves hashed straight from the bytes, packed levels) is bit for bit the
row_leaf tree it replaced: same leaves, same root, same proofs, for items of every dtype width."""

from __future__ import annotations

import numpy as np
import pytest

from oracle import mixer
from oracle.commitment import RowCommitment, group_words
from oracle.merkle import MerkleTree, node_hash, packed_leaves, row_leaf, verify_proof
from oracle.work.errors import InputError
from oracle.work.items import DTYPES, ItemTree, item_leaf, item_words


def reference_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The tree as the old code built it: a list per level, one node_hash call per inner node."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def reference_proof(levels: list[list[bytes]], index: int) -> list[bytes]:
    path = []
    for level in levels[:-1]:
        if index ^ 1 < len(level):
            path.append(level[index ^ 1])
        index //= 2
    return path


def random_items(rng: np.random.Generator, dtype: str, count: int, shape: tuple[int, ...]) -> bytes:
    dt = DTYPES[dtype]
    if dt.kind == "f":
        x = rng.standard_normal((count, *shape)) * 1e3
        specials = [np.nan, -0.0, np.inf, -np.inf, 1e-40, 0.0, 7.0]
        x.flat[: min(x.size, 7)] = specials[: min(x.size, 7)]  # NaN, signed zero, subnormals too
    else:
        info = np.iinfo(dt)
        x = rng.integers(info.min, info.max, (count, *shape), dtype=dt, endpoint=True)
    return np.ascontiguousarray(x, dtype=dt).tobytes()


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_fast_leaves_root_and_proofs_equal_the_row_leaf_tree(dtype):
    rng = np.random.default_rng(sorted(DTYPES).index(dtype))
    for count, shape in ((1, ()), (2, (3,)), (7, (5,)), (64, (2, 3)), (1000, (10,)), (333, ())):
        data = random_items(rng, dtype, count, shape)
        size = len(data) // count
        items = [data[i * size : (i + 1) * size] for i in range(count)]
        leaves = [row_leaf(i, item_words(it)) for i, it in enumerate(items)]
        assert packed_leaves(data, size) == b"".join(leaves)
        assert [item_leaf(i, it) for i, it in enumerate(items)] == leaves
        levels = reference_levels(leaves)
        fast, listed = ItemTree.from_bytes(data, size), ItemTree(items)
        assert fast.root == listed.root == levels[-1][0]
        assert fast.count == count and fast.items == items
        for i in {0, count - 1, count // 2, int(rng.integers(count))}:
            op = fast.open(i)
            assert list(op.proof) == reference_proof(levels, i)
            assert op.item == items[i] and op.verify(fast.root, count)
            assert verify_proof(fast.root, count, i, item_words(items[i]), op.proof)


def test_matrix_tree_and_mixed_sizes_match_the_reference():
    c = np.random.default_rng(9).integers(-(2**31), 2**31, (37, 12), dtype=np.int64).astype(np.int32)
    levels = reference_levels([row_leaf(i, c[i]) for i in range(len(c))])
    tree = MerkleTree.from_matrix(c)
    assert tree.root == levels[-1][0]
    assert tree.proof(36) == reference_proof(levels, 36)
    mixed = [b"abcd", b"efghijkl", b"", b"mnop"]
    ref = reference_levels([item_leaf(i, it) for i, it in enumerate(mixed)])
    t = ItemTree(mixed)
    assert t.root == ref[-1][0] and t.items == mixed and t.open(1).verify(t.root, 4)


def test_bad_item_files_are_refused():
    with pytest.raises(InputError, match="whole number"):
        ItemTree.from_bytes(b"x" * 10, 4)
    with pytest.raises(InputError, match="4-byte words"):
        ItemTree.from_bytes(b"x" * 12, 6)
    with pytest.raises(InputError, match="at least one item"):
        ItemTree.from_bytes(b"", 4)


@pytest.mark.parametrize(("rows", "group"), [(64, 8), (67, 8), (5, 8), (1, 1), (100, 7)])
def test_a_challenge_commitment_built_from_packed_digests_is_the_row_leaf_tree(rows, group):
    digests = np.random.default_rng(rows).integers(0, 2**32, (rows, mixer.LANES), dtype=np.uint64)
    commit = RowCommitment(digests.astype(np.uint32), group)
    groups = range(0, rows, group)
    levels = reference_levels(
        [row_leaf(g // group, group_words(digests[g : g + group].astype(np.uint32))) for g in groups]
    )
    assert commit.root == levels[-1][0]
    assert commit.tree.proof(len(levels[0]) - 1) == reference_proof(levels, len(levels[0]) - 1)
