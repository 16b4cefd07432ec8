"""The fast item tree (leaves hashed straight from the bytes, packed levels) is bit for bit the
row_leaf tree it replaced: same leaves, same root, same proofs, for items of every dtype width; a
tree of several items per leaf is the reference tree over those groups, and its openings verify
only for the item they name, in its place in its leaf."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from oracle import mixer
from oracle.commitment import RowCommitment, group_words
from oracle.merkle import MerkleTree, node_hash, packed_leaves, row_leaf, verify_proof
from oracle.work.errors import InputError, ProofError
from oracle.work.items import (
    DTYPES,
    ItemTree,
    Opening,
    check_openings,
    group_leaves,
    item_leaf,
    item_words,
)


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


@pytest.mark.parametrize(
    ("count", "group"), [(1, 64), (63, 64), (64, 64), (65, 64), (1000, 64), (333, 7), (10, 2)]
)
def test_grouped_leaves_are_the_reference_tree_over_groups_of_items(count, group):
    rng = np.random.default_rng(count * 100 + group)
    data = random_items(rng, "float32", count, (3,))
    size = 12
    groups = [data[j : j + group * size] for j in range(0, len(data), group * size)]
    ref = [hashlib.sha256(b"\x00" + j.to_bytes(4, "big") + g).digest() for j, g in enumerate(groups)]
    levels = reference_levels(ref)
    tree = ItemTree.from_bytes(data, size, group)
    items = [data[i * size : (i + 1) * size] for i in range(count)]
    assert tree.root == ItemTree(items, group).root == levels[-1][0] and tree.count == count
    assert group_leaves(data, size, group) == b"".join(ref)
    assert ItemTree.from_leaves(data, size, b"".join(ref), group).root == tree.root
    for i in {0, count - 1, count // 2, int(rng.integers(count))}:
        op = tree.open(i)
        assert op.members == groups[i // group] and list(op.proof) == reference_proof(levels, i // group)
        assert op.verify(tree.root, count, group) and Opening.from_json(op.to_json()) == op
        check_openings([op], tree.root, count, size, group)
        assert not op.verify(tree.root, count, 1)  # a grouped opening is not a one-item leaf


def test_a_grouped_opening_verifies_only_for_its_own_item_and_leaf():
    data = random_items(np.random.default_rng(5), "int64", 200, (2,))
    tree, size = ItemTree.from_bytes(data, 16, 64), 16
    op = tree.open(70)
    swapped = tree.open(71).item
    forged = [
        Opening(70, swapped, op.proof, op.members),  # another item of the same leaf
        Opening(71, op.item, op.proof, op.members),  # the item moved to another place
        Opening(70, op.item, op.proof, op.members[:-16]),  # a leaf cut short
        Opening(70, op.item, op.proof, bytes([op.members[0] ^ 1]) + op.members[1:]),  # a neighbour altered
        Opening(70, op.item, op.proof[1:], op.members),  # a proof without its first sibling
        Opening(130, tree.open(130).item, op.proof, tree.open(130).members),  # leaf 2 with leaf 1's path
    ]
    for bad in forged:
        with pytest.raises(ProofError, match=f"item {bad.index} does not match the committed root"):
            check_openings([bad], tree.root, 200, size, 64)
    last = tree.open(199)  # the last leaf holds 200 - 192 = 8 items
    assert len(last.members) == 8 * size and last.verify(tree.root, 200, 64)
    with pytest.raises(InputError, match="items per leaf must be an integer from 1 to 65536"):
        ItemTree.from_bytes(data, 16, 0)
    with pytest.raises(InputError, match="1 leaves for 3200 bytes"):
        ItemTree.from_leaves(data, 16, bytes(32), 64)


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
