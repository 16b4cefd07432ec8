"""Disputes settled by evidence (issue 14 item 6), through the governed deployment: a dispute names
the result items it claims are wrong and costs a bond; k of n oracles (the AttestationRegistry's set,
threshold 2 of 3) sign an EIP-712 `DisputeVerdict` in the escrow's domain, built by
scripts/_signing.py; `settleDispute` refunds and slashes, or pays the provider and gives it the bond.
Every amount is checked to the wei; every refusal with its exact custom error."""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from oracle.inventory import synthetic_uuid
from scripts._signing import (
    EvidenceError,
    dispute_verdict_typed_data,
    evidence_hash,
    sign_dispute_verdict,
    verdict_signatures,
)
from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.support.dao import advance
from tests.support.oracle import ORACLE_KEYS, ORACLES, OUTSIDER_KEYS
from tests.support.reverts import reverts as reverts_with

BPS = 10_000
ETHER = 10**18
GPU_UUID = synthetic_uuid("GPU-verdict-node")
NODE = keccak(text=GPU_UUID)
BUDGET = 1_000 * ETHER + 7  # odd on purpose: every split below must still add up to the wei
BOND = 10 * ETHER + 1
ROYALTY_BPS = 700
RESULT = keccak(text="merkle root of the outputs")
ITEMS = [3, 17, 255]
QUORUM_KEYS = ORACLE_KEYS[:3]  # the registry's oracles; threshold 2


@pytest.fixture(scope="module")
def actors(accounts):
    names = ("provider", "requester", "creator", "keeper", "arbiter")
    return dict(zip(names, accounts[1:6], strict=True))


@pytest.fixture(scope="module")
def protocol(deployer, actors, chain):
    params = {
        **DAO_DEVNET,
        "oracles": ORACLES[:3],
        "oracle_threshold": 2,
        "challenge_window": 600,
        "dispute_bond": BOND,
        "arbiters": [actors["arbiter"].address],
    }
    c = deploy_governed_protocol(deployer, params)
    token, staking = c["ComputeToken"], c["ComputeStaking"]
    for who in actors.values():
        token.transfer(who, 1_000_000 * ETHER, sender=deployer)
    provider = actors["provider"]
    token.approve(staking, 100_000 * ETHER, sender=provider)
    staking.stake(100_000 * ETHER, sender=provider)
    staking.registerNode(GPU_UUID, "NVIDIA H100 80GB HBM3", 81_559, "", sender=provider)
    token.approve(c["JobEscrow"], 2**256 - 1, sender=actors["requester"])
    weights = keccak(text="verdict model")
    c["ModelNFT"].mint(
        actors["creator"], weights, "ipfs://card", actors["creator"], ROYALTY_BPS, sender=actors["creator"]
    )
    c["model"] = int.from_bytes(weights, "big")
    return c


def disputed(c, actors, chain, items=ITEMS) -> int:
    """A job posted with the model, accepted, submitted and disputed over `items`."""
    escrow, requester = c["JobEscrow"], actors["requester"]
    escrow.postJob(BUDGET, chain.pending_timestamp + 3_600, 0, c["model"], b"\x01" * 32, sender=requester)
    job = escrow.jobCount()
    escrow.acceptJob(job, NODE, b"", sender=actors["provider"])
    escrow.submitResult(job, RESULT, sender=actors["provider"])
    escrow.dispute(job, RESULT, items, sender=requester)
    return job


def verdict(c, chain, job: int, at_fault: bool, *, keys=QUORUM_KEYS[:2], **overrides) -> dict:
    """Typed data of a verdict (overrides: result, evidence, expiry, chain_id, contract) and its
    signatures, ordered by signer."""
    data = dispute_verdict_typed_data(
        overrides.get("chain_id", chain.chain_id),
        overrides.get("contract", str(c["JobEscrow"].address)),
        job,
        overrides.get("result", RESULT),
        overrides.get("evidence", evidence_hash(ITEMS)),
        at_fault,
        overrides.get("expiry", chain.pending_timestamp + 3_600),
    )
    return {"data": data, "sigs": verdict_signatures(keys, data)}


def settle(c, actors, job: int, v: dict, sigs=None):
    m = v["data"]["message"]
    args = (job, m["resultHash"], m["evidenceHash"], m["providerAtFault"], m["expiry"], sigs or v["sigs"])
    return c["JobEscrow"].settleDispute(*args, sender=actors["keeper"])


def balances(c, *who) -> list[int]:
    return [c["ComputeToken"].balanceOf(w) for w in who]


def signer_of(digest: bytes, sig: bytes) -> str:
    return Account._recover_hash(digest, signature=sig)


# ---------------------------------------------------------------- the dispute


def test_a_dispute_commits_to_its_items_and_takes_the_bond(protocol, actors, chain):
    c, requester = protocol, actors["requester"]
    escrow = c["JobEscrow"]
    before = balances(c, requester, escrow)
    job = disputed(c, actors, chain)
    assert escrow.getJob(job).bond == BOND
    assert escrow.disputeCommitOf(job) == keccak(RESULT + evidence_hash(ITEMS))
    after = balances(c, requester, escrow)
    assert (before[0] - after[0], after[1] - before[1]) == (BUDGET + BOND, BUDGET + BOND)


def test_the_dispute_event_names_the_items_and_matches_the_python_hash(protocol, actors, chain):
    c, requester = protocol, actors["requester"]
    escrow = c["JobEscrow"]
    escrow.postJob(BUDGET, chain.pending_timestamp + 3_600, 0, 0, b"\x01" * 32, sender=requester)
    job = escrow.jobCount()
    escrow.acceptJob(job, NODE, b"", sender=actors["provider"])
    escrow.submitResult(job, RESULT, sender=actors["provider"])
    tx = escrow.dispute(job, RESULT, ITEMS, sender=requester)
    (ev,) = tx.events.filter(escrow.JobDisputed)
    assert (ev.resultHash, ev.evidenceHash, list(ev.items), ev.bond) == (
        RESULT,
        evidence_hash(ITEMS),
        ITEMS,
        BOND,
    )
    assert escrow.evidenceHashOf(job, ITEMS) == evidence_hash(ITEMS)


@pytest.mark.parametrize(
    "items, error, values",
    [
        ([], "JobEscrowInvalidItemCount", (0, 256)),
        (list(range(257)), "JobEscrowInvalidItemCount", (257, 256)),
        ([5, 5], "JobEscrowItemsNotAscending", (1, 5, 5)),
        ([1, 9, 4], "JobEscrowItemsNotAscending", (2, 9, 4)),
    ],
)
def test_a_dispute_must_name_1_to_256_ascending_items(protocol, actors, chain, items, error, values):
    c, requester = protocol, actors["requester"]
    escrow = c["JobEscrow"]
    escrow.postJob(BUDGET, chain.pending_timestamp + 3_600, 0, 0, b"\x01" * 32, sender=requester)
    job = escrow.jobCount()
    escrow.acceptJob(job, NODE, b"", sender=actors["provider"])
    escrow.submitResult(job, RESULT, sender=actors["provider"])
    with reverts_with(getattr(escrow, error), job, *values):
        escrow.dispute(job, RESULT, items, sender=requester)
    with pytest.raises(EvidenceError):
        evidence_hash(items)


# ---------------------------------------------------------------- both outcomes, to the wei


def test_a_verdict_of_fault_refunds_budget_and_bond_and_slashes_the_collateral(protocol, actors, chain):
    c, provider, requester = protocol, actors["provider"], actors["requester"]
    escrow, staking, treasury = c["JobEscrow"], c["ComputeStaking"], c["Treasury"]
    job = disputed(c, actors, chain)
    collateral = escrow.collateralOf(job)
    staked_before = staking.providerInfo(provider).staked
    before = balances(c, requester, provider, treasury, escrow)
    tx = settle(c, actors, job, verdict(c, chain, job, True))
    after = balances(c, requester, provider, treasury, escrow)
    finder = collateral * staking.finderShareBps() // BPS
    harmed = collateral * staking.harmedShareBps() // BPS
    assert after[0] - before[0] == BUDGET + BOND + finder + harmed
    assert after[1] == before[1]  # the party at fault receives nothing
    assert after[2] - before[2] == collateral - finder - harmed
    assert before[3] - after[3] == BUDGET + BOND
    assert staking.providerInfo(provider)[:2] == (staked_before - collateral, 0)
    (ev,) = tx.events.filter(escrow.DisputeSettled)
    assert (ev.jobId, ev.providerAtFault, ev.refund, ev.slashed) == (job, True, BUDGET + BOND, collateral)
    (bond,) = tx.events.filter(escrow.DisputeBondPaid)
    assert (bond.toRequester, bond.toProvider) == (BOND, 0)
    assert escrow.statusOf(job) == 5 and escrow.disputeCommitOf(job) == b"\x00" * 32


def test_a_verdict_of_a_false_claim_pays_the_provider_and_gives_it_the_bond(protocol, actors, chain):
    c, provider, requester, creator = protocol, actors["provider"], actors["requester"], actors["creator"]
    escrow, staking, treasury = c["JobEscrow"], c["ComputeStaking"], c["Treasury"]
    job = disputed(c, actors, chain)
    before = balances(c, requester, provider, treasury, creator, escrow)
    tx = settle(c, actors, job, verdict(c, chain, job, False))
    after = balances(c, requester, provider, treasury, creator, escrow)
    fee = BUDGET * escrow.feeBps() // BPS
    royalty = BUDGET * ROYALTY_BPS // BPS
    assert after[0] == before[0]  # the requester's bond is gone, nothing comes back
    assert after[1] - before[1] == BUDGET - fee - royalty + BOND
    assert (after[2] - before[2], after[3] - before[3]) == (fee, royalty)
    assert before[4] - after[4] == BUDGET + BOND
    assert staking.providerInfo(provider).locked == 0
    (settled,) = tx.events.filter(escrow.JobSettled)
    assert (settled.fee, settled.royalty, settled.providerAmount) == (fee, royalty, BUDGET - fee - royalty)


@pytest.mark.parametrize("share", [0, 6_123, BPS])
def test_governance_resolution_splits_the_bond_like_the_budget(protocol, actors, chain, share):
    """The fallback: the bond follows the budget's split, floor to the provider, the rest back."""
    c, provider, requester = protocol, actors["provider"], actors["requester"]
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    before = balances(c, requester, provider, escrow)
    tx = escrow.resolveDispute(job, share, 0, sender=actors["arbiter"])
    after = balances(c, requester, provider, escrow)
    price, bond_to_provider = BUDGET * share // BPS, BOND * share // BPS
    fee = price * escrow.feeBps() // BPS
    royalty = price * ROYALTY_BPS // BPS
    assert after[0] - before[0] == (BUDGET - price) + (BOND - bond_to_provider)
    assert after[1] - before[1] == price - fee - royalty + bond_to_provider
    assert before[2] - after[2] == BUDGET + BOND
    (bond,) = tx.events.filter(escrow.DisputeBondPaid)
    assert (bond.toRequester, bond.toProvider) == (BOND - bond_to_provider, bond_to_provider)


def test_an_expired_dispute_splits_the_bond_half_and_half(protocol, actors, chain):
    c, provider, requester = protocol, actors["provider"], actors["requester"]
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    advance(chain, escrow.DISPUTE_TIMEOUT() + 1)
    before = balances(c, requester, provider)
    escrow.expireDispute(job, sender=actors["keeper"])
    after = balances(c, requester, provider)
    price = BUDGET // 2
    fee, royalty = price * escrow.feeBps() // BPS, price * ROYALTY_BPS // BPS
    assert after[0] - before[0] == (BUDGET - price) + (BOND - BOND // 2)
    assert after[1] - before[1] == price - fee - royalty + BOND // 2


# ---------------------------------------------------------------- refusals


def first_signer(escrow, job: int, v: dict) -> str:
    """Who the first signature recovers to against the digest the escrow computes for `job`."""
    m = v["data"]["message"]
    digest = escrow.hashDisputeVerdict(
        job, m["resultHash"], m["evidenceHash"], m["providerAtFault"], m["expiry"]
    )
    return signer_of(digest, v["sigs"][0])


@pytest.mark.parametrize("where", ["another job", "another chain", "another contract"])
def test_a_verdict_does_not_replay_elsewhere(protocol, actors, chain, where):
    c = protocol
    escrow, registry = c["JobEscrow"], c["AttestationRegistry"]
    job = disputed(c, actors, chain)
    other = disputed(c, actors, chain)
    overrides = {
        "another job": {},
        "another chain": {"chain_id": chain.chain_id + 1},
        "another contract": {"contract": str(registry.address)},
    }[where]
    signed_for = other if where == "another job" else job
    v = verdict(c, chain, signed_for, True, **overrides)
    stranger = first_signer(escrow, job, v)  # signed over another digest: recovers to nobody known
    assert stranger not in ORACLES
    with reverts_with(registry.AttestationRegistryUnknownSigner, 0, stranger):
        settle(c, actors, job, v)


def test_a_settled_verdict_cannot_be_used_again(protocol, actors, chain):
    c = protocol
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    v = verdict(c, chain, job, False)
    settle(c, actors, job, v)
    with reverts_with(escrow.JobEscrowWrongStatus, job, 5, 4):
        settle(c, actors, job, v)


def test_a_verdict_over_another_result_hash_is_refused(protocol, actors, chain):
    c = protocol
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    wrong = keccak(text="some other result")
    v = verdict(c, chain, job, True, result=wrong)
    with reverts_with(escrow.JobEscrowVerdictMismatch, job, wrong, evidence_hash(ITEMS)):
        settle(c, actors, job, v)


def test_a_verdict_over_other_items_is_refused(protocol, actors, chain):
    c = protocol
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    other = evidence_hash([1, 2])
    with reverts_with(escrow.JobEscrowVerdictMismatch, job, RESULT, other):
        settle(c, actors, job, verdict(c, chain, job, True, evidence=other))


def test_an_expired_verdict_is_refused(protocol, actors, chain):
    c = protocol
    escrow = c["JobEscrow"]
    job = disputed(c, actors, chain)
    expiry = chain.pending_timestamp + 10
    v = verdict(c, chain, job, True, expiry=expiry)
    advance(chain, 20)
    with ape.reverts(escrow.JobEscrowVerdictExpired, jobId=job, expiry=expiry):
        settle(c, actors, job, v)


def test_signers_must_be_a_sorted_quorum_of_oracles(protocol, actors, chain):
    c = protocol
    registry = c["AttestationRegistry"]
    job = disputed(c, actors, chain)
    v = verdict(c, chain, job, True)
    data = v["data"]
    lo, hi = v["sigs"]
    lo_signer = sign_dispute_verdict(QUORUM_KEYS[0], data)[0]
    signers = sorted(Account.from_key(k).address for k in QUORUM_KEYS[:2])
    assert lo_signer in signers
    with reverts_with(registry.AttestationRegistryTooFewSignatures, 1, 2):
        settle(c, actors, job, v, sigs=[lo])
    with reverts_with(registry.AttestationRegistrySignersNotAscending, 1, signers[0], signers[0]):
        settle(c, actors, job, v, sigs=[lo, lo])
    with reverts_with(registry.AttestationRegistrySignersNotAscending, 1, signers[1], signers[0]):
        settle(c, actors, job, v, sigs=[hi, lo])
    stranger_addr, stranger = sign_dispute_verdict(OUTSIDER_KEYS[0], data)
    mixed = sorted([(signers[0], lo), (stranger_addr, stranger)], key=lambda p: int(p[0], 16))
    index = [a for a, _ in mixed].index(stranger_addr)
    with reverts_with(registry.AttestationRegistryUnknownSigner, index, stranger_addr):
        settle(c, actors, job, v, sigs=[s for _, s in mixed])
    # all three oracles sign: more than the threshold is fine
    settle(c, actors, job, verdict(c, chain, job, True, keys=QUORUM_KEYS))


def test_the_python_typed_data_is_the_digest_the_escrow_signs_over(protocol, actors, chain):
    c = protocol
    escrow = c["JobEscrow"]
    data = verdict(c, chain, 7, True)["data"]
    m = data["message"]
    encoded = encode_typed_data(full_message=data)
    digest = keccak(b"\x19" + encoded.version + encoded.header + encoded.body)
    assert escrow.hashDisputeVerdict(7, m["resultHash"], m["evidenceHash"], True, m["expiry"]) == digest
