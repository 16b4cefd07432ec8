"""The equality rule and the item tree: a NumPy float32 reference run of the demo model passes the
float tolerance against ONNX Runtime; one altered output always fails; items commit through the
capacity challenge's Merkle tree and open with proofs that verify with its verify_proof."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.merkle import MerkleTree, row_leaf, verify_proof
from oracle.work.equality import DEFAULT_ATOL, DEFAULT_RTOL, Equality
from oracle.work.errors import ManifestError, ProofError
from oracle.work.items import ItemTree, Opening, check_openings, item_words
from oracle.work.job import compare, output_records, records_to_arrays, run, sample_indices
from oracle.work.reference import run_reference
from tests.support.work import demo_manifest, demo_onnx, digits


@pytest.fixture(scope="module")
def job():
    manifest, _ = demo_manifest(360)
    x, _ = digits(360)
    return manifest, x, run(manifest, demo_onnx(), x)


def test_numpy_reference_passes_the_tolerance_against_onnx_runtime(job):
    manifest, x, records = job
    ref = run_reference(demo_onnx().proto, x)
    ref_records = output_records(manifest, [ref["label"], ref["logits"]])
    result = compare(manifest, range(360), records, ref_records)
    assert result.ok, result.bad
    # the honest difference uses under 2% of the tolerance (measured: about 0.85%, 4.8e-6 abs)
    assert 0.0 <= result.tolerance_used < 0.02, result
    assert records != ref_records or result.max_abs == 0.0  # the two runs need not be bitwise equal


def test_one_altered_output_always_fails(job):
    manifest, _, records = job
    rng = np.random.default_rng(7)
    labels, logits = records_to_arrays(manifest, records)
    for _trial in range(200):
        i = int(rng.integers(360))
        lab, log = labels.copy(), logits.copy()
        if rng.integers(2):
            lab[i] = (lab[i] + int(rng.integers(1, 10))) % 10  # a wrong class
        else:  # one logit moved just past the tolerance
            j = int(rng.integers(10))
            limit = float(DEFAULT_ATOL) + float(DEFAULT_RTOL) * abs(float(log[i, j]))
            log[i, j] = np.float32(float(log[i, j]) + limit * 1.01 * (1 if rng.integers(2) else -1))
        result = compare(manifest, range(360), output_records(manifest, [lab, log]), records)
        assert result.bad == (i,)


def test_nan_never_matches_and_integers_compare_exactly():
    rule = Equality.close()
    assert rule.mismatches(np.array([[np.nan]]), np.array([[np.nan]])).all()
    assert not rule.mismatches(np.array([[1.00005]]), np.array([[1.0]])).any()
    assert Equality().mismatches(np.array([3, 4]), np.array([3, 5])).tolist() == [False, True]
    with pytest.raises(ManifestError, match="compared exactly"):
        Equality.from_json({"rule": "close", "atol": "0", "rtol": "0"}, "int64", "rule")


def test_items_commit_through_the_challenge_tree(job):
    manifest, _, records = job
    tree = ItemTree(records)
    assert tree.root == MerkleTree([row_leaf(i, item_words(r)) for i, r in enumerate(records)]).root
    for i in (0, 1, 180, 359):
        op = tree.open(i)
        assert verify_proof(tree.root, 360, i, item_words(op.item), op.proof)
        assert Opening.from_json(op.to_json()) == op
    check_openings([tree.open(5)], tree.root, 360, manifest.record_size)


def test_an_altered_or_misplaced_opening_fails(job):
    manifest, _, records = job
    tree = ItemTree(records)
    op = tree.open(10)
    forged = Opening(10, bytes([op.item[0] ^ 1]) + op.item[1:], op.proof)
    with pytest.raises(ProofError, match="item 10 does not match the committed root"):
        check_openings([forged], tree.root, 360, manifest.record_size)
    with pytest.raises(ProofError, match="item 11 does not match"):
        check_openings([Opening(11, op.item, op.proof)], tree.root, 360, manifest.record_size)
    with pytest.raises(ProofError, match="is 4 bytes, the manifest says 48"):
        check_openings([Opening(10, b"abcd", op.proof)], tree.root, 360, manifest.record_size)


def test_sampling_draws_distinct_items():
    picks = sample_indices(360, 16, np.random.default_rng(1))
    assert len(set(picks)) == 16 and all(0 <= i < 360 for i in picks)
    assert sample_indices(5, 16) == [0, 1, 2, 3, 4]
