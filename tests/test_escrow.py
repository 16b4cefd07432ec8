"""JobEscrow: post (approve / permit), accept with collateral and score check, submit, settle with fee
and royalty, finalize, dispute and resolution, cancel, timeout with slash, governance, gas target."""

import ape
import pytest

from scripts._signing import evidence_hash, token_permit
from tests.conftest import CORE_PARAMS
from tests.support.core import (
    BPS,
    ETHER,
    MODEL_URI,
    advance,
    as_int,
    events,
    node_id,
    stake_and_register,
    timestamp_of,
    weights_hash,
)
from tests.support.reverts import reverts

ZERO = ape.utils.ZERO_ADDRESS
NONE, OPEN, ACCEPTED, SUBMITTED, DISPUTED, CLOSED = range(6)
DISPUTE_TIMEOUT = 14 * 86_400
BUDGET = 100 * ETHER
FEE = BUDGET * CORE_PARAMS["fee_bps"] // BPS
ROYALTY_BPS = 500
ROYALTY = BUDGET * ROYALTY_BPS // BPS
COLLATERAL = BUDGET * CORE_PARAMS["collateral_bps"] // BPS
WINDOW = CORE_PARAMS["challenge_window"]
SPEC = b"\x5e" * 32
RESULT = b"\x7e" * 32
ITEMS = [0, 41]
PROVIDER_STAKE = 10_000 * ETHER
FINDER_BPS, HARMED_BPS = CORE_PARAMS["finder_share_bps"], CORE_PARAMS["harmed_share_bps"]


# Module scope: set up once after the module's snapshot (Ape isolation), reverted after the module.
@pytest.fixture(scope="module")
def node(token, staking, provider):
    return stake_and_register(token, staking, provider, PROVIDER_STAKE, "GPU-escrow-0")


@pytest.fixture(scope="module")
def model(model_nft, creator):
    wh = weights_hash("job-model")
    model_nft.mint(creator, wh, MODEL_URI, creator, ROYALTY_BPS, sender=creator)
    return as_int(wh)


@pytest.fixture(scope="module", autouse=True)
def _escrow_world(protocol, node, model):
    """Set the module-scoped world up first (Ape snapshots per scope; late module fixtures are rebased)."""


@pytest.fixture
def oracle(project, deployer, escrow):
    stub = deployer.deploy(project.ScoreOracleStub)
    escrow.setScoreOracle(stub, sender=deployer)
    return stub


def post(escrow, token, requester, chain, budget=BUDGET, deadline_in=3600, min_score=0, model_id=0):
    token.approve(escrow, budget, sender=requester)
    deadline = chain.pending_timestamp + deadline_in
    tx = escrow.postJob(budget, deadline, min_score, model_id, SPEC, sender=requester)
    return tx, events(tx, escrow.JobPosted)[0]["jobId"]


@pytest.fixture
def job(escrow, token, requester, chain, model):
    """An open job for the royalty-carrying model."""
    return post(escrow, token, requester, chain, model_id=model)[1]


@pytest.fixture
def accepted(escrow, job, node, provider):
    escrow.acceptJob(job, node, b"", sender=provider)
    return job


@pytest.fixture
def submitted(escrow, accepted, provider):
    escrow.submitResult(accepted, RESULT, sender=provider)
    return accepted


@pytest.fixture
def disputed(escrow, submitted, requester):
    escrow.dispute(submitted, RESULT, ITEMS, sender=requester)
    return submitted


def locked(staking, who):
    return staking.providerInfo(who)[1]


def balances(token, *who):
    return [token.balanceOf(w) for w in who]


# ---------------------------------------------------------------- posting


def test_post_escrows_the_budget_and_emits(escrow, token, requester, creator, chain, model):
    before = token.balanceOf(requester)
    deadline = chain.pending_timestamp + 3600
    token.approve(escrow, BUDGET, sender=requester)
    tx = escrow.postJob(BUDGET, deadline, 7, model, SPEC, sender=requester)
    assert token.balanceOf(requester) == before - BUDGET
    assert token.balanceOf(escrow) == BUDGET
    assert events(tx, escrow.JobPosted) == [
        {
            "jobId": 1,
            "requester": requester,
            "modelId": model,
            "budget": BUDGET,
            "deadline": deadline,
            "minScore": 7,
            "specHash": SPEC,
            "royaltyReceiver": creator,
            "royaltyBps": ROYALTY_BPS,
        }
    ]
    assert tx.return_value == 1
    assert escrow.jobCount() == 1
    assert escrow.statusOf(1) == OPEN
    stored = escrow.getJob(1)
    assert (stored.requester, stored.deadline, stored.minScore, stored.status) == (
        requester,
        deadline,
        7,
        OPEN,
    )
    assert (stored.provider, stored.budget) == (ZERO, BUDGET)
    assert escrow.royaltyTermsOf(1) == (stored.royaltyReceiver, stored.royaltyBps)
    assert stored.collateralBps == CORE_PARAMS["collateral_bps"]
    assert escrow.collateralOf(1) == COLLATERAL


def test_post_rejects_a_zero_budget(escrow, requester, chain):
    with reverts(escrow.JobEscrowInvalidBudget, 0):
        escrow.postJob(0, chain.pending_timestamp + 60, 0, 0, SPEC, sender=requester)


def test_post_rejects_a_budget_above_uint96(escrow, requester, chain):
    with reverts(escrow.JobEscrowInvalidBudget, 2**96):
        escrow.postJob(2**96, chain.pending_timestamp + 60, 0, 0, SPEC, sender=requester)


def test_post_rejects_a_deadline_in_the_past(escrow, requester, chain):
    now = chain.pending_timestamp + 5
    chain.pending_timestamp = now  # pinned: the wall clock may tick before the block
    with reverts(escrow.JobEscrowInvalidDeadline, now, now):
        escrow.postJob(BUDGET, now, 0, 0, SPEC, sender=requester)


def test_post_rejects_a_deadline_beyond_a_year(escrow, requester, chain):
    now = chain.pending_timestamp + 5
    chain.pending_timestamp = now  # pinned: the wall clock may tick before the block
    far = now + 365 * 86400 + 1
    with reverts(escrow.JobEscrowInvalidDeadline, far, now):
        escrow.postJob(BUDGET, far, 0, 0, SPEC, sender=requester)


def test_post_without_allowance_reverts(escrow, token, requester, chain):
    with reverts(token.ERC20InsufficientAllowance, escrow, 0, BUDGET):
        escrow.postJob(BUDGET, chain.pending_timestamp + 60, 0, 0, SPEC, sender=requester)


def _permit(token, chain, requester, escrow, value):
    deadline = chain.pending_timestamp + 3600
    sig = token_permit(token, chain.chain_id, requester, requester.private_key, escrow, value, deadline)
    return deadline, sig


def test_post_with_permit_needs_no_prior_approval(escrow, token, requester, chain):
    deadline, sig = _permit(token, chain, requester, escrow, BUDGET)
    tx = escrow.postJobWithPermit(
        BUDGET, deadline, 0, 0, SPEC, deadline, sig.v, sig.r, sig.s, sender=requester
    )
    assert token.balanceOf(escrow) == BUDGET
    assert events(tx, escrow.JobPosted)[0]["requester"] == requester
    assert token.allowance(requester, escrow) == 0


def test_post_with_permit_tolerates_a_front_run_permit(escrow, token, requester, outsider, chain):
    deadline, sig = _permit(token, chain, requester, escrow, BUDGET)
    token.permit(requester, escrow, BUDGET, deadline, sig.v, sig.r, sig.s, sender=outsider)  # front-run
    escrow.postJobWithPermit(BUDGET, deadline, 0, 0, SPEC, deadline, sig.v, sig.r, sig.s, sender=requester)
    assert token.balanceOf(escrow) == BUDGET


def test_post_with_a_failed_permit_and_no_allowance_reverts(escrow, token, requester, chain):
    deadline, sig = _permit(token, chain, requester, escrow, BUDGET - 1)  # signed for another value
    with reverts(escrow.JobEscrowPermitFailed, requester, BUDGET, 0):
        escrow.postJobWithPermit(
            BUDGET, deadline, 0, 0, SPEC, deadline, sig.v, sig.r, sig.s, sender=requester
        )


# ---------------------------------------------------------------- cancel


def test_cancel_refunds_an_open_job(escrow, token, requester, job):
    before = token.balanceOf(requester)
    tx = escrow.cancelJob(job, sender=requester)
    assert token.balanceOf(requester) == before + BUDGET
    assert token.balanceOf(escrow) == 0
    assert events(tx, escrow.JobCancelled) == [{"jobId": job, "requester": requester, "refund": BUDGET}]
    assert escrow.statusOf(job) == CLOSED


def test_cancel_by_someone_else_reverts(escrow, requester, outsider, job):
    with reverts(escrow.JobEscrowNotRequester, job, outsider, requester):
        escrow.cancelJob(job, sender=outsider)


def test_cancel_after_acceptance_reverts(escrow, requester, accepted):
    with reverts(escrow.JobEscrowWrongStatus, accepted, ACCEPTED, OPEN):
        escrow.cancelJob(accepted, sender=requester)


def test_cancel_twice_reverts(escrow, requester, job):
    escrow.cancelJob(job, sender=requester)
    with reverts(escrow.JobEscrowWrongStatus, job, CLOSED, OPEN):
        escrow.cancelJob(job, sender=requester)


# ---------------------------------------------------------------- accept


def test_accept_locks_collateral_and_emits(escrow, staking, provider, job, node):
    tx = escrow.acceptJob(job, node, b"", sender=provider)
    assert events(tx, escrow.JobAccepted) == [
        {"jobId": job, "provider": provider, "nodeId": node, "collateral": COLLATERAL}
    ]
    assert locked(staking, provider) == COLLATERAL
    assert escrow.statusOf(job) == ACCEPTED
    assert escrow.getJob(job).provider == provider


def test_accept_of_an_unknown_job_reverts(escrow, provider, node):
    with reverts(escrow.JobEscrowWrongStatus, 42, NONE, OPEN):
        escrow.acceptJob(42, node, b"", sender=provider)


def test_accept_twice_reverts(escrow, provider, accepted, node):
    with reverts(escrow.JobEscrowWrongStatus, accepted, ACCEPTED, OPEN):
        escrow.acceptJob(accepted, node, b"", sender=provider)


def test_accept_after_the_deadline_reverts(escrow, chain, provider, job, node):
    deadline = escrow.getJob(job).deadline
    chain.pending_timestamp = deadline + 1
    with reverts(escrow.JobEscrowDeadlinePassed, job, deadline, deadline + 1):
        escrow.acceptJob(job, node, b"", sender=provider)


def test_requester_cannot_accept_its_own_job(escrow, token, staking, requester, job):
    own = stake_and_register(token, staking, requester, PROVIDER_STAKE, "GPU-requester")
    with reverts(escrow.JobEscrowRequesterCannotProvide, job, requester):
        escrow.acceptJob(job, own, b"", sender=requester)


def test_accept_with_someone_elses_node_reverts(escrow, token, staking, outsider, provider, job, node):
    stake_and_register(token, staking, outsider, PROVIDER_STAKE, "GPU-outsider")
    with reverts(escrow.JobEscrowNotNodeOwner, node, outsider, provider):
        escrow.acceptJob(job, node, b"", sender=outsider)


def test_accept_with_an_unregistered_node_reverts(escrow, provider, job, node):
    ghost = node_id("GPU-ghost")
    with reverts(escrow.JobEscrowNotNodeOwner, ghost, provider, ZERO):
        escrow.acceptJob(job, ghost, b"", sender=provider)


def test_accept_without_enough_free_stake_reverts(escrow, token, staking, requester, provider, chain, node):
    budget = 20_000 * ETHER  # collateral 10,000 > free 9,000
    _, big = post(escrow, token, requester, chain, budget=budget)
    free = staking.freeStake(provider)
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, budget // 2, free):
        escrow.acceptJob(big, node, b"", sender=provider)


def test_min_score_without_an_oracle_reverts(escrow, token, requester, provider, chain, node):
    _, scored = post(escrow, token, requester, chain, min_score=50)
    with reverts(escrow.JobEscrowScoreOracleUnset, scored, 50):
        escrow.acceptJob(scored, node, b"", sender=provider)


def test_min_score_below_the_verified_score_reverts(escrow, token, requester, provider, chain, node, oracle):
    oracle.setScore(provider, node, 49, sender=provider)
    _, scored = post(escrow, token, requester, chain, min_score=50)
    with reverts(oracle.ScoreOracleStubScoreTooLow, provider, node, 49, 50):
        escrow.acceptJob(scored, node, b"", sender=provider)


def test_min_score_met_is_accepted(escrow, token, requester, provider, chain, node, oracle):
    oracle.setScore(provider, node, 50, sender=provider)
    _, scored = post(escrow, token, requester, chain, min_score=50)
    escrow.acceptJob(scored, node, b"", sender=provider)
    assert escrow.statusOf(scored) == ACCEPTED


# ---------------------------------------------------------------- submit


def test_submit_opens_the_challenge_window(escrow, chain, provider, accepted):
    tx = escrow.submitResult(accepted, RESULT, sender=provider)
    end = timestamp_of(chain, tx) + WINDOW
    assert events(tx, escrow.ResultSubmitted) == [
        {"jobId": accepted, "provider": provider, "resultHash": RESULT, "challengeEnd": end}
    ]
    assert escrow.statusOf(accepted) == SUBMITTED
    assert escrow.getJob(accepted).deadline == end


def test_submit_by_someone_else_reverts(escrow, outsider, provider, accepted):
    with reverts(escrow.JobEscrowNotProvider, accepted, outsider, provider):
        escrow.submitResult(accepted, RESULT, sender=outsider)


def test_submit_before_acceptance_reverts(escrow, provider, job):
    with reverts(escrow.JobEscrowWrongStatus, job, OPEN, ACCEPTED):
        escrow.submitResult(job, RESULT, sender=provider)


def test_submit_after_the_deadline_reverts(escrow, chain, provider, accepted):
    deadline = escrow.getJob(accepted).deadline
    chain.pending_timestamp = deadline + 1
    with reverts(escrow.JobEscrowDeadlinePassed, accepted, deadline, deadline + 1):
        escrow.submitResult(accepted, RESULT, sender=provider)


def test_submit_of_a_zero_hash_reverts(escrow, provider, accepted):
    with reverts(escrow.JobEscrowZeroResultHash, accepted):
        escrow.submitResult(accepted, b"\x00" * 32, sender=provider)


def test_submit_twice_reverts(escrow, provider, submitted):
    with reverts(escrow.JobEscrowWrongStatus, submitted, SUBMITTED, ACCEPTED):
        escrow.submitResult(submitted, RESULT, sender=provider)


# ---------------------------------------------------------------- settle


def test_approve_settles_fee_royalty_and_provider_in_one_transaction(
    escrow, token, staking, requester, provider, creator, treasury, submitted
):
    before = balances(token, treasury, creator, provider)
    held = token.balanceOf(escrow)
    tx = escrow.approveResult(submitted, sender=requester)
    paid = BUDGET - FEE - ROYALTY
    assert balances(token, treasury, creator, provider) == [
        before[0] + FEE,
        before[1] + ROYALTY,
        before[2] + paid,
    ]
    assert token.balanceOf(escrow) == held - BUDGET  # this job's budget left, all of it
    assert events(tx, escrow.JobSettled) == [
        {
            "jobId": submitted,
            "provider": provider,
            "fee": FEE,
            "royalty": ROYALTY,
            "royaltyReceiver": creator,
            "providerAmount": paid,
        }
    ]
    assert locked(staking, provider) == 0
    assert escrow.statusOf(submitted) == CLOSED


def test_approve_by_someone_else_reverts(escrow, requester, outsider, submitted):
    with reverts(escrow.JobEscrowNotRequester, submitted, outsider, requester):
        escrow.approveResult(submitted, sender=outsider)


def test_approve_before_submission_reverts(escrow, requester, accepted):
    with reverts(escrow.JobEscrowWrongStatus, accepted, ACCEPTED, SUBMITTED):
        escrow.approveResult(accepted, sender=requester)


def test_no_double_settlement(escrow, requester, outsider, chain, submitted):
    escrow.approveResult(submitted, sender=requester)
    with reverts(escrow.JobEscrowWrongStatus, submitted, CLOSED, SUBMITTED):
        escrow.approveResult(submitted, sender=requester)
    advance(chain, WINDOW + 1)
    with reverts(escrow.JobEscrowWrongStatus, submitted, CLOSED, SUBMITTED):
        escrow.finalize(submitted, sender=outsider)


def test_finalize_during_the_challenge_window_reverts(escrow, chain, outsider, submitted):
    end = escrow.getJob(submitted).deadline
    chain.pending_timestamp = end
    with reverts(escrow.JobEscrowChallengeWindowOpen, submitted, end, end):
        escrow.finalize(submitted, sender=outsider)


def test_anyone_finalizes_after_the_challenge_window(escrow, token, chain, outsider, provider, submitted):
    advance(chain, WINDOW + 1)
    before = token.balanceOf(provider)
    tx = escrow.finalize(submitted, sender=outsider)
    assert token.balanceOf(provider) == before + BUDGET - FEE - ROYALTY
    assert len(events(tx, escrow.JobSettled)) == 1
    assert escrow.statusOf(submitted) == CLOSED


def test_a_job_without_a_model_pays_no_royalty(escrow, token, requester, provider, chain, node):
    _, plain = post(escrow, token, requester, chain)
    escrow.acceptJob(plain, node, b"", sender=provider)
    escrow.submitResult(plain, RESULT, sender=provider)
    before = token.balanceOf(provider)
    tx = escrow.approveResult(plain, sender=requester)
    assert token.balanceOf(provider) == before + BUDGET - FEE
    assert events(tx, escrow.JobSettled)[0]["royaltyReceiver"] == ZERO


def test_a_governance_slash_leaves_the_running_jobs_collateral_locked(
    escrow, staking, token, deployer, requester, provider, submitted
):
    staked = staking.providerInfo(provider).staked
    staking.slash(provider, staked, ZERO, ZERO, sender=deployer)  # asks for everything
    assert locked(staking, provider) == COLLATERAL == staking.providerInfo(provider).staked
    escrow.approveResult(submitted, sender=requester)
    assert escrow.statusOf(submitted) == CLOSED
    assert (staking.providerInfo(provider).staked, locked(staking, provider)) == (COLLATERAL, 0)


def test_collateral_rate_is_fixed_when_the_job_is_posted(
    escrow, staking, deployer, requester, provider, job, node
):
    escrow.setCollateralBps(20_000, sender=deployer)
    escrow.acceptJob(job, node, b"", sender=provider)
    assert locked(staking, provider) == COLLATERAL
    escrow.submitResult(job, RESULT, sender=provider)
    escrow.approveResult(job, sender=requester)
    assert locked(staking, provider) == 0


# ---------------------------------------------------------------- disputes


def test_dispute_within_the_window(escrow, chain, requester, submitted):
    tx = escrow.dispute(submitted, RESULT, ITEMS, sender=requester)
    resolve_by = tx.timestamp + DISPUTE_TIMEOUT
    assert events(tx, escrow.JobDisputed) == [
        {
            "jobId": submitted,
            "requester": requester,
            "resultHash": RESULT,
            "evidenceHash": evidence_hash(ITEMS),
            "items": ITEMS,
            "bond": 0,
            "resolveBy": resolve_by,
        }
    ]
    assert escrow.statusOf(submitted) == DISPUTED
    assert escrow.getJob(submitted).deadline == resolve_by  # the field now holds the arbiters' deadline


def test_dispute_after_the_window_reverts(escrow, chain, requester, submitted):
    end = escrow.getJob(submitted).deadline
    chain.pending_timestamp = end + 1
    with reverts(escrow.JobEscrowChallengeWindowClosed, submitted, end, end + 1):
        escrow.dispute(submitted, RESULT, ITEMS, sender=requester)


def test_dispute_by_someone_else_reverts(escrow, requester, outsider, submitted):
    with reverts(escrow.JobEscrowNotRequester, submitted, outsider, requester):
        escrow.dispute(submitted, RESULT, ITEMS, sender=outsider)


def test_dispute_before_submission_reverts(escrow, requester, accepted):
    with reverts(escrow.JobEscrowWrongStatus, accepted, ACCEPTED, SUBMITTED):
        escrow.dispute(accepted, RESULT, ITEMS, sender=requester)


def test_a_disputed_job_cannot_be_finalized(escrow, chain, outsider, disputed):
    advance(chain, WINDOW + 1)
    with reverts(escrow.JobEscrowWrongStatus, disputed, DISPUTED, SUBMITTED):
        escrow.finalize(disputed, sender=outsider)


def test_governance_resolves_a_dispute_with_split_and_slash(
    escrow, token, staking, deployer, requester, provider, creator, treasury, disputed
):
    share, slash = 6_000, 20 * ETHER
    price = BUDGET * share // BPS
    fee, royalty = price * CORE_PARAMS["fee_bps"] // BPS, price * ROYALTY_BPS // BPS
    refund = BUDGET - price
    finder = slash * FINDER_BPS // BPS
    harmed = slash * HARMED_BPS // BPS
    before = balances(token, requester, provider, creator, treasury)
    staked_before = staking.providerInfo(provider)[0]
    held = token.balanceOf(escrow)
    tx = escrow.resolveDispute(disputed, share, slash, sender=deployer)
    assert balances(token, requester, provider, creator, treasury) == [
        before[0] + refund + finder + harmed,  # requester is finder and harmed
        before[1] + price - fee - royalty,
        before[2] + royalty,
        before[3] + fee + (slash - finder - harmed),
    ]
    assert events(tx, escrow.DisputeResolved) == [
        {
            "jobId": disputed,
            "arbiter": deployer,
            "providerShareBps": share,
            "refund": refund,
            "slashed": slash,
        }
    ]
    assert locked(staking, provider) == 0
    assert staking.providerInfo(provider)[0] == staked_before - slash
    assert escrow.statusOf(disputed) == CLOSED
    assert token.balanceOf(escrow) == held - BUDGET  # the slash went straight from staking


def test_an_authorised_arbiter_resolves_a_full_refund(escrow, token, deployer, outsider, requester, disputed):
    escrow.setArbiter(outsider, True, sender=deployer)
    before = token.balanceOf(requester)
    tx = escrow.resolveDispute(disputed, 0, 0, sender=outsider)
    assert token.balanceOf(requester) == before + BUDGET
    assert events(tx, escrow.JobSettled) == []
    assert escrow.statusOf(disputed) == CLOSED


def test_resolve_by_a_stranger_reverts(escrow, outsider, disputed):
    with reverts(escrow.JobEscrowNotArbiter, outsider):
        escrow.resolveDispute(disputed, 0, 0, sender=outsider)


def test_resolve_with_a_share_above_100_percent_reverts(escrow, deployer, disputed):
    with reverts(escrow.JobEscrowInvalidShare, 10_001):
        escrow.resolveDispute(disputed, 10_001, 0, sender=deployer)


def test_resolve_with_a_slash_above_the_collateral_reverts(escrow, deployer, disputed):
    with reverts(escrow.JobEscrowSlashExceedsCollateral, disputed, COLLATERAL + 1, COLLATERAL):
        escrow.resolveDispute(disputed, 0, COLLATERAL + 1, sender=deployer)


def test_resolve_of_an_undisputed_job_reverts(escrow, deployer, submitted):
    with reverts(escrow.JobEscrowWrongStatus, submitted, SUBMITTED, DISPUTED):
        escrow.resolveDispute(submitted, 0, 0, sender=deployer)


def test_an_undecided_dispute_expires_half_and_half_without_a_slash(
    escrow, token, staking, chain, requester, provider, creator, treasury, outsider, disputed
):
    resolve_by = escrow.getJob(disputed).deadline
    chain.pending_timestamp = resolve_by
    with reverts(escrow.JobEscrowDisputeNotExpired, disputed, resolve_by, resolve_by):
        escrow.expireDispute(disputed, sender=outsider)
    chain.pending_timestamp = resolve_by + 1
    price = BUDGET * escrow.EXPIRED_DISPUTE_PROVIDER_BPS() // BPS
    fee, royalty = price * CORE_PARAMS["fee_bps"] // BPS, price * ROYALTY_BPS // BPS
    before = balances(token, requester, provider, creator, treasury)
    staked_before = staking.providerInfo(provider)[0]
    held = token.balanceOf(escrow)
    tx = escrow.expireDispute(disputed, sender=outsider)  # anyone may close it
    assert balances(token, requester, provider, creator, treasury) == [
        before[0] + BUDGET - price,
        before[1] + price - fee - royalty,
        before[2] + royalty,
        before[3] + fee,
    ]
    assert events(tx, escrow.DisputeExpired) == [
        {"jobId": disputed, "caller": outsider, "refund": BUDGET - price}
    ]
    assert events(tx, escrow.DisputeResolved) == []
    assert locked(staking, provider) == 0 and staking.providerInfo(provider)[0] == staked_before  # no slash
    assert escrow.statusOf(disputed) == CLOSED and token.balanceOf(escrow) == held - BUDGET
    with reverts(escrow.JobEscrowWrongStatus, disputed, CLOSED, DISPUTED):
        escrow.expireDispute(disputed, sender=outsider)


def test_arbiters_may_still_decide_after_the_timeout_until_someone_expires_the_dispute(
    escrow, token, chain, deployer, requester, outsider, disputed
):
    chain.pending_timestamp = escrow.getJob(disputed).deadline + 1
    before = token.balanceOf(requester)
    escrow.resolveDispute(disputed, 0, 0, sender=deployer)
    assert token.balanceOf(requester) == before + BUDGET
    with reverts(escrow.JobEscrowWrongStatus, disputed, CLOSED, DISPUTED):
        escrow.expireDispute(disputed, sender=outsider)


def test_only_a_disputed_job_can_expire(escrow, chain, outsider, submitted):
    advance(chain, DISPUTE_TIMEOUT + WINDOW + 1)
    with reverts(escrow.JobEscrowWrongStatus, submitted, SUBMITTED, DISPUTED):
        escrow.expireDispute(submitted, sender=outsider)


# ---------------------------------------------------------------- timeouts


def test_claim_timeout_refunds_and_slashes_the_collateral(
    escrow, token, staking, chain, requester, provider, outsider, treasury, accepted
):
    advance(chain, 3601)
    before = balances(token, requester, outsider, treasury)
    staked_before = staking.providerInfo(provider)[0]
    tx = escrow.claimTimeout(accepted, sender=outsider)
    finder = COLLATERAL * FINDER_BPS // BPS
    harmed = COLLATERAL * HARMED_BPS // BPS
    assert balances(token, requester, outsider, treasury) == [
        before[0] + BUDGET + harmed,
        before[1] + finder,
        before[2] + COLLATERAL - finder - harmed,
    ]
    assert events(tx, escrow.JobTimedOut) == [
        {"jobId": accepted, "provider": provider, "caller": outsider, "refund": BUDGET, "slashed": COLLATERAL}
    ]
    assert locked(staking, provider) == 0
    assert staking.providerInfo(provider)[0] == staked_before - COLLATERAL
    assert escrow.statusOf(accepted) == CLOSED


def test_claim_timeout_before_the_deadline_reverts(escrow, chain, outsider, accepted):
    deadline = escrow.getJob(accepted).deadline
    chain.pending_timestamp = deadline
    with reverts(escrow.JobEscrowDeadlineNotPassed, accepted, deadline, deadline):
        escrow.claimTimeout(accepted, sender=outsider)


def test_claim_timeout_of_an_unaccepted_job_reverts(escrow, chain, outsider, job):
    advance(chain, 3601)
    with reverts(escrow.JobEscrowWrongStatus, job, OPEN, ACCEPTED):
        escrow.claimTimeout(job, sender=outsider)


def test_claim_timeout_of_a_submitted_job_reverts(escrow, chain, outsider, submitted):
    advance(chain, 3601)
    with reverts(escrow.JobEscrowWrongStatus, submitted, SUBMITTED, ACCEPTED):
        escrow.claimTimeout(submitted, sender=outsider)


# ---------------------------------------------------------------- governance


def test_fee_setter_is_bounded_and_emits(escrow, deployer):
    tx = escrow.setFeeBps(1_000, sender=deployer)
    assert events(tx, escrow.FeeBpsSet) == [{"oldValue": 250, "newValue": 1_000}]
    assert escrow.feeBps() == 1_000
    with reverts(escrow.JobEscrowValueOutOfBounds, "feeBps", 1_001, 0, 1_000):
        escrow.setFeeBps(1_001, sender=deployer)


def test_collateral_setter_is_bounded_and_emits(escrow, deployer):
    tx = escrow.setCollateralBps(0, sender=deployer)
    assert events(tx, escrow.CollateralBpsSet) == [{"oldValue": CORE_PARAMS["collateral_bps"], "newValue": 0}]
    with reverts(escrow.JobEscrowValueOutOfBounds, "collateralBps", 30_001, 0, 30_000):
        escrow.setCollateralBps(30_001, sender=deployer)


def test_challenge_window_setter_is_bounded_and_emits(escrow, deployer):
    tx = escrow.setChallengeWindow(600, sender=deployer)
    assert events(tx, escrow.ChallengeWindowSet) == [{"oldValue": WINDOW, "newValue": 600}]
    assert escrow.challengeWindow() == 600
    with reverts(escrow.JobEscrowValueOutOfBounds, "challengeWindow", 599, 600, 30 * 86400):
        escrow.setChallengeWindow(599, sender=deployer)
    with reverts(escrow.JobEscrowValueOutOfBounds, "challengeWindow", 30 * 86400 + 1, 600, 30 * 86400):
        escrow.setChallengeWindow(30 * 86400 + 1, sender=deployer)


def test_treasury_setter_rejects_zero_and_emits(escrow, deployer, treasury, outsider):
    tx = escrow.setTreasury(outsider, sender=deployer)
    assert events(tx, escrow.TreasurySet) == [{"oldTreasury": treasury, "newTreasury": outsider}]
    assert escrow.treasury() == outsider
    with reverts(escrow.JobEscrowZeroAddress, "treasury"):
        escrow.setTreasury(ZERO, sender=deployer)


def test_score_oracle_setter_emits_and_may_unset(escrow, deployer, outsider):
    tx = escrow.setScoreOracle(outsider, sender=deployer)
    assert events(tx, escrow.ScoreOracleSet) == [{"oldOracle": ZERO, "newOracle": outsider}]
    escrow.setScoreOracle(ZERO, sender=deployer)
    assert escrow.scoreOracle() == ZERO


def test_arbiter_setter_emits_and_rejects_zero(escrow, deployer, outsider):
    tx = escrow.setArbiter(outsider, True, sender=deployer)
    assert events(tx, escrow.ArbiterSet) == [{"account": outsider, "allowed": True}]
    assert escrow.isArbiter(outsider)
    with reverts(escrow.JobEscrowZeroAddress, "arbiter"):
        escrow.setArbiter(ZERO, True, sender=deployer)


@pytest.mark.parametrize(
    "call",
    [
        ("setFeeBps", 1),
        ("setCollateralBps", 1),
        ("setChallengeWindow", 3600),
        ("setTreasury", "self"),
        ("setScoreOracle", "self"),
        ("setArbiter", "self", True),
    ],
)
def test_governance_setters_are_owner_only(escrow, outsider, call):
    name, *args = call
    args = [outsider if a == "self" else a for a in args]
    with reverts(escrow.OwnableUnauthorizedAccount, outsider):
        getattr(escrow, name)(*args, sender=outsider)


# ---------------------------------------------------------------- invariants and gas


def test_escrow_holds_every_open_budget(escrow, token, requester, provider, chain, node):
    held = token.balanceOf(escrow)  # budgets of jobs still open before this test (none when isolated)
    ids = [post(escrow, token, requester, chain, budget=(i + 1) * ETHER)[1] for i in range(3)]
    escrow.acceptJob(ids[0], node, b"", sender=provider)
    escrow.cancelJob(ids[1], sender=requester)
    assert token.balanceOf(escrow) == held + 1 * ETHER + 3 * ETHER


def test_lifecycle_gas_is_within_300k(escrow, token, requester, provider, chain, node, model):
    def lifecycle():
        posted, job_id = post(escrow, token, requester, chain, model_id=model)
        gas = [posted.gas_used]
        gas.append(escrow.acceptJob(job_id, node, b"", sender=provider).gas_used)
        gas.append(escrow.submitResult(job_id, RESULT, sender=provider).gas_used)
        gas.append(escrow.approveResult(job_id, sender=requester).gas_used)
        return gas

    lifecycle()  # warm-up: treasury, royalty receiver and provider hold tokens afterwards
    post(escrow, token, requester, chain)  # another open job: the escrow's balance stays non-zero
    gas = lifecycle()
    assert sum(gas) <= 300_000, f"lifecycle {sum(gas)} = {gas}"


# ---------------------------------------------------------------- disputes by verdict (see test_dispute_verdict.py)


def test_a_verdict_needs_the_oracle_quorum_set(escrow, chain, outsider, disputed):
    expiry = chain.pending_timestamp + 600
    with reverts(escrow.JobEscrowQuorumUnset, disputed):
        escrow.settleDispute(disputed, RESULT, evidence_hash(ITEMS), True, expiry, [], sender=outsider)


def test_dispute_bond_setter_is_bounded_and_emits(escrow, deployer, outsider):
    top = escrow.MAX_DISPUTE_BOND()
    tx = escrow.setDisputeBond(top, sender=deployer)
    assert events(tx, escrow.DisputeBondSet) == [{"oldValue": 0, "newValue": top}]
    assert escrow.disputeBond() == top
    with reverts(escrow.JobEscrowValueOutOfBounds, "disputeBond", top + 1, 0, top):
        escrow.setDisputeBond(top + 1, sender=deployer)
    with reverts(escrow.OwnableUnauthorizedAccount, outsider):
        escrow.setDisputeBond(1, sender=outsider)
