"""AttestationRegistry: k-of-n EIP-712 attestations, batches with Merkle proofs, fault slashing,
governance. Every revert path is asserted with its custom error."""

from dataclasses import replace

import ape
import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.attest import (
    Attestation,
    Batch,
    Domain,
    Fault,
    aggregate,
    attestation_digest,
    attestation_struct_hash,
    batch_digest,
    fault_digest,
    recover_signer,
    sign_attestation,
    sign_batch,
    sign_digest,
)
from oracle.attest_batch import MerkleTree, encode_score_proof
from tests.support.oracle import (
    MAX_SLASH,
    MAX_VALIDITY,
    ORACLE_KEYS,
    ORACLES,
    OUTSIDER_KEYS,
    deploy_with_registry,
    domain_of,
    fault_sigs,
    make_attestation,
    node_id,
    quorum_sigs,
    register_node,
)
from tests.support.reverts import ANY, reverts

ZERO_ADDRESS = "0x" + "00" * 20

NODE = node_id("node-a")


@pytest.fixture(scope="module")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def provider(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def treasury(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def protocol(owner, treasury, provider):
    contracts = deploy_with_registry(owner, treasury, ORACLES[:4], 3)
    register_node(contracts, owner, provider, "node-a")
    return contracts


@pytest.fixture(scope="module")
def staking(protocol):
    return protocol["ComputeStaking"]


@pytest.fixture(scope="module")
def registry(protocol):
    return protocol["AttestationRegistry"]


@pytest.fixture(scope="module")
def domain(registry, chain):
    return domain_of(registry, chain.chain_id)


@pytest.fixture
def att(provider, chain):
    return make_attestation(provider.address, NODE, epoch=1, expiry=chain.pending_timestamp + 86400)


# ---------------------------------------------------------------------------------------------
# Construction and hashing parity
# ---------------------------------------------------------------------------------------------


def test_constructor_sets_oracles_threshold_and_bounds(registry, staking):
    assert registry.threshold() == 3
    assert registry.oracleCount() == 4
    assert all(registry.isOracle(o) for o in ORACLES[:4])
    assert not registry.isOracle(ORACLES[4])
    assert registry.maxValidity() == MAX_VALIDITY
    assert registry.maxSlash() == MAX_SLASH
    assert registry.staking() == staking.address


def test_constructor_rejects_threshold_above_oracle_count(project, owner, staking):
    with reverts(project.AttestationRegistry.AttestationRegistryThresholdOutOfBounds, 3, 2):
        owner.deploy(project.AttestationRegistry, staking, owner, ORACLES[:2], 3, MAX_VALIDITY, MAX_SLASH)


def test_python_digest_equals_contract_hash(registry, domain, att):
    assert registry.domainSeparator() == domain.separator()
    assert registry.attestationStructHash(att.as_tuple()) == attestation_struct_hash(att)
    assert registry.hashAttestation(att.as_tuple()) == attestation_digest(domain, att)
    batch = Batch(root=keccak(text="root"), epoch=7, expiry=123456)
    assert registry.hashBatch(batch.root, 7, 123456) == batch_digest(domain, batch)
    fault = Fault(ORACLES[0], NODE, 3, keccak(text="why"), 10, ORACLES[1])
    assert registry.hashFault(fault.as_tuple()) == fault_digest(domain, fault)


# ---------------------------------------------------------------------------------------------
# submit: accept
# ---------------------------------------------------------------------------------------------


def test_submit_with_k_signatures_stores_record_and_emits_all_figures(registry, domain, att, accounts):
    tx = registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    rec = registry.recordOf(NODE)
    assert rec.provider == att.provider
    assert (rec.epoch, rec.expiry, rec.score) == (att.epoch, att.expiry, att.score)
    [ev] = tx.events.filter(registry.AttestationRecorded)  # the figures live in the event only
    assert ev.nodeId == NODE and ev["provider"] == att.provider and Attestation(*ev.attestation).epoch == 1
    assert Attestation(*ev.attestation) == att
    assert ev.batchRoot == b"\0" * 32


def test_submit_accepts_more_than_k_signatures(registry, domain, att, accounts):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att, ORACLE_KEYS[:4]), sender=accounts[9])
    assert registry.recordOf(NODE).epoch == 1


def test_submit_next_epoch_replaces_record(registry, domain, att, accounts):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    att2 = replace(att, epoch=2, score=8000)
    registry.submit(att2.as_tuple(), quorum_sigs(domain, att2), sender=accounts[9])
    rec = registry.recordOf(NODE)
    assert (rec.epoch, rec.score) == (2, 8000)


# ---------------------------------------------------------------------------------------------
# submit: reject
# ---------------------------------------------------------------------------------------------


def test_submit_rejects_too_few_signatures(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att, ORACLE_KEYS[:2])
    with reverts(registry.AttestationRegistryTooFewSignatures, 2, 3):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_bad_signature_length(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att)
    sigs[1] = sigs[1][:64]
    with reverts(registry.AttestationRegistryBadSignatureLength, 1, 64):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_malleable_or_garbage_signature(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att)
    sigs[0] = b"\x11" * 32 + b"\xff" * 32 + b"\x1b"  # s above secp256k1n/2
    with reverts(registry.AttestationRegistryInvalidSignature, 0):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_unsorted_signers(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att)
    sigs[0], sigs[1] = sigs[1], sigs[0]
    signers = sorted(ORACLES[:3], key=lambda a: int(a, 16))
    with reverts(registry.AttestationRegistrySignersNotAscending, 1, signers[1], signers[0]):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_duplicate_signer(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att)
    signers = sorted(ORACLES[:3], key=lambda a: int(a, 16))
    dup = [sigs[0], sigs[1], sigs[1]]
    with reverts(registry.AttestationRegistrySignersNotAscending, 2, signers[1], signers[1]):
        registry.submit(att.as_tuple(), dup, sender=accounts[9])


def test_submit_rejects_unknown_signer(registry, domain, att, accounts):
    keys = ORACLE_KEYS[:2] + [OUTSIDER_KEYS[0]]
    sigs = [sign_attestation(k, domain, att) for k in keys]
    ordered = aggregate(sigs, 3)
    outsider = Account.from_key(OUTSIDER_KEYS[0]).address
    index = sorted([s.signer for s in sigs], key=lambda a: int(a, 16)).index(outsider)
    with reverts(registry.AttestationRegistryUnknownSigner, index, outsider):
        registry.submit(att.as_tuple(), ordered, sender=accounts[9])


@pytest.mark.parametrize("which", ["chain", "contract"])
def test_submit_rejects_signatures_for_another_domain(registry, domain, att, accounts, which):
    other = (
        Domain(chain_id=domain.chain_id + 1, verifying_contract=domain.verifying_contract)
        if which == "chain"
        else Domain(chain_id=domain.chain_id, verifying_contract="0x" + "12" * 20)
    )
    sigs = quorum_sigs(other, att)
    stranger = recover_signer(attestation_digest(domain, att), sigs[0])  # who the registry sees
    with reverts(registry.AttestationRegistryUnknownSigner, 0, stranger):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_replay_as_stale_epoch(registry, domain, att, accounts):
    sigs = quorum_sigs(domain, att)
    registry.submit(att.as_tuple(), sigs, sender=accounts[9])
    with reverts(registry.AttestationRegistryStaleEpoch, NODE, 1, 1):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_older_epoch(registry, domain, att, accounts):
    att5 = replace(att, epoch=5)
    registry.submit(att5.as_tuple(), quorum_sigs(domain, att5), sender=accounts[9])
    att4 = replace(att, epoch=4)
    with reverts(registry.AttestationRegistryStaleEpoch, NODE, 4, 5):
        registry.submit(att4.as_tuple(), quorum_sigs(domain, att4), sender=accounts[9])


def test_submit_rejects_expired(registry, domain, att, accounts, chain):
    sigs = quorum_sigs(domain, att)
    chain.mine(timestamp=att.expiry + 1)
    with reverts(registry.AttestationRegistryExpired, att.expiry, ANY):
        registry.submit(att.as_tuple(), sigs, sender=accounts[9])


def test_submit_rejects_expiry_beyond_max_validity(registry, domain, att, accounts, chain):
    far = replace(att, expiry=chain.pending_timestamp + MAX_VALIDITY + 1000)
    with reverts(registry.AttestationRegistryExpiryTooFar, far.expiry, ANY):
        registry.submit(far.as_tuple(), quorum_sigs(domain, far), sender=accounts[9])


def test_submit_rejects_epoch_beyond_32_bits(registry, domain, att, accounts):
    big = replace(att, epoch=2**32)
    with reverts(registry.AttestationRegistryEpochOutOfRange, 2**32):
        registry.submit(big.as_tuple(), quorum_sigs(domain, big), sender=accounts[9])
    top = replace(att, epoch=2**32 - 1)  # the largest epoch the one-slot record holds
    registry.submit(top.as_tuple(), quorum_sigs(domain, top), sender=accounts[9])
    assert registry.recordOf(NODE).epoch == 2**32 - 1


def test_submit_rejects_node_not_owned_by_provider(registry, domain, att, accounts, provider):
    wrong = replace(att, provider=accounts[4].address)
    with reverts(registry.AttestationRegistryNotNodeOwner, NODE, accounts[4].address, provider.address):
        registry.submit(wrong.as_tuple(), quorum_sigs(domain, wrong), sender=accounts[9])


# ---------------------------------------------------------------------------------------------
# checkScore (latest record)
# ---------------------------------------------------------------------------------------------


def test_check_score_uses_latest_record(registry, domain, att, accounts, provider):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    assert registry.checkScore(provider, NODE, 9000, b"") == 9000


def test_check_score_rejects_low_score(registry, domain, att, accounts, provider):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    with reverts(registry.AttestationRegistryScoreTooLow, NODE, 9000, 9001):
        registry.checkScore(provider, NODE, 9001, b"")


def test_check_score_rejects_node_without_record(registry, provider):
    with reverts(registry.AttestationRegistryNoRecord, NODE):
        registry.checkScore(provider, NODE, 1, b"")


def test_check_score_rejects_expired_record(registry, domain, att, accounts, provider, chain):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    chain.mine(timestamp=att.expiry + 1)
    with reverts(registry.AttestationRegistryExpired, att.expiry, ANY):
        registry.checkScore(provider, NODE, 1, b"")


def test_check_score_rejects_wrong_provider(registry, domain, att, accounts, provider):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    with reverts(registry.AttestationRegistryNotNodeOwner, NODE, accounts[4].address, provider.address):
        registry.checkScore(accounts[4], NODE, 1, b"")


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def _batch_of(atts, domain, keys=None):
    tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
    batch = Batch(tree.root, atts[0].epoch, atts[0].expiry)
    keys = ORACLE_KEYS[:3] if keys is None else keys
    sigs = aggregate(
        [sign_batch(k, domain, batch) for k in keys], len(keys), digest=batch_digest(domain, batch)
    )
    return tree, batch, sigs


def _many(att, n):
    return [att] + [replace(att, nodeId=node_id(f"other-{i}")) for i in range(n - 1)]


def test_submit_batch_accepts_root_and_proof_checks_score(registry, domain, att, accounts, provider):
    atts = _many(att, 5)
    tree, batch, sigs = _batch_of(atts, domain)
    tx = registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    [ev] = tx.events.filter(registry.BatchSubmitted)
    assert ev.root == batch.root and ev.epoch == 1 and ev.expiry == batch.expiry
    info = registry.batchOf(batch.root)
    assert (info.epoch, info.expiry) == (1, batch.expiry)
    proof = encode_score_proof(att, batch.root, tree.proof(0))
    assert registry.checkScore(provider, NODE, 9000, proof) == 9000


def test_submit_batch_rejects_resubmission(registry, domain, att, accounts):
    _, batch, sigs = _batch_of(_many(att, 3), domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    with reverts(registry.AttestationRegistryBatchExists, batch.root):
        registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])


def test_submit_batch_rejects_too_few_signers(registry, domain, att, accounts):
    _, batch, sigs = _batch_of(_many(att, 3), domain, ORACLE_KEYS[:2])
    with reverts(registry.AttestationRegistryTooFewSignatures, 2, 3):
        registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])


def test_submit_batch_rejects_expired(registry, domain, att, accounts, chain):
    _, batch, sigs = _batch_of(_many(att, 3), domain)
    chain.mine(timestamp=batch.expiry)
    with reverts(registry.AttestationRegistryExpired, batch.expiry, ANY):
        registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])


def test_check_score_rejects_invalid_proof(registry, domain, att, accounts, provider):
    tree, batch, sigs = _batch_of(_many(att, 4), domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    forged = replace(att, score=9999)
    with reverts(registry.AttestationRegistryInvalidProof, batch.root, attestation_struct_hash(forged)):
        registry.checkScore(provider, NODE, 1, encode_score_proof(forged, batch.root, tree.proof(0)))


def test_check_score_rejects_unknown_batch(registry, att, provider):
    root = keccak(text="nobody signed this")
    with reverts(registry.AttestationRegistryUnknownBatch, root):
        registry.checkScore(provider, NODE, 1, encode_score_proof(att, root, []))


def test_check_score_rejects_proof_for_another_node(registry, domain, att, accounts, provider):
    atts = _many(att, 3)
    tree, batch, sigs = _batch_of(atts, domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    with reverts(registry.AttestationRegistryProofForOtherNode, att.provider, atts[1].nodeId):
        registry.checkScore(provider, NODE, 1, encode_score_proof(atts[1], batch.root, tree.proof(1)))


def test_check_score_rejects_batch_epoch_mismatch(registry, domain, att, accounts, provider):
    atts = _many(att, 2)
    tree, batch, _ = _batch_of(atts, domain)
    batch = Batch(batch.root, 2, batch.expiry)  # signed as epoch 2, leaves say epoch 1
    sigs = aggregate([sign_batch(k, domain, batch) for k in ORACLE_KEYS[:3]], 3)
    registry.submitBatch(batch.root, 2, batch.expiry, sigs, sender=accounts[9])
    with reverts(registry.AttestationRegistryBatchEpochMismatch, batch.root, 2, 1):
        registry.checkScore(provider, NODE, 1, encode_score_proof(att, batch.root, tree.proof(0)))


def test_record_from_batch_stores_latest_and_rejects_replay(registry, domain, att, accounts):
    tree, batch, sigs = _batch_of(_many(att, 3), domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    tx = registry.recordFromBatch(att.as_tuple(), batch.root, tree.proof(0), sender=accounts[8])
    [ev] = tx.events.filter(registry.AttestationRecorded)
    assert ev.batchRoot == batch.root and Attestation(*ev.attestation).epoch == 1
    assert registry.recordOf(NODE).score == 9000
    with reverts(registry.AttestationRegistryStaleEpoch, NODE, 1, 1):
        registry.recordFromBatch(att.as_tuple(), batch.root, tree.proof(0), sender=accounts[8])


def test_check_score_rejects_batch_older_than_record(registry, domain, att, accounts, provider):
    tree, batch, sigs = _batch_of(_many(att, 2), domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    att2 = replace(att, epoch=2, score=100)
    registry.submit(att2.as_tuple(), quorum_sigs(domain, att2), sender=accounts[9])
    with reverts(registry.AttestationRegistryStaleEpoch, NODE, 1, 2):
        registry.checkScore(provider, NODE, 1, encode_score_proof(att, batch.root, tree.proof(0)))


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def _fault(provider, finder, amount=100 * 10**18):
    return Fault(provider.address, NODE, 1, keccak(text="challenge failed"), amount, finder.address)


def test_report_fault_slashes_through_staking_with_the_split(
    registry, staking, protocol, domain, accounts, provider, treasury
):
    token = protocol["ComputeToken"]
    finder = accounts[7]
    fault = _fault(provider, finder)
    before = (token.balanceOf(finder), token.balanceOf(treasury), staking.providerInfo(provider)[0])
    tx = registry.reportFault(fault.as_tuple(), fault_sigs(domain, fault), sender=accounts[9])
    finder_cut = fault.slashAmount * staking.finderShareBps() // 10_000
    assert token.balanceOf(finder) - before[0] == finder_cut
    assert token.balanceOf(treasury) - before[1] == fault.slashAmount - finder_cut
    assert before[2] - staking.providerInfo(provider)[0] == fault.slashAmount
    [ev] = tx.events.filter(registry.FaultReported)
    assert ev["provider"] == provider.address and ev.slashed == fault.slashAmount and ev.finder == finder
    [slashed] = tx.events.filter(staking.Slashed)
    assert slashed.finderAmount == finder_cut


def test_report_fault_rejects_replay(registry, domain, accounts, provider):
    fault = _fault(provider, accounts[7])
    sigs = fault_sigs(domain, fault)
    registry.reportFault(fault.as_tuple(), sigs, sender=accounts[9])
    with reverts(
        registry.AttestationRegistryFaultAlreadyReported, registry.faultStructHash(fault.as_tuple())
    ):
        registry.reportFault(fault.as_tuple(), sigs, sender=accounts[9])


def test_a_zero_slash_fault_records_a_flag_and_moves_no_stake(
    registry, staking, protocol, domain, accounts, provider, treasury
):
    token = protocol["ComputeToken"]
    flag = Fault(provider.address, NODE, 1, keccak(text="oracle.latency.inconsistent"), 0, ZERO_ADDRESS)
    holders = (provider.address, treasury, staking.address)
    before = ([token.balanceOf(a) for a in holders], staking.providerInfo(provider))
    tx = registry.reportFault(flag.as_tuple(), fault_sigs(domain, flag), sender=accounts[9])
    assert ([token.balanceOf(a) for a in holders], staking.providerInfo(provider)) == before
    [ev] = tx.events.filter(registry.FaultReported)
    assert (ev.nodeId, ev.epoch, ev.reasonHash) == (NODE, 1, flag.reasonHash)
    assert ev.slashAmount == 0 and ev.slashed == 0 and ev.finder == ZERO_ADDRESS
    assert tx.events.filter(staking.Slashed) == []
    assert registry.faultReported(registry.faultStructHash(flag.as_tuple()))
    with reverts(registry.AttestationRegistryFaultAlreadyReported, registry.faultStructHash(flag.as_tuple())):
        registry.reportFault(flag.as_tuple(), fault_sigs(domain, flag), sender=accounts[9])


def test_a_zero_slash_fault_still_needs_k_signatures(registry, domain, accounts, provider):
    flag = Fault(provider.address, NODE, 1, keccak(text="oracle.latency.too_fast"), 0, ZERO_ADDRESS)
    with reverts(registry.AttestationRegistryTooFewSignatures, 2, 3):
        registry.reportFault(flag.as_tuple(), fault_sigs(domain, flag, ORACLE_KEYS[:2]), sender=accounts[9])


def test_report_fault_rejects_amount_above_max(registry, domain, accounts, provider):
    fault = _fault(provider, accounts[7], MAX_SLASH + 1)
    with reverts(registry.AttestationRegistrySlashTooLarge, MAX_SLASH + 1, MAX_SLASH):
        registry.reportFault(fault.as_tuple(), fault_sigs(domain, fault), sender=accounts[9])


def test_report_fault_rejects_too_few_signatures(registry, domain, accounts, provider):
    fault = _fault(provider, accounts[7])
    with reverts(registry.AttestationRegistryTooFewSignatures, 2, 3):
        registry.reportFault(fault.as_tuple(), fault_sigs(domain, fault, ORACLE_KEYS[:2]), sender=accounts[9])


# ---------------------------------------------------------------------------------------------
# Governance
# ---------------------------------------------------------------------------------------------


def test_add_and_remove_oracle_emit_events(registry, owner):
    tx = registry.addOracle(ORACLES[4], sender=owner)
    [ev] = tx.events.filter(registry.OracleAdded)
    assert ev.oracle == ORACLES[4] and ev.oracleCount == 5
    tx = registry.removeOracle(ORACLES[4], sender=owner)
    [ev] = tx.events.filter(registry.OracleRemoved)
    assert ev.oracle == ORACLES[4] and ev.oracleCount == 4
    assert not registry.isOracle(ORACLES[4])


def test_add_oracle_rejects_existing_and_zero(registry, owner):
    with reverts(registry.AttestationRegistryOracleExists, ORACLES[0]):
        registry.addOracle(ORACLES[0], sender=owner)
    with reverts(registry.AttestationRegistryZeroAddress):
        registry.addOracle("0x" + "00" * 20, sender=owner)


def test_remove_oracle_rejects_unknown_and_below_threshold(registry, owner):
    with reverts(registry.AttestationRegistryNotOracle, ORACLES[4]):
        registry.removeOracle(ORACLES[4], sender=owner)
    registry.removeOracle(ORACLES[3], sender=owner)  # 3 left, threshold 3
    with reverts(registry.AttestationRegistryThresholdOutOfBounds, 3, 2):
        registry.removeOracle(ORACLES[2], sender=owner)


def test_removed_oracle_signature_is_unknown(registry, owner, domain, att, accounts):
    registry.removeOracle(ORACLES[0], sender=owner)
    signers = sorted(ORACLES[:3], key=lambda a: int(a, 16))  # quorum_sigs orders by signer
    with reverts(registry.AttestationRegistryUnknownSigner, signers.index(ORACLES[0]), ORACLES[0]):
        registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])


def test_set_threshold_bounds_and_event(registry, owner):
    tx = registry.setThreshold(2, sender=owner)
    [ev] = tx.events.filter(registry.ThresholdSet)
    assert (ev.oldThreshold, ev.newThreshold) == (3, 2)
    with reverts(registry.AttestationRegistryThresholdOutOfBounds, 0, 4):
        registry.setThreshold(0, sender=owner)
    with reverts(registry.AttestationRegistryThresholdOutOfBounds, 5, 4):
        registry.setThreshold(5, sender=owner)


def test_set_max_validity_bounds_and_event(registry, owner):
    tx = registry.setMaxValidity(3600, sender=owner)
    [ev] = tx.events.filter(registry.MaxValiditySet)
    assert (ev.oldMaxValidity, ev.newMaxValidity) == (MAX_VALIDITY, 3600)
    with reverts(registry.AttestationRegistryMaxValidityOutOfBounds, 3599, 3600, 365 * 86400):
        registry.setMaxValidity(3599, sender=owner)
    with reverts(registry.AttestationRegistryMaxValidityOutOfBounds, 366 * 86400, 3600, 365 * 86400):
        registry.setMaxValidity(366 * 86400, sender=owner)


def test_set_max_slash_bounds_and_event(registry, owner):
    tx = registry.setMaxSlash(5, sender=owner)
    [ev] = tx.events.filter(registry.MaxSlashSet)
    assert (ev.oldMaxSlash, ev.newMaxSlash) == (MAX_SLASH, 5)
    with reverts(registry.AttestationRegistryMaxSlashOutOfBounds, 0, 10_000_000 * 10**18):
        registry.setMaxSlash(0, sender=owner)
    with reverts(
        registry.AttestationRegistryMaxSlashOutOfBounds, 10_000_000 * 10**18 + 1, 10_000_000 * 10**18
    ):
        registry.setMaxSlash(10_000_000 * 10**18 + 1, sender=owner)


def test_governance_setters_are_owner_only(registry, accounts):
    stranger = accounts[6]
    for name, arg in [
        ("addOracle", ORACLES[4]),
        ("removeOracle", ORACLES[0]),
        ("setThreshold", 2),
        ("setMaxValidity", 7200),
        ("setMaxSlash", 1),
    ]:
        with reverts(registry.OwnableUnauthorizedAccount, stranger.address):
            getattr(registry, name)(arg, sender=stranger)


def test_ownership_moves_in_two_steps(registry, owner, accounts):
    registry.transferOwnership(accounts[5], sender=owner)
    assert registry.owner() == owner.address
    registry.acceptOwnership(sender=accounts[5])
    assert registry.owner() == accounts[5].address


# ---------------------------------------------------------------------------------------------
# Property tests (eth_call: no state change between examples)
# ---------------------------------------------------------------------------------------------

ALL_KEYS = ORACLE_KEYS[:4] + OUTSIDER_KEYS


def _would_accept(registry, att, sigs, sender):
    try:
        registry.submit.call(att.as_tuple(), sigs, sender=sender)
        return True
    except ape.exceptions.ContractLogicError:
        return False


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(picks=st.lists(st.integers(0, len(ALL_KEYS) - 1), min_size=0, max_size=6), shuffle=st.booleans())
def test_property_only_k_distinct_ascending_oracles_accepted(registry, domain, att, accounts, picks, shuffle):
    digest = attestation_digest(domain, att)
    sigs = [sign_digest(ALL_KEYS[i], digest) for i in picks]
    if not shuffle:
        sigs.sort(key=lambda s: int(s.signer, 16))
    signers = [s.signer for s in sigs]
    ascending = all(int(a, 16) < int(b, 16) for a, b in zip(signers, signers[1:], strict=False))
    all_oracles = all(s in ORACLES[:4] for s in signers)
    expected = ascending and all_oracles and len(signers) >= 3
    assert _would_accept(registry, att, [s.signature for s in sigs], accounts[9]) == expected


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(subset=st.sets(st.integers(0, 3), min_size=3, max_size=4))
def test_property_any_k_valid_distinct_oracles_accepted(registry, domain, att, accounts, subset):
    sigs = quorum_sigs(domain, att, [ORACLE_KEYS[i] for i in sorted(subset)])
    assert _would_accept(registry, att, sigs, accounts[9])


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(epoch=st.integers(1, 2**20))
def test_property_replayed_epoch_always_rejected(registry, domain, att, accounts, epoch):
    a = replace(att, epoch=epoch)
    sigs = quorum_sigs(domain, a)
    snap = ape.chain.snapshot()
    try:
        registry.submit(a.as_tuple(), sigs, sender=accounts[9])
        assert not _would_accept(registry, a, sigs, accounts[9])
        older = replace(att, epoch=epoch - 1) if epoch > 1 else a
        assert not _would_accept(registry, older, quorum_sigs(domain, older), accounts[9])
    finally:
        ape.chain.restore(snap)


# ---------------------------------------------------------------------------------------------
# Gas targets
# ---------------------------------------------------------------------------------------------


def test_gas_targets_met(registry, protocol, owner, accounts, chain):
    from scripts.gas_oracle import format_rows, oracle_gas_rows

    counter = iter(range(10, 1000))

    def register(uuid):
        who = accounts[next(counter) % 10]
        if protocol["ComputeStaking"].nodeOwner(node_id(uuid)) == "0x" + "00" * 20:
            register_node(protocol, owner, who, uuid)
        return protocol["ComputeStaking"].nodeOwner(node_id(uuid))

    rows = oracle_gas_rows(registry, ORACLE_KEYS, register, accounts[9], chain)
    print("\n" + format_rows(rows))
    for op, _gas, ref, ratio in rows:
        if ref is not None:
            assert ratio <= 1.0, op


# ---------------------------------------------------------------------------------------------
# The escrow's hook: JobEscrow.acceptJob -> checkScore
# ---------------------------------------------------------------------------------------------


def _post_job(protocol, owner, requester, chain, min_score):
    token, escrow = protocol["ComputeToken"], protocol["JobEscrow"]
    token.transfer(requester, 10**21, sender=owner)
    token.approve(escrow, 10**20, sender=requester)
    tx = escrow.postJob(10**20, chain.pending_timestamp + 3600, min_score, 0, b"\x01" * 32, sender=requester)
    return tx.events.filter(escrow.JobPosted)[0].jobId


def test_escrow_accepts_a_job_on_the_stored_attestation(
    registry, protocol, domain, att, owner, provider, accounts, chain
):
    registry.submit(att.as_tuple(), quorum_sigs(domain, att), sender=accounts[9])
    escrow = protocol["JobEscrow"]
    assert escrow.scoreOracle() == registry.address
    job = _post_job(protocol, owner, accounts[4], chain, 9000)
    escrow.acceptJob(job, NODE, b"", sender=provider)
    too_high = _post_job(protocol, owner, accounts[4], chain, 9001)
    with reverts(registry.AttestationRegistryScoreTooLow, NODE, 9000, 9001):
        escrow.acceptJob(too_high, NODE, b"", sender=provider)


def test_escrow_accepts_a_job_with_a_batch_proof(
    registry, protocol, domain, att, owner, provider, accounts, chain
):
    tree, batch, sigs = _batch_of(_many(att, 6), domain)
    registry.submitBatch(batch.root, batch.epoch, batch.expiry, sigs, sender=accounts[9])
    job = _post_job(protocol, owner, accounts[4], chain, 9000)
    protocol["JobEscrow"].acceptJob(
        job, NODE, encode_score_proof(att, batch.root, tree.proof(0)), sender=provider
    )
    assert registry.recordOf(NODE).epoch == 0  # proven, not stored


# ---------------------------------------------------------------------------------------------
# scripts/deploy.py wiring
# ---------------------------------------------------------------------------------------------


def test_deploy_protocol_wires_the_registry(protocol, registry, staking, owner):
    assert protocol["JobEscrow"].scoreOracle() == registry.address
    assert staking.isSlasher(registry)
    assert registry.owner() == owner.address and registry.staking() == staking.address


def test_deploy_protocol_majority_threshold_and_deployment_file(accounts, tmp_path):
    import json

    from scripts.deploy import deploy_protocol

    path = tmp_path / "deployment.json"
    contracts = deploy_protocol(accounts[8], params={"oracles": ORACLES[:5]}, write_to=path)
    assert contracts["AttestationRegistry"].threshold() == 3  # 5 // 2 + 1
    doc = json.loads(path.read_text())
    assert doc["contracts"]["AttestationRegistry"]["address"] == contracts["AttestationRegistry"].address
