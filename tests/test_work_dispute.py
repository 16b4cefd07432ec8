"""Judging a dispute: the disputed items re-run as one batch decide who is at fault (a wrong item,
an item the provider cannot open against its root, or a false claim); the items' on-chain
commitment is JobEscrow's evidenceHash."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from oracle.work.dispute import DisputeError, evidence_hash, judge
from oracle.work.items import Opening
from oracle.work.job import output_tree, run
from tests.support.work import demo_manifest, demo_onnx, digits


@pytest.fixture(scope="module")
def job():
    manifest, inputs = demo_manifest(40)
    x, _ = digits(40)
    honest = run(manifest, demo_onnx(), x)
    cheat = list(honest)
    cheat[7] = bytes([cheat[7][0] ^ 1]) + cheat[7][1:]  # a wrong class for item 7
    return manifest, inputs, output_tree(manifest, honest), output_tree(manifest, cheat)


def test_a_wrong_item_puts_the_provider_at_fault(job):
    manifest, inputs, _, cheat = job
    j = judge(manifest, demo_onnx(), inputs, cheat.root, [3, 7], [cheat.open(3), cheat.open(7)])
    assert j.provider_at_fault and j.wrong == (7,) and j.unopened == ()


def test_a_false_claim_leaves_the_provider_not_at_fault(job):
    manifest, inputs, honest, _ = job
    j = judge(manifest, demo_onnx(), inputs, honest.root, [3, 7], [honest.open(3), honest.open(7)])
    assert not j.provider_at_fault and j.wrong == () and j.tolerance_used == 0.0


def test_an_item_the_provider_cannot_open_counts_against_it(job):
    manifest, inputs, honest, _ = job
    seven = honest.open(7)  # item 8's record in item 7's place, with 7's leaf and proof
    forged = Opening(7, honest.open(8).item, seven.proof, seven.members)
    j = judge(manifest, demo_onnx(), inputs, honest.root, [3, 7, 9], [honest.open(3), forged])
    assert j.provider_at_fault and j.unopened == (7, 9) and j.wrong == ()
    with pytest.raises(DisputeError, match="names 1 to 256 items in \\[0, 40\\)"):
        judge(manifest, demo_onnx(), inputs, honest.root, [40], [])


def test_evidence_hash_is_keccak_of_the_packed_ascending_indices():
    assert evidence_hash([3, 7]) == keccak((3).to_bytes(32, "big") + (7).to_bytes(32, "big"))
    with pytest.raises(DisputeError, match="strictly ascending"):
        evidence_hash([7, 3])
