// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IComputeStaking} from "../interfaces/IComputeStaking.sol";
import {IScoreOracle} from "../interfaces/IScoreOracle.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IOracleQuorum} from "../interfaces/IOracleQuorum.sol";

/// @title JobEscrow
/// @notice Users post compute jobs with a token budget held in escrow; a staked provider accepts with
///         one of its registered GPUs (optionally proving a minimum verified benchmark score), locks
///         collateral, and submits a result hash before the deadline. The requester approves (or,
///         after the challenge window, anyone finalizes) and the escrow settles in one transaction:
///         protocol fee to the treasury, the model's ERC-2981 royalty to its receiver, the rest to the
///         provider, collateral unlocked. A dispute names the result items it claims are wrong and
///         costs the requester a governed dispute bond; the validators re-run those items and k of
///         n of them (the attestation registry's oracle set) sign an EIP-712 verdict that anyone
///         submits (`settleDispute`): a wrong result refunds the requester (budget and bond) and
///         slashes the whole collateral; a false claim pays the provider as a normal settlement and
///         gives it the bond. Governance or an authorised arbiter remain the fallback, with
///         DISPUTE_TIMEOUT to decide; a dispute nobody decided in time is split half and half by
///         anyone (`expireDispute`), so no budget stays locked. A missed deadline refunds the
///         requester and slashes the provider's collateral.
/// @dev Lifecycle: Open -accept-> Accepted -submit-> Submitted -approve/finalize-> Closed (settled)
///                 Open -cancel-> Closed;  Accepted -claimTimeout-> Closed (timed out)
///                 Submitted -dispute-> Disputed -settleDispute (k-of-n verdict)-> Closed (settled)
///                 Disputed -resolveDispute (governance, arbiter)-> Closed (resolved)
///                 Disputed -expireDispute (after DISPUTE_TIMEOUT)-> Closed (expired: 50/50, no slash)
///      How a job closed is told by its event (JobSettled, JobCancelled, JobTimedOut, DisputeSettled,
///      DisputeResolved, DisputeExpired).
///      Invariant: the escrow's token balance >= the sum of the budgets of jobs that are Open,
///      Accepted, Submitted or Disputed plus the bonds of Disputed jobs (each budget enters once at
///      post, each bond once at dispute, and each leaves exactly once, split, when the job closes).
///      Whichever way a dispute closes, the bond follows the budget: the provider receives
///      bond * providerShareBps / BPS of it and the requester the rest (a verdict: all to the
///      provider when the claim was false, all back to the requester when the provider was at fault;
///      an expired dispute: half each).
///
///      The verdict (EIP-712, domain name "JobEscrow", version "1", this chain, this contract):
///        DisputeVerdict(uint256 jobId,bytes32 resultHash,bytes32 evidenceHash,bool providerAtFault,uint64 expiry)
///      `resultHash` is the hash the provider submitted (ResultSubmitted), `evidenceHash` the dispute's
///      commitment to its items: keccak256 over the item indices, each a 32-byte big-endian word, in
///      the strictly ascending order the requester gave them (abi.encodePacked(uint32[])), emitted
///      with the indices in JobDisputed. Signatures are by the registry's oracles, signers strictly
///      ascending by address, at least its threshold (AttestationRegistry.verifyQuorum).
///
///      Storage layout of a job (three slots, the third only when a model with a royalty is used):
///        slot 0: requester (160) | deadline (40) | minScore (32) | status (8) | collateralBps (16)
///        slot 1: provider (160) | budget (96)
///        slot 2: royaltyReceiver (160) | royaltyBps (16) | bond (80)  -- the model's royalty terms snapshotted at
///                post time (a job names only a minted model), so the provider is paid under the terms
///                it saw when it accepted; nobody can raise the royalty or redirect it afterwards. The
///                model id itself is only emitted (JobPosted), the page reads it from the log. `bond` is
///                the dispute bond the requester paid (written at dispute, in the same slot).
///      A disputed job has one more slot, `_disputeCommits[jobId]` = keccak256(abi.encode(resultHash,
///      evidenceHash)), which a verdict must match; deleted when the dispute closes.
///      `deadline` is the job deadline while Open/Accepted; once a result is submitted the same field
///      holds the end of the challenge window (the job deadline no longer matters then), and once
///      disputed the time after which the dispute may be expired, which saves two slots. `collateralBps` is the governed rate snapshotted at post time, so a later governance
///      change never unbalances lock and unlock. The stored `status` is Open, Submitted or Disputed:
///      Accepted is "Open with a provider" (acceptJob writes only slot 1, one SSTORE less), and a
///      closed job's slots are deleted (the refunds pay for most of the closing writes), which
///      reads back as Closed for ids up to jobCount. The spec hash and the result hash are only emitted
///      (the page and the requester read them from logs). uint96 budgets hold 7.9e28 wei, above the
///      token's whole supply; uint40 timestamps last until the year 36812.
///
///      The governed parameters and the job counter share one slot (treasury (160) | feeBps (16) |
///      collateralBps (16) | challengeWindow (32) | jobCount (32)): posting reads the collateral rate
///      and bumps the counter with a single slot access, settling reads fee and treasury together.
contract JobEscrow is EIP712, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Where a job is in its lifecycle.
    enum Status {
        None,
        Open,
        Accepted,
        Submitted,
        Disputed,
        Closed
    }

    /// @dev See the layout in the contract comment. Field order is the storage order.
    struct Job {
        address requester;
        uint40 deadline;
        uint32 minScore;
        Status status;
        uint16 collateralBps;
        address provider;
        uint96 budget;
        address royaltyReceiver;
        uint16 royaltyBps;
        uint80 bond;
    }

    /// @notice A job's royalty terms: `bps` of the price goes to `receiver`.
    struct RoyaltyTerms {
        address receiver;
        uint16 bps;
    }

    /// @dev One slot, see the contract comment.
    struct Config {
        address treasury;
        uint16 feeBps;
        uint16 collateralBps;
        uint32 challengeWindow;
        uint32 jobCount;
    }

    /// @notice Basis-point denominator (100%).
    uint16 public constant BPS = 10_000;
    /// @notice Highest protocol fee governance may set (10%).
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Highest collateral rate governance may set (300% of the budget).
    uint16 public constant MAX_COLLATERAL_BPS = 30_000;
    /// @notice Shortest challenge window governance may set.
    uint32 public constant MIN_CHALLENGE_WINDOW = 10 minutes;
    /// @notice Longest challenge window governance may set.
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;
    /// @notice Furthest a job deadline may lie in the future.
    uint256 public constant MAX_JOB_DURATION = 365 days;
    /// @notice Time governance or an arbiter has to resolve a dispute (a governance proposal takes
    ///         about a week: voting delay, voting period, timelock); after it anyone may expire the
    ///         dispute, which splits the budget half and half and slashes nothing.
    uint256 public constant DISPUTE_TIMEOUT = 14 days;
    /// @notice The provider's share of the budget when a dispute expires undecided.
    uint16 public constant EXPIRED_DISPUTE_PROVIDER_BPS = 5_000;
    /// @notice Highest dispute bond governance may set (fits the job's 80-bit bond field).
    uint96 public constant MAX_DISPUTE_BOND = 1_000_000 ether;
    /// @notice Most result items one dispute may name.
    uint256 public constant MAX_DISPUTED_ITEMS = 256;
    /// @notice EIP-712 type hash of a validators' dispute verdict.
    bytes32 public constant DISPUTE_VERDICT_TYPEHASH = keccak256(
        "DisputeVerdict(uint256 jobId,bytes32 resultHash,bytes32 evidenceHash,bool providerAtFault,uint64 expiry)"
    );

    /// @notice The payment token (the protocol's ComputeToken, EIP-2612 capable).
    IERC20 public immutable token;
    /// @notice Provider stake, collateral locks and slashing.
    IComputeStaking public immutable staking;
    /// @notice The model registry (ModelNFT) whose royalties jobs pay (address(0): jobs name no model).
    IModelRegistry public immutable modelNFT;

    Config private _config;
    /// @notice Checks a provider's verified score when a job asks for one (the attestation
    ///         registry), which is also the oracle quorum that signs dispute verdicts (IOracleQuorum);
    ///         address(0) while unset, which makes jobs with minScore > 0 unacceptable and disputes
    ///         settleable only by governance, an arbiter or expiry.
    address public scoreOracle;
    /// @notice What a dispute costs the requester (token wei), returned or paid out when it closes
    ///         (see the contract comment). Shares a slot with `scoreOracle`.
    uint96 public disputeBond;
    /// @notice Accounts allowed to resolve disputes besides the owner (e.g. the oracle quorum).
    mapping(address account => bool) public isArbiter;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => bytes32 commit) private _disputeCommits;

    /// @notice A job was posted and its budget escrowed. `specHash` commits to the job description.
    ///         The job pays `royaltyBps` of its price to `royaltyReceiver`: model `modelId`'s royalty
    ///         terms now, snapshotted, whatever the model's owner or governance set later ((0, 0): none).
    event JobPosted(
        uint256 indexed jobId,
        address indexed requester,
        uint256 indexed modelId,
        uint256 budget,
        uint40 deadline,
        uint32 minScore,
        bytes32 specHash,
        address royaltyReceiver,
        uint16 royaltyBps
    );
    /// @notice `provider` accepted the job with GPU `nodeId` and locked `collateral`.
    event JobAccepted(uint256 indexed jobId, address indexed provider, bytes32 indexed nodeId, uint256 collateral);
    /// @notice The provider submitted `resultHash`; the requester may dispute until `challengeEnd`.
    event ResultSubmitted(uint256 indexed jobId, address indexed provider, bytes32 resultHash, uint40 challengeEnd);
    /// @notice The job was paid: its price (the budget, or the provider's share after a dispute) went
    ///         as `fee` to the treasury, `royalty` to `royaltyReceiver` and `providerAmount` to the
    ///         provider (price = fee + royalty + providerAmount, so it is not repeated here).
    event JobSettled(
        uint256 indexed jobId,
        address indexed provider,
        uint256 fee,
        uint256 royalty,
        address royaltyReceiver,
        uint256 providerAmount
    );
    /// @notice The requester disputed result `resultHash`, claiming the result items `items` (strictly
    ///         ascending; `evidenceHash` commits to them) are wrong, and paid `bond`. A validators'
    ///         verdict may settle it; governance and arbiters have until `resolveBy` to decide.
    event JobDisputed(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 resultHash,
        bytes32 evidenceHash,
        uint32[] items,
        uint256 bond,
        uint40 resolveBy
    );
    /// @notice A k-of-n validators' verdict settled the dispute (submitted by `caller`): with
    ///         `providerAtFault` the requester got `refund` (budget and bond) back and `slashed` of the
    ///         collateral was slashed; otherwise the provider was paid (see JobSettled) and got the bond.
    event DisputeSettled(
        uint256 indexed jobId, address indexed caller, bool providerAtFault, uint256 refund, uint256 slashed
    );
    /// @notice The dispute bond of job `jobId` went `toRequester` back to the requester and
    ///         `toProvider` to the provider (it follows the budget's split).
    event DisputeBondPaid(uint256 indexed jobId, uint256 toRequester, uint256 toProvider);
    /// @notice `arbiter` resolved the dispute: the provider's share was paid (see JobSettled when > 0),
    ///         `refund` of the budget went back to the requester and `slashed` of the collateral was
    ///         slashed (the bond: DisputeBondPaid).
    event DisputeResolved(
        uint256 indexed jobId, address indexed arbiter, uint16 providerShareBps, uint256 refund, uint256 slashed
    );
    /// @notice Nobody resolved the dispute by its deadline: `caller` closed it, the provider's half was
    ///         paid (see JobSettled), `refund` went back to the requester, the collateral was unlocked.
    event DisputeExpired(uint256 indexed jobId, address indexed caller, uint256 refund);
    /// @notice The requester cancelled the open job and got `refund` back.
    event JobCancelled(uint256 indexed jobId, address indexed requester, uint256 refund);
    /// @notice The provider missed the deadline: `refund` went back to the requester and `slashed` of
    ///         the provider's stake was slashed (finder: `caller`).
    event JobTimedOut(
        uint256 indexed jobId, address indexed provider, address indexed caller, uint256 refund, uint256 slashed
    );
    /// @notice Governance changed the protocol fee.
    event FeeBpsSet(uint16 oldValue, uint16 newValue);
    /// @notice Governance changed the challenge window.
    event ChallengeWindowSet(uint32 oldValue, uint32 newValue);
    /// @notice Governance changed the collateral rate (applies to jobs posted afterwards).
    event CollateralBpsSet(uint16 oldValue, uint16 newValue);
    /// @notice Governance changed the treasury.
    event TreasurySet(address oldTreasury, address newTreasury);
    /// @notice Governance changed the dispute bond (applies to disputes opened afterwards).
    event DisputeBondSet(uint96 oldValue, uint96 newValue);
    /// @notice Governance changed the score oracle.
    event ScoreOracleSet(address oldOracle, address newOracle);
    /// @notice Governance allowed or disallowed `account` to resolve disputes.
    event ArbiterSet(address indexed account, bool allowed);

    /// @notice The zero address was given for `what`.
    error JobEscrowZeroAddress(string what);
    /// @notice Model `modelId` is not minted in the model registry (or no registry is set).
    error JobEscrowUnknownModel(uint256 modelId);
    /// @notice The budget was zero or above 2^96-1 wei.
    error JobEscrowInvalidBudget(uint256 budget);
    /// @notice The deadline `deadline` is not in (now, now + MAX_JOB_DURATION]; now is `nowTime`.
    error JobEscrowInvalidDeadline(uint256 deadline, uint256 nowTime);
    /// @notice The permit failed and the allowance `allowance` does not cover `budget`.
    error JobEscrowPermitFailed(address requester, uint256 budget, uint256 allowance);
    /// @notice Job `jobId` is in `status`; the operation needs `expected`.
    error JobEscrowWrongStatus(uint256 jobId, Status status, Status expected);
    /// @notice `caller` is not the requester `requester` of job `jobId`.
    error JobEscrowNotRequester(uint256 jobId, address caller, address requester);
    /// @notice `caller` is not the provider `provider` of job `jobId`.
    error JobEscrowNotProvider(uint256 jobId, address caller, address provider);
    /// @notice The requester of job `jobId` cannot also provide it.
    error JobEscrowRequesterCannotProvide(uint256 jobId, address requester);
    /// @notice Node `nodeId` belongs to `owner`, not to `caller`.
    error JobEscrowNotNodeOwner(bytes32 nodeId, address caller, address owner);
    /// @notice Job `jobId` asks for a minimum score `minScore` but no score oracle is set.
    error JobEscrowScoreOracleUnset(uint256 jobId, uint32 minScore);
    /// @notice The deadline `deadline` of job `jobId` has passed; now is `nowTime`.
    error JobEscrowDeadlinePassed(uint256 jobId, uint256 deadline, uint256 nowTime);
    /// @notice The deadline `deadline` of job `jobId` has not passed yet; now is `nowTime`.
    error JobEscrowDeadlineNotPassed(uint256 jobId, uint256 deadline, uint256 nowTime);
    /// @notice The challenge window of job `jobId` is open until `challengeEnd`; now is `nowTime`.
    error JobEscrowChallengeWindowOpen(uint256 jobId, uint256 challengeEnd, uint256 nowTime);
    /// @notice The challenge window of job `jobId` closed at `challengeEnd`; now is `nowTime`.
    error JobEscrowChallengeWindowClosed(uint256 jobId, uint256 challengeEnd, uint256 nowTime);
    /// @notice The dispute can only be expired after `resolveBy` (arbiters may still decide).
    error JobEscrowDisputeNotExpired(uint256 jobId, uint256 resolveBy, uint256 nowTime);
    /// @notice The result hash was zero.
    error JobEscrowZeroResultHash(uint256 jobId);
    /// @notice `caller` is neither the owner nor an authorised arbiter.
    error JobEscrowNotArbiter(address caller);
    /// @notice The provider share `bps` is above 100%.
    error JobEscrowInvalidShare(uint16 bps);
    /// @notice The slash `amount` exceeds job `jobId`'s collateral `collateral`.
    error JobEscrowSlashExceedsCollateral(uint256 jobId, uint256 amount, uint256 collateral);
    /// @notice A dispute of job `jobId` named `count` items; it must name 1 to `max`.
    error JobEscrowInvalidItemCount(uint256 jobId, uint256 count, uint256 max);
    /// @notice Item index `item` at position `index` is not above the one before it (`previous`).
    error JobEscrowItemsNotAscending(uint256 jobId, uint256 index, uint32 previous, uint32 item);
    /// @notice The verdict for job `jobId` expired at `expiry`; it is now `nowTime`.
    error JobEscrowVerdictExpired(uint256 jobId, uint64 expiry, uint256 nowTime);
    /// @notice The verdict's `resultHash` and `evidenceHash` are not the ones job `jobId` was disputed over.
    error JobEscrowVerdictMismatch(uint256 jobId, bytes32 resultHash, bytes32 evidenceHash);
    /// @notice No oracle quorum (score oracle) is set, so no verdict can settle job `jobId`'s dispute.
    error JobEscrowQuorumUnset(uint256 jobId);
    /// @notice A governed value was outside its bounds [min, max].
    error JobEscrowValueOutOfBounds(string parameter, uint256 value, uint256 min, uint256 max);

    /// @param token_ payment token (EIP-2612 capable for postJobWithPermit)
    /// @param staking_ the staking contract (this escrow must be made its locker and slasher)
    /// @param modelNFT_ the model registry (address(0): jobs cannot name a model, no royalties)
    /// @param treasury_ receives protocol fees
    /// @param feeBps_ protocol fee (<= MAX_FEE_BPS)
    /// @param collateralBps_ provider collateral as a share of the budget (<= MAX_COLLATERAL_BPS)
    /// @param challengeWindow_ seconds the requester has to dispute a submitted result
    constructor(
        IERC20 token_,
        IComputeStaking staking_,
        IModelRegistry modelNFT_,
        address treasury_,
        uint16 feeBps_,
        uint16 collateralBps_,
        uint32 challengeWindow_
    ) EIP712("JobEscrow", "1") Ownable(msg.sender) {
        if (address(token_) == address(0)) revert JobEscrowZeroAddress("token");
        if (address(staking_) == address(0)) revert JobEscrowZeroAddress("staking");
        token = token_;
        staking = staking_;
        modelNFT = modelNFT_;
        setTreasury(treasury_);
        setFeeBps(feeBps_);
        setCollateralBps(collateralBps_);
        setChallengeWindow(challengeWindow_);
    }

    // ------------------------------------------------------------------ requester

    /// @notice Post a job and escrow its budget (approve the escrow for `budget` first).
    /// @param budget token wei paid for the job
    /// @param deadline unix time by which the result must be submitted
    /// @param minScore minimum verified benchmark score of the provider's node (0: no check)
    /// @param modelId the ModelNFT id of the model the job runs (0: none, no royalty)
    /// @param specHash commitment to the job description (emitted only)
    /// @return jobId the new job's id (ids start at 1)
    function postJob(uint256 budget, uint256 deadline, uint32 minScore, uint256 modelId, bytes32 specHash)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        return _post(budget, deadline, minScore, modelId, specHash);
    }

    /// @notice Like postJob, with an EIP-2612 permit for `budget` in the same transaction. A permit that
    ///         was front-run (already used) is tolerated as long as the allowance covers the budget.
    /// @param budget token wei paid for the job (also the permit's value)
    /// @param deadline unix time by which the result must be submitted
    /// @param minScore minimum verified benchmark score of the provider's node (0: no check)
    /// @param modelId the ModelNFT id of the model the job runs (0: none, no royalty)
    /// @param specHash commitment to the job description (emitted only)
    /// @param permitDeadline the permit's deadline
    /// @param v permit signature (by the caller, for spender = this escrow and value = budget)
    /// @param r permit signature
    /// @param s permit signature
    /// @return jobId the new job's id
    function postJobWithPermit(
        uint256 budget,
        uint256 deadline,
        uint32 minScore,
        uint256 modelId,
        bytes32 specHash,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 jobId) {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), budget, permitDeadline, v, r, s) {}
        catch {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < budget) revert JobEscrowPermitFailed(msg.sender, budget, allowance);
        }
        return _post(budget, deadline, minScore, modelId, specHash);
    }

    /// @notice Cancel an open (not yet accepted) job and get the budget back.
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Open || job.provider != address(0)) _revertWrongStatus(jobId, Status.Open);
        address requester = job.requester;
        if (msg.sender != requester) revert JobEscrowNotRequester(jobId, msg.sender, requester);
        uint256 refund = job.budget;
        delete _jobs[jobId];
        emit JobCancelled(jobId, requester, refund);
        token.safeTransfer(requester, refund);
    }

    /// @notice Accept the submitted result and pay the provider now.
    function approveResult(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Submitted) _revertWrongStatus(jobId, Status.Submitted);
        if (msg.sender != job.requester) revert JobEscrowNotRequester(jobId, msg.sender, job.requester);
        _settle(jobId, job);
    }

    /// @notice Dispute the submitted result within the challenge window, naming the items claimed
    ///         wrong, and pay the dispute bond (approve the escrow for `disputeBond()` first).
    /// @param resultHash the result hash the provider submitted (from ResultSubmitted); a verdict
    ///        must name the same one (validators refuse to sign for any other)
    /// @param items the indices of the result items claimed wrong, strictly ascending, 1 to
    ///        MAX_DISPUTED_ITEMS of them; the validators re-run these
    function dispute(uint256 jobId, bytes32 resultHash, uint32[] calldata items) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Submitted) _revertWrongStatus(jobId, Status.Submitted);
        if (msg.sender != job.requester) revert JobEscrowNotRequester(jobId, msg.sender, job.requester);
        uint256 challengeEnd = job.deadline;
        if (block.timestamp > challengeEnd) {
            revert JobEscrowChallengeWindowClosed(jobId, challengeEnd, block.timestamp);
        }
        bytes32 evidenceHash = evidenceHashOf(jobId, items);
        uint96 bond = disputeBond;
        uint40 resolveBy = uint40(block.timestamp + DISPUTE_TIMEOUT);
        job.status = Status.Disputed;
        job.deadline = resolveBy; // same slot as status: the dispute deadline costs no extra write
        job.bond = uint80(bond); // bond <= MAX_DISPUTE_BOND < 2^80 (checked in setDisputeBond)
        _disputeCommits[jobId] = keccak256(abi.encode(resultHash, evidenceHash));
        emit JobDisputed(jobId, msg.sender, resultHash, evidenceHash, items, bond, resolveBy);
        if (bond > 0) token.safeTransferFrom(msg.sender, address(this), bond);
    }

    // ------------------------------------------------------------------ provider

    /// @notice Accept an open job with one of the caller's registered GPUs. Locks
    ///         budget * collateralBps / 10000 of the caller's free stake as collateral.
    /// @param nodeId the GPU that will run the job (must be registered to the caller)
    /// @param scoreProof passed to the score oracle when the job has a minimum score (empty: the
    ///        node's latest stored attestation)
    function acceptJob(uint256 jobId, bytes32 nodeId, bytes calldata scoreProof) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Open || job.provider != address(0)) _revertWrongStatus(jobId, Status.Open);
        if (block.timestamp > job.deadline) revert JobEscrowDeadlinePassed(jobId, job.deadline, block.timestamp);
        if (msg.sender == job.requester) revert JobEscrowRequesterCannotProvide(jobId, msg.sender);
        address nodeOwner = staking.nodeOwner(nodeId);
        if (nodeOwner != msg.sender) revert JobEscrowNotNodeOwner(nodeId, msg.sender, nodeOwner);
        uint32 minScore = job.minScore;
        if (minScore > 0) {
            address oracle = scoreOracle;
            if (oracle == address(0)) revert JobEscrowScoreOracleUnset(jobId, minScore);
            // Reverts (with the oracle's own error) unless the node has a fresh enough score; the
            // returned score is not needed.
            // slither-disable-next-line unused-return
            IScoreOracle(oracle).checkScore(msg.sender, nodeId, minScore, scoreProof);
        }
        uint256 collateral = (uint256(job.budget) * job.collateralBps) / BPS;
        job.provider = msg.sender; // Open with a provider == Accepted (see the layout)
        emit JobAccepted(jobId, msg.sender, nodeId, collateral);
        // Reverts with the staking contract's ComputeStakingInsufficientFreeStake if stake is short.
        staking.lockStake(msg.sender, collateral);
    }

    /// @notice Submit the result (its hash) before the deadline; opens the challenge window.
    function submitResult(uint256 jobId, bytes32 resultHash) external {
        Job storage job = _jobs[jobId];
        address provider = job.provider;
        if (job.status != Status.Open || provider == address(0)) _revertWrongStatus(jobId, Status.Accepted);
        if (msg.sender != provider) revert JobEscrowNotProvider(jobId, msg.sender, provider);
        if (block.timestamp > job.deadline) revert JobEscrowDeadlinePassed(jobId, job.deadline, block.timestamp);
        if (resultHash == bytes32(0)) revert JobEscrowZeroResultHash(jobId);
        uint40 challengeEnd = uint40(block.timestamp + _config.challengeWindow);
        job.status = Status.Submitted;
        job.deadline = challengeEnd;
        emit ResultSubmitted(jobId, msg.sender, resultHash, challengeEnd);
    }

    // ------------------------------------------------------------------ anyone

    /// @notice Settle a submitted job whose challenge window has closed without a dispute.
    function finalize(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Submitted) _revertWrongStatus(jobId, Status.Submitted);
        uint256 challengeEnd = job.deadline;
        if (block.timestamp <= challengeEnd) {
            revert JobEscrowChallengeWindowOpen(jobId, challengeEnd, block.timestamp);
        }
        _settle(jobId, job);
    }

    /// @notice The provider missed the deadline: refund the requester and slash the job's collateral
    ///         (harmed user: the requester; finder: the caller). Callable by anyone.
    /// @dev The slash consumes exactly this job's lock (`slashLocked`), so no separate unlock is
    ///      needed; the requester gets the designed harmed share of the whole collateral.
    function claimTimeout(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        (address requester, address provider, uint256 budget) = (job.requester, job.provider, job.budget);
        if (job.status != Status.Open || provider == address(0)) _revertWrongStatus(jobId, Status.Accepted);
        uint256 deadline = job.deadline;
        if (block.timestamp <= deadline) revert JobEscrowDeadlineNotPassed(jobId, deadline, block.timestamp);
        uint256 collateral = (budget * job.collateralBps) / BPS;
        delete _jobs[jobId];
        token.safeTransfer(requester, budget);
        emit JobTimedOut(jobId, provider, msg.sender, budget, collateral);
        // The job's own lock, whole (no other slash touches locked stake). A provider calling on its own
        // job earns no finder share: staking pays that share to the harmed requester instead.
        if (collateral > 0) staking.slashLocked(provider, collateral, msg.sender, requester);
    }

    // ------------------------------------------------------------------ validators' verdict

    /// @notice Settle a dispute by the validators' verdict: at least the registry's threshold of its
    ///         oracles signed `DisputeVerdict(jobId, resultHash, evidenceHash, providerAtFault,
    ///         expiry)` in this escrow's EIP-712 domain (see the contract comment), signers strictly
    ///         ascending. With `providerAtFault` the requester gets its budget and bond back and the
    ///         whole collateral is slashed (harmed user and finder: the requester); otherwise the
    ///         provider is paid the budget as a normal settlement (fee, royalty) and receives the bond,
    ///         and its collateral is unlocked. Anyone may submit the verdict before `expiry`.
    /// @param signatures 65-byte signatures, signers strictly ascending by address
    function settleDispute(
        uint256 jobId,
        bytes32 resultHash,
        bytes32 evidenceHash,
        bool providerAtFault,
        uint64 expiry,
        bytes[] calldata signatures
    ) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Disputed) _revertWrongStatus(jobId, Status.Disputed);
        if (block.timestamp > expiry) revert JobEscrowVerdictExpired(jobId, expiry, block.timestamp);
        if (keccak256(abi.encode(resultHash, evidenceHash)) != _disputeCommits[jobId]) {
            revert JobEscrowVerdictMismatch(jobId, resultHash, evidenceHash);
        }
        address quorum = scoreOracle;
        if (quorum == address(0)) revert JobEscrowQuorumUnset(jobId);
        // Reverts with the registry's own error (too few, unknown, unsorted or duplicate signers).
        IOracleQuorum(quorum).verifyQuorum(
            hashDisputeVerdict(jobId, resultHash, evidenceHash, providerAtFault, expiry), signatures
        );
        uint256 collateral = (uint256(job.budget) * job.collateralBps) / BPS;
        if (providerAtFault) {
            emit DisputeSettled(jobId, msg.sender, true, uint256(job.budget) + job.bond, collateral);
            _closeDispute(jobId, job, 0, collateral, collateral);
        } else {
            emit DisputeSettled(jobId, msg.sender, false, 0, 0);
            _closeDispute(jobId, job, BPS, 0, collateral);
        }
    }

    // ------------------------------------------------------------------ arbiters

    /// @notice Resolve a dispute: pay the provider `providerShareBps` of the budget (fee and royalty
    ///         taken from that part), refund the rest to the requester, slash `slashAmount` of the
    ///         job's collateral (harmed user and finder: the requester) and unlock the remainder.
    ///         Only the owner (governance) or an authorised arbiter.
    function resolveDispute(uint256 jobId, uint16 providerShareBps, uint256 slashAmount) external nonReentrant {
        if (!isArbiter[msg.sender] && msg.sender != owner()) revert JobEscrowNotArbiter(msg.sender);
        Job storage job = _jobs[jobId];
        if (job.status != Status.Disputed) _revertWrongStatus(jobId, Status.Disputed);
        if (providerShareBps > BPS) revert JobEscrowInvalidShare(providerShareBps);
        uint256 collateral = (uint256(job.budget) * job.collateralBps) / BPS;
        if (slashAmount > collateral) revert JobEscrowSlashExceedsCollateral(jobId, slashAmount, collateral);
        uint256 budget = job.budget;
        emit DisputeResolved(jobId, msg.sender, providerShareBps, budget - (budget * providerShareBps) / BPS, slashAmount);
        _closeDispute(jobId, job, providerShareBps, slashAmount, collateral);
    }

    // ------------------------------------------------------------------ anyone, after the arbiters

    /// @notice Close a dispute nobody resolved within DISPUTE_TIMEOUT: the provider is paid half the
    ///         budget (fee and royalty taken from it), the requester gets the other half back, and the
    ///         whole collateral is unlocked. Callable by anyone; an arbiter may still resolve the
    ///         dispute until someone calls this.
    function expireDispute(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.status != Status.Disputed) _revertWrongStatus(jobId, Status.Disputed);
        uint256 resolveBy = job.deadline;
        if (block.timestamp <= resolveBy) revert JobEscrowDisputeNotExpired(jobId, resolveBy, block.timestamp);
        uint256 budget = job.budget;
        uint256 collateral = (budget * job.collateralBps) / BPS;
        emit DisputeExpired(jobId, msg.sender, budget - (budget * EXPIRED_DISPUTE_PROVIDER_BPS) / BPS);
        _closeDispute(jobId, job, EXPIRED_DISPUTE_PROVIDER_BPS, 0, collateral);
    }

    // ------------------------------------------------------------------ views

    /// @notice Job `jobId` as stored (all zero once closed). `deadline` is the job deadline until a
    ///         result is submitted and the end of the challenge window from then on; `status` is the
    ///         effective one (as statusOf).
    function getJob(uint256 jobId) external view returns (Job memory job) {
        job = _jobs[jobId];
        job.status = statusOf(jobId);
    }

    /// @notice Where job `jobId` is: None (never posted), Open, Accepted, Submitted, Disputed or Closed.
    function statusOf(uint256 jobId) public view returns (Status) {
        Job storage job = _jobs[jobId];
        Status stored = job.status;
        if (stored == Status.Open && job.provider != address(0)) return Status.Accepted;
        if (stored == Status.None && jobId != 0 && jobId <= _config.jobCount) return Status.Closed;
        return stored;
    }

    /// @notice The royalty terms job `jobId` is paid under (snapshotted when it was posted):
    ///         `bps` of the price to `receiver`; (address(0), 0) when the job pays no royalty or is
    ///         closed. A provider reads this before accepting.
    function royaltyTermsOf(uint256 jobId) external view returns (RoyaltyTerms memory terms) {
        Job storage job = _jobs[jobId];
        terms = RoyaltyTerms(job.royaltyReceiver, job.royaltyBps);
    }

    /// @notice The commitment a dispute of job `jobId` makes to its items: keccak256 over the indices,
    ///         each as a 32-byte big-endian word (abi.encodePacked(uint32[])). Reverts unless there
    ///         are 1 to MAX_DISPUTED_ITEMS indices, strictly ascending.
    function evidenceHashOf(uint256 jobId, uint32[] calldata items) public pure returns (bytes32) {
        uint256 n = items.length;
        if (n == 0 || n > MAX_DISPUTED_ITEMS) revert JobEscrowInvalidItemCount(jobId, n, MAX_DISPUTED_ITEMS);
        for (uint256 i = 1; i < n; ++i) {
            if (items[i] <= items[i - 1]) revert JobEscrowItemsNotAscending(jobId, i, items[i - 1], items[i]);
        }
        return keccak256(abi.encodePacked(items));
    }

    /// @notice The EIP-712 digest the validators sign for a verdict on job `jobId`'s dispute.
    function hashDisputeVerdict(
        uint256 jobId,
        bytes32 resultHash,
        bytes32 evidenceHash,
        bool providerAtFault,
        uint64 expiry
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(DISPUTE_VERDICT_TYPEHASH, jobId, resultHash, evidenceHash, providerAtFault, expiry))
        );
    }

    /// @notice The commitment of job `jobId`'s open dispute: keccak256(abi.encode(resultHash,
    ///         evidenceHash)) (zero when the job is not disputed).
    function disputeCommitOf(uint256 jobId) external view returns (bytes32) {
        return _disputeCommits[jobId];
    }

    /// @notice Collateral job `jobId` locks (or locked) in staking.
    function collateralOf(uint256 jobId) external view returns (uint256) {
        Job storage job = _jobs[jobId];
        return (uint256(job.budget) * job.collateralBps) / BPS;
    }

    /// @notice Number of jobs posted so far (the last job id).
    function jobCount() external view returns (uint256) {
        return _config.jobCount;
    }

    /// @notice Receives protocol fees.
    function treasury() external view returns (address) {
        return _config.treasury;
    }

    /// @notice Protocol fee in bps of a job's price.
    function feeBps() external view returns (uint16) {
        return _config.feeBps;
    }

    /// @notice Collateral in bps of the budget for jobs posted from now on.
    function collateralBps() external view returns (uint16) {
        return _config.collateralBps;
    }

    /// @notice Seconds the requester has to dispute a submitted result.
    function challengeWindow() external view returns (uint32) {
        return _config.challengeWindow;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the protocol fee (0 .. MAX_FEE_BPS).
    function setFeeBps(uint16 value) public onlyOwner {
        if (value > MAX_FEE_BPS) revert JobEscrowValueOutOfBounds("feeBps", value, 0, MAX_FEE_BPS);
        emit FeeBpsSet(_config.feeBps, value);
        _config.feeBps = value;
    }

    /// @notice Set the collateral rate for jobs posted from now on (0 .. MAX_COLLATERAL_BPS).
    function setCollateralBps(uint16 value) public onlyOwner {
        if (value > MAX_COLLATERAL_BPS) {
            revert JobEscrowValueOutOfBounds("collateralBps", value, 0, MAX_COLLATERAL_BPS);
        }
        emit CollateralBpsSet(_config.collateralBps, value);
        _config.collateralBps = value;
    }

    /// @notice Set the challenge window (MIN_CHALLENGE_WINDOW .. MAX_CHALLENGE_WINDOW seconds) for
    ///         results submitted from now on.
    function setChallengeWindow(uint32 value) public onlyOwner {
        if (value < MIN_CHALLENGE_WINDOW || value > MAX_CHALLENGE_WINDOW) {
            revert JobEscrowValueOutOfBounds("challengeWindow", value, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW);
        }
        emit ChallengeWindowSet(_config.challengeWindow, value);
        _config.challengeWindow = value;
    }

    /// @notice Set the treasury (non-zero).
    function setTreasury(address value) public onlyOwner {
        if (value == address(0)) revert JobEscrowZeroAddress("treasury");
        emit TreasurySet(_config.treasury, value);
        _config.treasury = value;
    }

    /// @notice Set the dispute bond for disputes opened from now on (0 .. MAX_DISPUTE_BOND).
    function setDisputeBond(uint96 value) external onlyOwner {
        if (value > MAX_DISPUTE_BOND) revert JobEscrowValueOutOfBounds("disputeBond", value, 0, MAX_DISPUTE_BOND);
        emit DisputeBondSet(disputeBond, value);
        disputeBond = value;
    }

    /// @notice Set the score oracle (address(0) unsets it: jobs with minScore > 0 cannot be accepted).
    function setScoreOracle(address value) external onlyOwner {
        emit ScoreOracleSet(scoreOracle, value);
        scoreOracle = value;
    }

    /// @notice Allow or disallow `account` to resolve disputes.
    function setArbiter(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert JobEscrowZeroAddress("arbiter");
        isArbiter[account] = allowed;
        emit ArbiterSet(account, allowed);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Validates, records and escrows a new job (shared by postJob and postJobWithPermit).
    function _post(uint256 budget, uint256 deadline, uint32 minScore, uint256 modelId, bytes32 specHash)
        private
        returns (uint256 jobId)
    {
        if (budget == 0 || budget > type(uint96).max) revert JobEscrowInvalidBudget(budget);
        if (deadline <= block.timestamp || deadline > block.timestamp + MAX_JOB_DURATION) {
            revert JobEscrowInvalidDeadline(deadline, block.timestamp);
        }
        Config storage cfg = _config;
        jobId = cfg.jobCount + 1;
        // `cfg.jobCount + 1` is checked uint32 arithmetic (reverts after 4.29e9 jobs), so the cast is exact.
        cfg.jobCount = uint32(jobId);
        Job storage job = _jobs[jobId];
        job.requester = msg.sender;
        job.deadline = uint40(deadline); // deadline <= now + 365 days < 2^40
        job.minScore = minScore;
        job.status = Status.Open;
        job.collateralBps = cfg.collateralBps;
        job.budget = uint96(budget); // budget <= 2^96-1 checked above
        (address receiver, uint16 royaltyBps) = modelId != 0 ? _royaltyTerms(modelId) : (address(0), uint16(0));
        if (royaltyBps != 0) {
            job.royaltyReceiver = receiver;
            job.royaltyBps = royaltyBps;
        }
        emit JobPosted(jobId, msg.sender, modelId, budget, uint40(deadline), minScore, specHash, receiver, royaltyBps);
        token.safeTransferFrom(msg.sender, address(this), budget);
    }

    /// @dev A job names only a minted model; its royalty terms now are the ones the job pays under
    ///      ((address(0), 0) for a royalty-free model).
    function _royaltyTerms(uint256 modelId) private view returns (address receiver, uint16 bps) {
        IModelRegistry registry = modelNFT;
        if (address(registry) == address(0)) revert JobEscrowUnknownModel(modelId);
        (receiver, bps) = registry.royaltyOf(modelId);
        // A royalty-free model: the second call is only needed to tell it from an unminted id.
        if (bps == 0 && !registry.exists(modelId)) revert JobEscrowUnknownModel(modelId);
    }

    /// @dev Closes a Disputed job: pays the provider `shareBps` of the budget (through _pay), refunds
    ///      the rest, splits the bond the same way, slashes `slashAmount` of the collateral (harmed
    ///      user and finder: the requester) and unlocks the remainder. The caller checked the status,
    ///      `shareBps <= BPS` and `slashAmount <= collateral`, and emitted its own event.
    function _closeDispute(uint256 jobId, Job storage job, uint16 shareBps, uint256 slashAmount, uint256 collateral)
        private
    {
        (address requester, address provider, uint256 budget) = (job.requester, job.provider, job.budget);
        RoyaltyTerms memory terms = RoyaltyTerms(job.royaltyReceiver, job.royaltyBps);
        uint256 bond = job.bond;
        delete _jobs[jobId];
        delete _disputeCommits[jobId];
        uint256 price = (budget * shareBps) / BPS;
        uint256 bondToProvider = (bond * shareBps) / BPS;
        // price <= budget and bondToProvider <= bond because shareBps <= BPS.
        uint256 toRequester = (budget - price) + (bond - bondToProvider);
        if (bond > 0) emit DisputeBondPaid(jobId, bond - bondToProvider, bondToProvider);
        if (price > 0) _pay(jobId, terms, provider, price);
        if (bondToProvider > 0) token.safeTransfer(provider, bondToProvider);
        if (toRequester > 0) token.safeTransfer(requester, toRequester);
        // Slash the asked part of this job's own lock (always whole), then release the rest.
        if (slashAmount > 0) staking.slashLocked(provider, slashAmount, requester, requester);
        if (collateral > slashAmount) staking.unlockStake(provider, collateral - slashAmount);
    }

    /// @dev Closes a Submitted job: pays the whole budget out and releases the collateral.
    function _settle(uint256 jobId, Job storage job) private {
        (address provider, uint256 budget) = (job.provider, job.budget);
        uint256 collateral = (budget * job.collateralBps) / BPS;
        RoyaltyTerms memory terms = RoyaltyTerms(job.royaltyReceiver, job.royaltyBps);
        delete _jobs[jobId];
        _pay(jobId, terms, provider, budget);
        staking.unlockStake(provider, collateral);
    }

    /// @dev Pays `price` of job `jobId`: fee to the treasury, royalty under the job's snapshotted
    ///      `terms`, the rest to `provider`. The caller has already closed the job (CEI).
    function _pay(uint256 jobId, RoyaltyTerms memory terms, address provider, uint256 price) private {
        Config storage cfg = _config;
        (address treasury_, uint256 fee) = (cfg.treasury, (price * cfg.feeBps) / BPS);
        address receiver = terms.receiver;
        uint256 royalty = (price * terms.bps) / BPS;
        // Never pay more royalty than the price leaves after the fee (fee <= 10% <= price).
        if (royalty > price - fee) royalty = price - fee;
        uint256 providerAmount = price - fee - royalty;
        emit JobSettled(jobId, provider, fee, royalty, receiver, providerAmount);
        if (fee > 0) token.safeTransfer(treasury_, fee);
        if (royalty > 0) token.safeTransfer(receiver, royalty);
        if (providerAmount > 0) token.safeTransfer(provider, providerAmount);
    }

    /// @dev Reverts with the job's effective status (only on failure paths, so the extra reads are free
    ///      for successful calls).
    function _revertWrongStatus(uint256 jobId, Status expected) private view {
        revert JobEscrowWrongStatus(jobId, statusOf(jobId), expected);
    }
}
