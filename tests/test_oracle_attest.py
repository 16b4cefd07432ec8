"""oracle.attest: EIP-712 hashing identical to the registry and to eth-account, Merkle proofs as
OpenZeppelin's MerkleProof, signature aggregation."""

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.attest import (
    ATTESTATION_TYPEHASH,
    Attestation,
    AttestError,
    Batch,
    Domain,
    Fault,
    Signature,
    aggregate,
    attestation_digest,
    attestation_struct_hash,
    batch_digest,
    fault_digest,
    gpu_model_bytes32,
    gpu_model_name,
    sign_attestation,
    tflops_fixed,
    typed_data_attestation,
    typed_data_batch,
    typed_data_fault,
)
from oracle.attest_batch import MerkleTree, encode_score_proof, process_proof, verify_proof
from tests.support.oracle import (
    ORACLE_KEYS,
    ORACLES,
    OUTSIDER_KEYS,
    deploy_with_registry,
    make_attestation,
    node_id,
    quorum_sigs,
    register_node,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x" + "ab" * 20)
PROVIDER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def _att(**kw):
    return make_attestation(PROVIDER, node_id("n"), epoch=3, expiry=2_000_000_000, **kw)


# ---------------------------------------------------------------------------------------------
# Pure parity with eth-account's EIP-712 encoder
# ---------------------------------------------------------------------------------------------


def test_typehash_is_the_solidity_type_string():
    assert (
        keccak(
            text="Attestation(address provider,bytes32 nodeId,bytes32 gpuModel,uint32 vramMiB,uint32 fp32,uint32 tf32,"
            "uint32 fp16,uint32 bf16,uint32 memBandwidth,uint32 powerW,uint32 score,uint64 epoch,bytes32 reportHash,"
            "uint64 expiry)"
        )
        == ATTESTATION_TYPEHASH
    )


def test_attestation_digest_matches_eth_account_encoder():
    att = _att()
    msg = encode_typed_data(full_message=typed_data_attestation(DOMAIN, att))
    assert keccak(b"\x19" + msg.version + msg.header + msg.body) == attestation_digest(DOMAIN, att)


def test_batch_and_fault_digests_match_eth_account_encoder():
    batch = Batch(keccak(text="r"), 9, 12345)
    msg = encode_typed_data(full_message=typed_data_batch(DOMAIN, batch))
    assert keccak(b"\x19" + msg.version + msg.header + msg.body) == batch_digest(DOMAIN, batch)
    fault = Fault(PROVIDER, node_id("n"), 9, keccak(text="why"), 10**18, ORACLES[0])
    msg = encode_typed_data(full_message=typed_data_fault(DOMAIN, fault))
    assert keccak(b"\x19" + msg.version + msg.header + msg.body) == fault_digest(DOMAIN, fault)


def test_signature_recovers_to_signer_via_eth_account():
    att = _att()
    sig = sign_attestation(ORACLE_KEYS[0], DOMAIN, att)
    msg = encode_typed_data(full_message=typed_data_attestation(DOMAIN, att))
    assert Account.recover_message(msg, signature=sig.signature) == ORACLES[0] == sig.signer


def test_digest_depends_on_chain_and_contract():
    att = _att()
    other_chain = Domain(1, DOMAIN.verifying_contract)
    other_contract = Domain(31337, "0x" + "cd" * 20)
    digests = {attestation_digest(d, att) for d in (DOMAIN, other_chain, other_contract)}
    assert len(digests) == 3


def test_values_out_of_range_are_refused():
    with pytest.raises(AttestError, match="score"):
        _att(score=2**32)
    with pytest.raises(AttestError, match="nodeId"):
        replace(_att(), nodeId=b"short")


def test_gpu_model_and_tflops_encoding():
    assert gpu_model_name(gpu_model_bytes32("NVIDIA H100 80GB HBM3")) == "NVIDIA H100 80GB HBM3"
    assert len(gpu_model_bytes32("x" * 40)) == 32
    assert tflops_fixed(989.44) == 98944
    assert tflops_fixed(-1) == 0


def test_attestation_json_round_trip():
    att = _att()
    assert type(att).from_json(att.to_json()) == att


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def test_aggregate_sorts_by_signer_and_trims_to_threshold():
    att = _att()
    sigs = [sign_attestation(k, DOMAIN, att) for k in ORACLE_KEYS[:4]]
    out = aggregate(reversed(sigs), 3, digest=attestation_digest(DOMAIN, att))
    by_sig = {s.signature: s.signer for s in sigs}
    signers = [by_sig[s] for s in out]
    assert len(out) == 3
    assert signers == sorted(signers, key=lambda a: int(a, 16))


def test_aggregate_drops_duplicates_forgeries_and_outsiders():
    att = _att()
    digest = attestation_digest(DOMAIN, att)
    good = [sign_attestation(k, DOMAIN, att) for k in ORACLE_KEYS[:2]]
    forged = Signature(ORACLES[2], sign_attestation(OUTSIDER_KEYS[0], DOMAIN, att).signature)
    outsider = sign_attestation(OUTSIDER_KEYS[1], DOMAIN, att)
    with pytest.raises(AttestError, match="only 2 usable"):
        aggregate(good + good + [forged, outsider], 3, digest=digest, oracles=ORACLES[:4])
    assert len(aggregate(good + good, 2, digest=digest)) == 2


# ---------------------------------------------------------------------------------------------
# Merkle trees
# ---------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 10**6))
def test_every_leaf_proves_against_the_root(n, seed):
    leaves = [keccak(text=f"{seed}-{i}") for i in range(n)]
    tree = MerkleTree.build(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_proof(leaf, tree.proof(i), tree.root)
    assert not verify_proof(keccak(text="stranger"), tree.proof(0), tree.root)


def test_single_leaf_tree_has_empty_proof():
    leaf = keccak(text="only")
    tree = MerkleTree.build([leaf])
    assert tree.root == leaf and tree.proof(0) == []
    assert process_proof(leaf, []) == leaf


def test_empty_tree_is_refused():
    with pytest.raises(AttestError):
        MerkleTree.build([])


# ---------------------------------------------------------------------------------------------
# Against the contract
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(accounts, chain):
    owner, provider = accounts[0], accounts[3]
    contracts = deploy_with_registry(owner, accounts[1], ORACLES[:3], 2)
    nodes = [node_id(f"attest-{i}") for i in range(7)]
    for i in range(7):
        register_node(contracts, owner, provider, f"attest-{i}")
    registry = contracts["AttestationRegistry"]
    return registry, Domain(chain.chain_id, str(registry.address)), provider, nodes


def test_python_digest_equals_contract_hash_attestation(deployed):
    registry, domain, provider, nodes = deployed
    att = make_attestation(provider.address, nodes[0], epoch=11, expiry=2**40 - 1, score=77)
    assert registry.hashAttestation(att.as_tuple()) == attestation_digest(domain, att)
    assert registry.attestationStructHash(att.as_tuple()) == attestation_struct_hash(att)


def test_python_signed_attestation_is_accepted_on_chain(deployed, accounts, chain):
    registry, domain, provider, nodes = deployed
    att = make_attestation(provider.address, nodes[1], epoch=1, expiry=chain.pending_timestamp + 3600)
    registry.submit(att.as_tuple(), quorum_sigs(domain, att, k=2), sender=accounts[9])
    assert registry.recordOf(nodes[1]).epoch == 1


def test_python_merkle_proofs_verify_on_chain_for_every_leaf(deployed, accounts, chain):
    registry, domain, provider, nodes = deployed
    expiry = chain.pending_timestamp + 3600
    atts = [
        make_attestation(provider.address, n, epoch=5, expiry=expiry, score=100 + i)
        for i, n in enumerate(nodes)
    ]
    tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
    batch = Batch(tree.root, 5, expiry)
    from oracle.attest import sign_batch

    sigs = aggregate([sign_batch(k, domain, batch) for k in ORACLE_KEYS[:2]], 2)
    registry.submitBatch(batch.root, 5, expiry, sigs, sender=accounts[9])
    for i, a in enumerate(atts):
        assert (
            registry.checkScore(provider, a.nodeId, 1, encode_score_proof(a, tree.root, tree.proof(i)))
            == 100 + i
        )


_u32 = st.integers(0, 2**32 - 1)
_b32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=25, deadline=None)
@given(
    figures=st.lists(_u32, min_size=8, max_size=8),
    epoch=st.integers(0, 2**64 - 1),
    expiry=st.integers(0, 2**64 - 1),
    node=_b32,
    model=_b32,
    report=_b32,
    provider=st.binary(min_size=20, max_size=20),
)
def test_property_python_digest_equals_contract_for_any_attestation(
    deployed, figures, epoch, expiry, node, model, report, provider
):
    registry, domain, _, _ = deployed
    vram, fp32, tf32, fp16, bf16, bw, power, score = figures
    att = Attestation(
        "0x" + provider.hex(),
        node,
        model,
        vram,
        fp32,
        tf32,
        fp16,
        bf16,
        bw,
        power,
        score,
        epoch,
        report,
        expiry,
    )
    assert registry.hashAttestation(att.as_tuple()) == attestation_digest(domain, att)
