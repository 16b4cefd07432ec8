"""Validators' verdicts: the EIP-712 DisputeVerdict signed as JobEscrow.settleDispute verifies it
(digest cross-checked with eth-account's typed-data encoder), k of n signatures aggregated with
signers ascending, for a judgement made by re-running the disputed items."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from oracle.attest import aggregate, recover_signer
from oracle.validator.verdicts import VERDICT_TYPE, DisputeVerdict, escrow_domain, sign_verdict, verdict_for
from oracle.work.dispute import judge
from oracle.work.job import output_tree, run
from tests.support.work import demo_manifest, demo_onnx, digits

KEYS = [keccak(text=f"verdict-oracle-{i}") for i in range(3)]
DOMAIN = escrow_domain(31337, "0x" + "12" * 20)


@pytest.fixture(scope="module")
def cheat():
    manifest, inputs = demo_manifest(40)
    records = run(manifest, demo_onnx(), digits(40)[0])
    records[7] = bytes([records[7][0] ^ 1]) + records[7][1:]  # a wrong class for item 7
    return manifest, inputs, output_tree(manifest, records)


def test_verdict_digest_matches_eip712_and_k_of_n_signatures_aggregate(cheat):
    manifest, inputs, cheat = cheat
    j = judge(manifest, demo_onnx(), inputs, cheat.root, [7], [cheat.open(7)])
    verdict = verdict_for(5, cheat.root, [7], j, expiry=2_000_000_000)
    assert isinstance(verdict, DisputeVerdict) and verdict.provider_at_fault
    assert VERDICT_TYPE.startswith("DisputeVerdict(uint256 jobId,bytes32 resultHash")
    signable = encode_typed_data(full_message=verdict.typed_data(DOMAIN))
    assert Account.sign_message(signable, KEYS[0]).message_hash == verdict.digest(DOMAIN)
    sigs = [sign_verdict(k, DOMAIN, verdict) for k in KEYS]
    assert all(recover_signer(verdict.digest(DOMAIN), s.signature) == s.signer for s in sigs)
    ordered = aggregate(sigs, threshold=2, digest=verdict.digest(DOMAIN))
    signers = [recover_signer(verdict.digest(DOMAIN), s) for s in ordered]
    assert len(ordered) == 2 and signers == sorted(signers, key=lambda a: int(a, 16))
