// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IComputeStaking} from "../interfaces/IComputeStaking.sol";
import {IScoreOracle} from "../interfaces/IScoreOracle.sol";
import {IOracleQuorum} from "../interfaces/IOracleQuorum.sol";

/// @title AttestationRegistry
/// @notice Stores k-of-n oracle attestations of GPU nodes' verified performance. Oracles (a
///         governed set with a governed threshold k) sign EIP-712 typed data off chain; anyone
///         posts the signatures: one attestation per transaction (`submit`), or a quorum-signed
///         Merkle root over a whole epoch (`submitBatch`) against which single attestations are
///         proven (`checkScore` with a proof, `recordFromBatch`). k validators can also sign a
///         fault report that slashes the provider through the staking contract (or, with a zero
///         slash, only records a flag such as anomalous challenge latencies).
/// @dev Signatures must be listed with their signers strictly ascending, which rejects duplicate
///      signers with one comparison each. A signature made for another chain or another registry
///      (another EIP-712 domain) recovers to an unrelated address and fails as an unknown signer.
contract AttestationRegistry is IScoreOracle, IOracleQuorum, EIP712, Ownable2Step, ReentrancyGuard {
    // ---------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------

    /// @notice One node's verified figures for one epoch. All fields are static, so the EIP-712
    ///         struct hash is keccak256(abi.encode(ATTESTATION_TYPEHASH, attestation)).
    /// @dev TFLOPS figures are fixed point: TFLOPS * 100 (e.g. 989.4 TFLOPS -> 98940).
    struct Attestation {
        address provider;
        bytes32 nodeId;
        bytes32 gpuModel; // UTF-8 model name, right-padded with zeros (truncated to 32 bytes)
        uint32 vramMiB;
        uint32 fp32; // TFLOPS * 100
        uint32 tf32;
        uint32 fp16;
        uint32 bf16;
        uint32 memBandwidth; // GB/s
        uint32 powerW;
        uint32 score;
        uint64 epoch;
        bytes32 reportHash; // keccak256 of the validators' full challenge report (kept off chain)
        uint64 expiry; // unix seconds after which the attestation no longer counts
    }

    /// @notice A fault found by validators (for instance a failed challenge), to be slashed.
    struct Fault {
        address provider;
        bytes32 nodeId;
        uint64 epoch;
        bytes32 reasonHash;
        uint256 slashAmount;
        address finder;
    }

    /// @notice What the chain needs of a node's latest accepted attestation, in one slot:
    ///         provider (160) | epoch (32) | expiry (32) | score (32) = 256 bits.
    /// @dev The measured figures (VRAM, TFLOPS per precision, bandwidth, power), the GPU model and
    ///      the report hash are emitted in full in `AttestationRecorded` and not stored: no
    ///      contract reads them, and a second storage slot would cost a new node's first
    ///      attestation 22,100 gas more. epoch is bounded to 32 bits on entry
    ///      (`AttestationRegistryEpochOutOfRange`); expiry is bounded by block.timestamp +
    ///      maxValidity and to 32 bits (`AttestationRegistryExpiryTooFar` names the limit), which
    ///      lasts until the year 2106.
    struct NodeRecord {
        address provider;
        uint32 epoch;
        uint32 expiry;
        uint32 score;
    }

    /// @notice An accepted batch root. One slot: epoch (64) | expiry (64).
    struct BatchInfo {
        uint64 epoch;
        uint64 expiry;
    }

    /// @notice The governed configuration, packed in one slot so that a submission reads it once:
    ///         threshold (8) | oracleCount (8) | maxValidity (64) | maxSlash (128) = 208 bits.
    struct Config {
        uint8 threshold;
        uint8 oracleCount;
        uint64 maxValidity;
        uint128 maxSlash;
    }

    // ---------------------------------------------------------------------------------------
    // Constants and immutables
    // ---------------------------------------------------------------------------------------

    /// @notice EIP-712 type hashes of the three signed messages.
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(address provider,bytes32 nodeId,bytes32 gpuModel,uint32 vramMiB,uint32 fp32,uint32 tf32,"
        "uint32 fp16,uint32 bf16,uint32 memBandwidth,uint32 powerW,uint32 score,uint64 epoch,bytes32 reportHash,"
        "uint64 expiry)"
    );
    bytes32 public constant BATCH_TYPEHASH = keccak256("Batch(bytes32 root,uint64 epoch,uint64 expiry)");
    bytes32 public constant FAULT_TYPEHASH = keccak256(
        "Fault(address provider,bytes32 nodeId,uint64 epoch,bytes32 reasonHash,uint256 slashAmount,address finder)"
    );

    /// @notice Most oracles the set may hold (the count is stored in 8 bits; signatures are
    ///         checked in a loop, so the set stays small).
    uint256 public constant MAX_ORACLES = 64;
    /// @notice Bounds of the governed attestation validity (expiry - block.timestamp).
    uint64 public constant MIN_VALIDITY = 1 hours;
    uint64 public constant MAX_VALIDITY = 365 days;
    /// @notice Absolute ceiling of the governed maximum slash per fault (10 million tokens).
    uint256 public constant MAX_SLASH_CEILING = 10_000_000 ether;

    /// @notice The staking contract: node ownership and slashing.
    IComputeStaking public immutable staking;

    // ---------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------

    /// @dev One slot, read once per submission (see Config).
    Config private _config;
    /// @notice Whether `oracle` is in the oracle set.
    mapping(address oracle => bool) public isOracle;
    /// @dev Latest accepted attestation per node (one slot, see NodeRecord).
    mapping(bytes32 nodeId => NodeRecord) private _records;
    /// @dev Accepted batch roots (one slot each).
    mapping(bytes32 root => BatchInfo) private _batches;
    /// @notice Whether the fault with this EIP-712 struct hash was already reported (replay guard).
    mapping(bytes32 faultHash => bool) public faultReported;

    // ---------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------

    /// @notice `oracle` joined the oracle set, which now has `oracleCount` members.
    event OracleAdded(address indexed oracle, uint256 oracleCount);
    /// @notice `oracle` left the oracle set, which now has `oracleCount` members.
    event OracleRemoved(address indexed oracle, uint256 oracleCount);
    /// @notice The number of oracle signatures required changed.
    event ThresholdSet(uint256 oldThreshold, uint256 newThreshold);
    /// @notice The longest validity an attestation may carry changed (seconds).
    event MaxValiditySet(uint256 oldMaxValidity, uint256 newMaxValidity);
    /// @notice The most one fault report may slash changed.
    event MaxSlashSet(uint256 oldMaxSlash, uint256 newMaxSlash);
    /// @notice A node's attestation became its latest record (`batchRoot` is zero when it was
    ///         submitted on its own). The full attestation, figures included, is only here: the
    ///         stored record keeps what contracts read (see NodeRecord). The epoch is in
    ///         `attestation`, not a topic (a topic costs 375 gas per attestation).
    event AttestationRecorded(
        bytes32 indexed nodeId, address indexed provider, Attestation attestation, bytes32 batchRoot
    );
    /// @notice k oracles' root over an epoch's attestations was accepted.
    event BatchSubmitted(bytes32 indexed root, uint64 indexed epoch, uint64 expiry, address submitter);
    /// @notice A k-signed fault slashed `slashed` of `provider`'s stake (asked: `slashAmount`).
    event FaultReported(
        address indexed provider,
        bytes32 indexed nodeId,
        uint64 indexed epoch,
        bytes32 reasonHash,
        uint256 slashAmount,
        uint256 slashed,
        address finder
    );

    // ---------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------

    error AttestationRegistryZeroAddress();
    error AttestationRegistryOracleExists(address oracle);
    error AttestationRegistryNotOracle(address oracle);
    error AttestationRegistryTooManyOracles(uint256 count, uint256 max);
    error AttestationRegistryThresholdOutOfBounds(uint256 threshold, uint256 oracleCount);
    error AttestationRegistryMaxValidityOutOfBounds(uint256 maxValidity, uint256 min, uint256 max);
    error AttestationRegistryMaxSlashOutOfBounds(uint256 maxSlash, uint256 ceiling);
    error AttestationRegistryTooFewSignatures(uint256 given, uint256 threshold);
    error AttestationRegistryBadSignatureLength(uint256 index, uint256 length);
    error AttestationRegistryInvalidSignature(uint256 index);
    error AttestationRegistrySignersNotAscending(uint256 index, address previous, address signer);
    error AttestationRegistryUnknownSigner(uint256 index, address signer);
    error AttestationRegistryExpired(uint256 expiry, uint256 nowTimestamp);
    error AttestationRegistryExpiryTooFar(uint256 expiry, uint256 latestAllowed);
    error AttestationRegistryEpochOutOfRange(uint256 epoch);
    error AttestationRegistryStaleEpoch(bytes32 nodeId, uint256 epoch, uint256 lastEpoch);
    error AttestationRegistryNotNodeOwner(bytes32 nodeId, address provider, address owner);
    error AttestationRegistryBatchExists(bytes32 root);
    error AttestationRegistryUnknownBatch(bytes32 root);
    error AttestationRegistryBatchEpochMismatch(bytes32 root, uint256 batchEpoch, uint256 attestationEpoch);
    error AttestationRegistryInvalidProof(bytes32 root, bytes32 leaf);
    error AttestationRegistryProofForOtherNode(address provider, bytes32 nodeId);
    error AttestationRegistryNoRecord(bytes32 nodeId);
    error AttestationRegistryScoreTooLow(bytes32 nodeId, uint256 score, uint256 minScore);
    error AttestationRegistryFaultAlreadyReported(bytes32 faultHash);
    error AttestationRegistrySlashTooLarge(uint256 amount, uint256 maxSlash);

    // ---------------------------------------------------------------------------------------
    // Construction and governance
    // ---------------------------------------------------------------------------------------

    /// @param staking_ the staking contract (this registry must be one of its slashers)
    /// @param owner_ governance (the deployer first, then the DAO timelock)
    /// @param oracles_ the initial oracle set
    /// @param threshold_ k, with 1 <= k <= oracles_.length
    /// @param maxValidity_ the longest an attestation may stay valid after it is posted
    /// @param maxSlash_ the most one fault report may slash
    constructor(
        IComputeStaking staking_,
        address owner_,
        address[] memory oracles_,
        uint256 threshold_,
        uint256 maxValidity_,
        uint256 maxSlash_
    ) EIP712("AttestationRegistry", "1") Ownable(owner_) {
        if (address(staking_) == address(0)) revert AttestationRegistryZeroAddress();
        staking = staking_;
        for (uint256 i = 0; i < oracles_.length; ++i) {
            _addOracle(oracles_[i]);
        }
        _setThreshold(threshold_);
        _setMaxValidity(maxValidity_);
        _setMaxSlash(maxSlash_);
    }

    /// @notice Add `oracle` to the oracle set. Only governance.
    function addOracle(address oracle) external onlyOwner {
        _addOracle(oracle);
    }

    /// @notice Remove `oracle` from the set. Only governance. Reverts if the threshold would then
    ///         exceed the set size (lower the threshold first).
    function removeOracle(address oracle) external onlyOwner {
        if (!isOracle[oracle]) revert AttestationRegistryNotOracle(oracle);
        Config memory cfg = _config;
        if (cfg.threshold > cfg.oracleCount - 1) {
            revert AttestationRegistryThresholdOutOfBounds(cfg.threshold, cfg.oracleCount - 1);
        }
        isOracle[oracle] = false;
        _config.oracleCount = cfg.oracleCount - 1;
        emit OracleRemoved(oracle, cfg.oracleCount - 1);
    }

    /// @notice Set the threshold k (1 <= k <= number of oracles). Only governance.
    function setThreshold(uint256 threshold_) external onlyOwner {
        _setThreshold(threshold_);
    }

    /// @notice Set the longest validity an attestation may carry, in seconds, within
    ///         [MIN_VALIDITY, MAX_VALIDITY]. Only governance.
    function setMaxValidity(uint256 maxValidity_) external onlyOwner {
        _setMaxValidity(maxValidity_);
    }

    /// @notice Set the most one fault report may slash, in (0, MAX_SLASH_CEILING]. Only governance.
    function setMaxSlash(uint256 maxSlash_) external onlyOwner {
        _setMaxSlash(maxSlash_);
    }

    function _addOracle(address oracle) private {
        if (oracle == address(0)) revert AttestationRegistryZeroAddress();
        if (isOracle[oracle]) revert AttestationRegistryOracleExists(oracle);
        uint256 count = uint256(_config.oracleCount) + 1;
        if (count > MAX_ORACLES) revert AttestationRegistryTooManyOracles(count, MAX_ORACLES);
        isOracle[oracle] = true;
        _config.oracleCount = uint8(count); // count <= MAX_ORACLES = 64 fits in 8 bits
        emit OracleAdded(oracle, count);
    }

    function _setThreshold(uint256 threshold_) private {
        uint256 count = _config.oracleCount;
        if (threshold_ == 0 || threshold_ > count) revert AttestationRegistryThresholdOutOfBounds(threshold_, count);
        emit ThresholdSet(_config.threshold, threshold_);
        _config.threshold = uint8(threshold_); // threshold_ <= count <= 64
    }

    function _setMaxValidity(uint256 maxValidity_) private {
        if (maxValidity_ < MIN_VALIDITY || maxValidity_ > MAX_VALIDITY) {
            revert AttestationRegistryMaxValidityOutOfBounds(maxValidity_, MIN_VALIDITY, MAX_VALIDITY);
        }
        emit MaxValiditySet(_config.maxValidity, maxValidity_);
        _config.maxValidity = uint64(maxValidity_); // <= MAX_VALIDITY
    }

    function _setMaxSlash(uint256 maxSlash_) private {
        if (maxSlash_ == 0 || maxSlash_ > MAX_SLASH_CEILING) {
            revert AttestationRegistryMaxSlashOutOfBounds(maxSlash_, MAX_SLASH_CEILING);
        }
        emit MaxSlashSet(_config.maxSlash, maxSlash_);
        _config.maxSlash = uint128(maxSlash_); // <= 1e25 < 2^128
    }

    // ---------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------

    /// @notice The threshold k.
    function threshold() external view returns (uint256) {
        return _config.threshold;
    }

    /// @notice The number of oracles in the set.
    function oracleCount() external view returns (uint256) {
        return _config.oracleCount;
    }

    /// @notice The longest validity (seconds) an attestation may carry when posted.
    function maxValidity() external view returns (uint256) {
        return _config.maxValidity;
    }

    /// @notice The most one fault report may slash.
    function maxSlash() external view returns (uint256) {
        return _config.maxSlash;
    }

    /// @notice The latest accepted attestation of `nodeId` (all zero if none).
    function recordOf(bytes32 nodeId) external view returns (NodeRecord memory) {
        return _records[nodeId];
    }

    /// @notice The epoch and expiry of an accepted batch root (zero epoch and expiry if unknown).
    function batchOf(bytes32 root) external view returns (BatchInfo memory) {
        return _batches[root];
    }

    /// @notice The EIP-712 struct hash of an attestation: the Merkle leaf of a batch.
    function attestationStructHash(Attestation calldata att) public pure returns (bytes32) {
        return keccak256(abi.encode(ATTESTATION_TYPEHASH, att));
    }

    /// @notice The EIP-712 digest oracles sign for `att` (this chain, this registry).
    function hashAttestation(Attestation calldata att) external view returns (bytes32) {
        return _hashTypedDataV4(attestationStructHash(att));
    }

    /// @notice The EIP-712 digest oracles sign for a batch root.
    function hashBatch(bytes32 root, uint64 epoch, uint64 expiry) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, root, epoch, expiry)));
    }

    /// @notice The EIP-712 struct hash of a fault report (the key of its replay protection).
    function faultStructHash(Fault calldata fault) public pure returns (bytes32) {
        return keccak256(abi.encode(FAULT_TYPEHASH, fault));
    }

    /// @notice The EIP-712 digest validators sign for a fault report.
    function hashFault(Fault calldata fault) external view returns (bytes32) {
        return _hashTypedDataV4(faultStructHash(fault));
    }

    /// @notice The EIP-712 domain separator (for off-chain signers to check against).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------------------------------
    // Submission
    // ---------------------------------------------------------------------------------------

    /// @notice Record `att` as its node's latest attestation, signed by at least k oracles.
    /// @param signatures 65-byte (r, s, v) signatures over `hashAttestation(att)`, ordered by
    ///        signer address strictly ascending
    function submit(Attestation calldata att, bytes[] calldata signatures) external {
        Config memory cfg = _config;
        _checkQuorum(_hashTypedDataV4(attestationStructHash(att)), signatures, cfg.threshold);
        _record(att, cfg.maxValidity, bytes32(0));
    }

    /// @inheritdoc IOracleQuorum
    /// @dev The same check as every attestation, batch and fault: threshold, 65-byte signatures,
    ///      signers strictly ascending, each a current oracle; reverts with the registry's errors.
    function verifyQuorum(bytes32 digest, bytes[] calldata signatures) external view {
        _checkQuorum(digest, signatures, _config.threshold);
    }

    /// @notice Accept a Merkle root over an epoch's attestations, signed by at least k oracles.
    ///         Leaves are `attestationStructHash(att)`, pairs hashed sorted (OZ MerkleProof).
    /// @param signatures signatures over `hashBatch(root, epoch, expiry)`, signers ascending
    function submitBatch(bytes32 root, uint64 epoch, uint64 expiry, bytes[] calldata signatures) external {
        Config memory cfg = _config;
        // An accepted batch always has a non-zero expiry (it was in the future when accepted).
        if (_batches[root].expiry != 0) revert AttestationRegistryBatchExists(root);
        _checkExpiry(expiry, cfg.maxValidity);
        _checkQuorum(hashBatch(root, epoch, expiry), signatures, cfg.threshold);
        _batches[root] = BatchInfo(epoch, expiry);
        emit BatchSubmitted(root, epoch, expiry, msg.sender);
    }

    /// @notice Store an attestation proven to be in an accepted batch as its node's latest
    ///         record (the epoch must be newer than the stored one). Anyone may call it.
    function recordFromBatch(Attestation calldata att, bytes32 root, bytes32[] calldata merkleProof) external {
        _verifyInBatch(att, root, merkleProof);
        _record(att, _config.maxValidity, root);
    }

    /// @inheritdoc IScoreOracle
    /// @dev `proof` is empty (use the stored latest record) or
    ///      abi.encode(Attestation att, bytes32 root, bytes32[] merkleProof) against an accepted
    ///      batch; a batched attestation older than the stored record is refused as stale.
    function checkScore(address provider, bytes32 nodeId, uint32 minScore, bytes calldata proof)
        external
        view
        returns (uint32 score)
    {
        address owner_ = staking.nodeOwner(nodeId);
        if (owner_ != provider) revert AttestationRegistryNotNodeOwner(nodeId, provider, owner_);
        NodeRecord storage rec = _records[nodeId];
        if (proof.length == 0) {
            address recProvider = rec.provider;
            uint256 expiry = rec.expiry;
            if (recProvider != provider) revert AttestationRegistryNoRecord(nodeId);
            if (expiry <= block.timestamp) revert AttestationRegistryExpired(expiry, block.timestamp);
            score = rec.score;
        } else {
            (Attestation memory att, bytes32 root, bytes32[] memory merkleProof) =
                abi.decode(proof, (Attestation, bytes32, bytes32[]));
            if (att.provider != provider || att.nodeId != nodeId) {
                revert AttestationRegistryProofForOtherNode(att.provider, att.nodeId);
            }
            uint64 expiry = _verifyInBatchMemory(att, root, merkleProof);
            if (expiry <= block.timestamp) revert AttestationRegistryExpired(expiry, block.timestamp);
            uint256 lastEpoch = rec.epoch;
            if (rec.provider == provider && att.epoch < lastEpoch) {
                revert AttestationRegistryStaleEpoch(nodeId, att.epoch, lastEpoch);
            }
            score = att.score;
        }
        if (score < minScore) revert AttestationRegistryScoreTooLow(nodeId, score, minScore);
    }

    // ---------------------------------------------------------------------------------------
    // Faults
    // ---------------------------------------------------------------------------------------

    /// @notice Slash `fault.slashAmount` (<= maxSlash) from `fault.provider` through staking,
    ///         paying the finder its governed share. Signed by at least k oracles; each fault
    ///         (by its struct hash) is reported at most once. A fault with `slashAmount` 0 is a
    ///         flag (for instance challenge latencies k validators found anomalous): it is
    ///         recorded (replay guard, FaultReported with `slashed` 0) and moves no stake.
    /// @param fault the fault k oracles signed
    /// @param signatures at least k signatures of its EIP-712 digest, signers strictly ascending
    /// @return slashed the amount staking actually took (0 for a flag)
    function reportFault(Fault calldata fault, bytes[] calldata signatures)
        external
        nonReentrant
        returns (uint256 slashed)
    {
        Config memory cfg = _config;
        if (fault.slashAmount > cfg.maxSlash) revert AttestationRegistrySlashTooLarge(fault.slashAmount, cfg.maxSlash);
        bytes32 structHash = faultStructHash(fault);
        if (faultReported[structHash]) revert AttestationRegistryFaultAlreadyReported(structHash);
        _checkQuorum(_hashTypedDataV4(structHash), signatures, cfg.threshold);
        faultReported[structHash] = true;
        if (fault.slashAmount != 0) {
            slashed = staking.slash(fault.provider, fault.slashAmount, fault.finder, address(0));
        }
        emit FaultReported(
            fault.provider, fault.nodeId, fault.epoch, fault.reasonHash, fault.slashAmount, slashed, fault.finder
        );
    }

    // ---------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------

    /// @dev Revert unless `signatures` holds at least `threshold` valid signatures of `digest`
    ///      by distinct oracles listed strictly ascending.
    function _checkQuorum(bytes32 digest, bytes[] calldata signatures, uint256 threshold_) private view {
        uint256 n = signatures.length;
        if (n < threshold_) revert AttestationRegistryTooFewSignatures(n, threshold_);
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            bytes calldata sig = signatures[i];
            if (sig.length != 65) revert AttestationRegistryBadSignatureLength(i, sig.length);
            bytes32 r;
            bytes32 s;
            uint8 v;
            // Read (r, s, v) straight from calldata instead of copying the bytes to memory.
            assembly ("memory-safe") {
                r := calldataload(sig.offset)
                s := calldataload(add(sig.offset, 32))
                v := byte(0, calldataload(add(sig.offset, 64)))
            }
            // The third value (the error's argument) is not needed: any error reverts with index i.
            // slither-disable-next-line unused-return
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
            if (err != ECDSA.RecoverError.NoError) revert AttestationRegistryInvalidSignature(i);
            if (signer <= previous) revert AttestationRegistrySignersNotAscending(i, previous, signer);
            if (!isOracle[signer]) revert AttestationRegistryUnknownSigner(i, signer);
            previous = signer;
        }
    }

    function _checkExpiry(uint256 expiry, uint256 maxValidity_) private view {
        if (expiry <= block.timestamp) revert AttestationRegistryExpired(expiry, block.timestamp);
        uint256 latest = block.timestamp + maxValidity_;
        if (latest > type(uint32).max) latest = type(uint32).max; // NodeRecord.expiry is 32 bits
        if (expiry > latest) revert AttestationRegistryExpiryTooFar(expiry, latest);
    }

    /// @dev Checks (expiry window, epoch range and freshness, node ownership) then stores `att`
    ///      as the node's latest record and emits it.
    function _record(Attestation calldata att, uint256 maxValidity_, bytes32 root) private {
        _checkExpiry(att.expiry, maxValidity_);
        uint256 epoch = att.epoch;
        if (epoch > type(uint32).max) revert AttestationRegistryEpochOutOfRange(epoch);
        NodeRecord storage rec = _records[att.nodeId];
        uint256 lastEpoch = rec.epoch;
        if (epoch <= lastEpoch) revert AttestationRegistryStaleEpoch(att.nodeId, epoch, lastEpoch);
        address owner_ = staking.nodeOwner(att.nodeId);
        if (owner_ != att.provider) revert AttestationRegistryNotNodeOwner(att.nodeId, att.provider, owner_);
        // Casts are lossless: epoch checked < 2^32 above, expiry < 2^32 in _checkExpiry.
        _records[att.nodeId] =
            NodeRecord({provider: att.provider, epoch: uint32(epoch), expiry: uint32(att.expiry), score: att.score});
        emit AttestationRecorded(att.nodeId, att.provider, att, root);
    }

    function _verifyInBatch(Attestation calldata att, bytes32 root, bytes32[] calldata merkleProof) private view {
        BatchInfo memory batch = _batches[root];
        if (batch.expiry == 0) revert AttestationRegistryUnknownBatch(root);
        if (batch.expiry <= block.timestamp) revert AttestationRegistryExpired(batch.expiry, block.timestamp);
        if (batch.epoch != att.epoch) revert AttestationRegistryBatchEpochMismatch(root, batch.epoch, att.epoch);
        bytes32 leaf = attestationStructHash(att);
        if (!MerkleProof.verifyCalldata(merkleProof, root, leaf)) revert AttestationRegistryInvalidProof(root, leaf);
    }

    /// @dev As `_verifyInBatch` for a decoded attestation; returns the earlier of the
    ///      attestation's and the batch's expiry.
    function _verifyInBatchMemory(Attestation memory att, bytes32 root, bytes32[] memory merkleProof)
        private
        view
        returns (uint64 expiry)
    {
        BatchInfo memory batch = _batches[root];
        if (batch.expiry == 0) revert AttestationRegistryUnknownBatch(root);
        if (batch.epoch != att.epoch) revert AttestationRegistryBatchEpochMismatch(root, batch.epoch, att.epoch);
        bytes32 leaf = keccak256(abi.encode(ATTESTATION_TYPEHASH, att));
        if (!MerkleProof.verify(merkleProof, root, leaf)) revert AttestationRegistryInvalidProof(root, leaf);
        expiry = att.expiry < batch.expiry ? att.expiry : batch.expiry;
    }
}
