// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IComputeStaking} from "../interfaces/IComputeStaking.sol";

/// @title ComputeStaking
/// @notice GPU providers stake the protocol token, register their GPUs (nodes) against that stake,
///         lock part of it as collateral while they run jobs, and lose it to slashing when a fault is
///         proven. Unbonding stake waits a governed period before it can be withdrawn and can still be
///         slashed while it waits.
/// @dev Accounting per provider (all amounts in token wei):
///      - `staked`    every token the provider has in the contract that is not unbonding; `locked` is
///                    a part of it.
///      - `locked`    collateral of running jobs (set by authorised lockers, i.e. the job escrow). Only
///                    its locker releases or slashes it (`unlockStake`, `slashLocked`); a fault slash
///                    (`slash`) never touches it, so every running job's collateral stays locked and
///                    slashable until that job closes, whatever order slashes, settlements, unbonding
///                    requests and withdrawals come in. Invariant: locked <= staked.
///      - `unbonding` tokens on their way out; released at `unbondingRelease`.
///      - free stake  = staked - locked - nodeCount * minStakePerGpu (floored at 0).
///      Invariant: token.balanceOf(this) == sum over providers of (staked + unbonding)
///                 == totalStaked + totalUnbonding (nothing is ever burnt: slashes are paid out).
contract ComputeStaking is IComputeStaking, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Basis-point denominator (100%).
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound governance may set for the stake required per registered GPU.
    uint256 public constant MAX_MIN_STAKE_PER_GPU = 10_000_000 ether;
    /// @notice Shortest unbonding period governance may set.
    uint64 public constant MIN_UNBONDING_PERIOD = 1 hours;
    /// @notice Longest unbonding period governance may set.
    uint64 public constant MAX_UNBONDING_PERIOD = 90 days;
    /// @notice Largest share of a slash that may go to the party that found the fault.
    uint16 public constant MAX_FINDER_SHARE_BPS = 5_000;
    /// @notice Longest GPU model name accepted at registration (bytes).
    uint256 public constant MAX_GPU_MODEL_LENGTH = 64;
    /// @notice Longest node metadata URI accepted at registration (bytes).
    uint256 public constant MAX_METADATA_URI_LENGTH = 256;
    /// @notice Length of a GPU UUID in NVML's canonical form (see `registerNode`): a 4-byte prefix
    ///         and a 36-character 8-4-4-4-12 UUID.
    uint256 public constant GPU_UUID_LENGTH = 40;

    /// @dev Bit c is set for every byte c allowed where a UUID has a hex digit: '0'-'9' (0x30-0x39)
    ///      and 'a'-'f' (0x61-0x66). Upper case is refused so that one GPU has one spelling.
    uint256 private constant _LOWER_HEX = (0x3ff << 0x30) | (0x3f << 0x61);
    /// @dev Bit i is set for the positions of a canonical UUID that hold a dash (after the prefix).
    uint256 private constant _DASHES = (1 << 12) | (1 << 17) | (1 << 22) | (1 << 27);
    /// @dev Word masks for the fast check (byte p of a word read from calldata is bits
    ///      255 - 8p .. 248 - 8p): 0x01 in every byte, 0x80 in every byte, '0' in every byte.
    uint256 private constant _ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;
    uint256 private constant _HIGH_BITS = 0x8080808080808080808080808080808080808080808080808080808080808080;
    uint256 private constant _ZERO_CHARS = 0x3030303030303030303030303030303030303030303030303030303030303030;
    /// @dev Bytes 0-3 (the prefix) and 12, 17, 22, 27 (the dashes) of the UUID's first word.
    uint256 private constant _PREFIX_BYTES = uint256(0xffffffff) << 224;
    uint256 private constant _DASH_BYTES = (0xff << 152) | (0xff << 112) | (0xff << 72) | (0xff << 32);
    uint256 private constant _DASH_CHARS = (0x2d << 152) | (0x2d << 112) | (0x2d << 72) | (0x2d << 32);

    /// @dev Two slots per provider.
    ///      slot 0: staked (uint112) | locked (uint112) | nodeCount (uint32) -- everything freeStake()
    ///              needs, so a collateral lock or unlock touches a single provider slot
    ///      slot 1: unbonding (uint128) | unbondingRelease (uint64) | 64 bits free
    ///      uint112 holds 5.2e33 wei, far above any token supply (the token's is 1e26); stake() casts
    ///      with SafeCast, every other amount is bounded by an existing stake.
    struct Provider {
        uint112 staked;
        uint112 locked;
        uint32 nodeCount;
        uint128 unbonding;
        uint64 unbondingRelease;
    }

    /// @dev slot 0: owner (160) | vramMiB (32) | active (8) -- the only slot read by nodeOwner();
    ///      the two strings follow in their own slots and are only written at registration.
    struct Node {
        address owner;
        uint32 vramMiB;
        bool active;
        string gpuModel;
        string metadataURI;
    }

    /// @notice The staked ERC-20 (the protocol's ComputeToken).
    IERC20 public immutable token;

    // Governance slot: treasury (160) | unbondingPeriod (64) | finderShareBps (16) | harmedShareBps (16).
    /// @notice Receives the part of every slash that is neither the finder's nor the harmed user's.
    address public treasury;
    /// @notice Seconds between requestUnbond and the moment withdraw() may release the tokens.
    uint64 public unbondingPeriod;
    /// @notice Share of a slash paid to the finder (bps).
    uint16 public finderShareBps;
    /// @notice Share of a slash paid to the harmed user (bps).
    uint16 public harmedShareBps;

    /// @notice Stake each registered GPU requires (token wei).
    uint256 public minStakePerGpu;
    /// @notice Sum of every provider's `staked`.
    uint256 public totalStaked;
    /// @notice Sum of every provider's `unbonding`.
    uint256 public totalUnbonding;

    mapping(address provider => Provider) private _providers;
    mapping(bytes32 nodeId => Node) private _nodes;
    /// @notice Contracts allowed to lock and unlock collateral (the job escrow).
    mapping(address account => bool) public isLocker;
    /// @notice Contracts allowed to slash (the job escrow, the attestation registry). The owner may too.
    mapping(address account => bool) public isSlasher;

    /// @notice `provider` added `amount` to its stake.
    event Staked(address indexed provider, uint256 amount, uint256 staked);
    /// @notice `provider` registered the GPU `gpuUuid` as node `nodeId` (= keccak256(bytes(gpuUuid))).
    ///         The oracle discovers providers from this event; the UUID itself is only here (the
    ///         contract stores nothing for it: the node id is its hash).
    event NodeRegistered(
        address indexed provider,
        bytes32 indexed nodeId,
        string gpuUuid,
        string gpuModel,
        uint32 vramMiB,
        string metadataURI
    );
    /// @notice `provider` removed the GPU `nodeId`.
    event NodeDeregistered(address indexed provider, bytes32 indexed nodeId);
    /// @notice `amount` of `provider`'s stake started unbonding; all of its unbonding stake is
    ///         released at `releaseTime`.
    event UnbondRequested(address indexed provider, uint256 amount, uint256 unbonding, uint64 releaseTime);
    /// @notice `provider` withdrew `amount` of released unbonding stake.
    event Withdrawn(address indexed provider, uint256 amount);
    /// @notice `locker` locked `amount` of `provider`'s stake as collateral.
    event StakeLocked(address indexed provider, address indexed locker, uint256 amount, uint256 locked);
    /// @notice `locker` released `amount` of `provider`'s collateral.
    event StakeUnlocked(address indexed provider, address indexed locker, uint256 amount, uint256 locked);
    /// @notice `slasher` slashed `slashed` of `provider`'s stake (asked: `requested`) and paid it out.
    event Slashed(
        address indexed provider,
        address indexed slasher,
        uint256 requested,
        uint256 slashed,
        address finder,
        uint256 finderAmount,
        address harmed,
        uint256 harmedAmount,
        uint256 treasuryAmount
    );
    /// @notice Governance changed the stake required per GPU.
    event MinStakePerGpuSet(uint256 oldValue, uint256 newValue);
    /// @notice Governance changed the unbonding period.
    event UnbondingPeriodSet(uint64 oldValue, uint64 newValue);
    /// @notice Governance changed the slash shares.
    event SlashSharesSet(uint16 finderShareBps, uint16 harmedShareBps);
    /// @notice Governance changed the treasury.
    event TreasurySet(address oldTreasury, address newTreasury);
    /// @notice Governance allowed or disallowed `account` to lock collateral.
    event LockerSet(address indexed account, bool allowed);
    /// @notice Governance allowed or disallowed `account` to slash.
    event SlasherSet(address indexed account, bool allowed);

    /// @notice An amount of zero was given where a positive amount is needed.
    error ComputeStakingZeroAmount(address provider);
    /// @notice The zero address was given for `what` ("token", "treasury", "locker", "slasher").
    error ComputeStakingZeroAddress(string what);
    /// @notice `provider` has `available` free stake but the operation needs `required`.
    error ComputeStakingInsufficientFreeStake(address provider, uint256 required, uint256 available);
    /// @notice `gpuUuid` is not a GPU UUID in NVML's canonical form (see `registerNode`); `index` is
    ///         the first byte where it departs from that form (its length when it is a correct
    ///         beginning cut short, 40 when it is correct but longer).
    error ComputeStakingInvalidGpuUuid(string gpuUuid, uint256 index);
    /// @notice `nodeId` is already registered, to `owner`.
    error ComputeStakingNodeAlreadyRegistered(bytes32 nodeId, address owner);
    /// @notice `caller` tried to manage `nodeId`, which belongs to `owner` (or is not active).
    error ComputeStakingNotNodeOwner(bytes32 nodeId, address caller, address owner);
    /// @notice The GPU model string is empty or longer than `maxLength` bytes.
    error ComputeStakingInvalidGpuModel(uint256 length, uint256 maxLength);
    /// @notice The metadata URI is longer than `maxLength` bytes.
    error ComputeStakingMetadataURITooLong(uint256 length, uint256 maxLength);
    /// @notice The GPU memory size was zero.
    error ComputeStakingInvalidVram(uint32 vramMiB);
    /// @notice `provider` has no unbonding stake to withdraw.
    error ComputeStakingNothingToWithdraw(address provider);
    /// @notice `provider`'s unbonding stake is released at `releaseTime`; it is now `nowTime`.
    error ComputeStakingStillUnbonding(address provider, uint64 releaseTime, uint256 nowTime);
    /// @notice `amount` of `provider`'s collateral was to be released or slashed but only `locked` is locked.
    error ComputeStakingLockedShort(address provider, uint256 amount, uint256 locked);
    /// @notice `caller` is not an authorised locker.
    error ComputeStakingNotLocker(address caller);
    /// @notice `caller` is neither an authorised slasher nor the owner.
    error ComputeStakingNotSlasher(address caller);
    /// @notice A governed value was outside its bounds [min, max].
    error ComputeStakingValueOutOfBounds(string parameter, uint256 value, uint256 min, uint256 max);

    /// @param token_ the staked token
    /// @param treasury_ receives the treasury share of slashes (later the DAO timelock)
    /// @param minStakePerGpu_ stake each registered GPU requires
    /// @param unbondingPeriod_ seconds an unbonding stake waits before it can be withdrawn
    /// @param finderShareBps_ share of a slash for the finder
    /// @param harmedShareBps_ share of a slash for the harmed user
    constructor(
        IERC20 token_,
        address treasury_,
        uint256 minStakePerGpu_,
        uint64 unbondingPeriod_,
        uint16 finderShareBps_,
        uint16 harmedShareBps_
    ) Ownable(msg.sender) {
        if (address(token_) == address(0)) revert ComputeStakingZeroAddress("token");
        token = token_;
        setTreasury(treasury_);
        setMinStakePerGpu(minStakePerGpu_);
        setUnbondingPeriod(unbondingPeriod_);
        setSlashShares(finderShareBps_, harmedShareBps_);
    }

    // ------------------------------------------------------------------ providers

    /// @notice Add `amount` tokens (pulled with transferFrom; approve first) to the caller's stake.
    /// @param amount token wei to stake
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ComputeStakingZeroAmount(msg.sender);
        Provider storage p = _providers[msg.sender];
        uint256 staked = uint256(p.staked) + amount;
        p.staked = SafeCast.toUint112(staked);
        totalStaked += amount;
        emit Staked(msg.sender, amount, staked);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Register a GPU the caller operates, under the node id `keccak256(bytes(gpuUuid))`.
    ///         Needs `minStakePerGpu` of free stake, which stays reserved while the node is registered.
    /// @dev `gpuUuid` must be in the canonical form NVML's `nvmlDeviceGetUUID` returns, exactly 40
    ///      bytes: the prefix "GPU-" (a whole GPU) or "MIG-" (a MIG instance, drivers R470 and later),
    ///      then a UUID of 32 lower-case hex digits ('0'-'9', 'a'-'f') grouped 8-4-4-4-12 by dashes,
    ///      e.g. "GPU-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e". Anything else (upper case, spaces, braces,
    ///      no prefix, the pre-R470 "MIG-GPU-.../gi/ci" form) reverts with
    ///      `ComputeStakingInvalidGpuUuid`. So one GPU has one spelling and one node id, a node id that
    ///      is not its UUID's hash cannot exist, and the same GPU is active under one owner at a time.
    /// @param gpuUuid the GPU's UUID as `oracle inventory` / `nvidia-smi -L` print it
    /// @param gpuModel the GPU's marketing name as NVML reports it, e.g. "NVIDIA H100 80GB HBM3"
    /// @param vramMiB total GPU memory in MiB
    /// @param metadataURI where the provider publishes more about the node (may be empty)
    function registerNode(
        string calldata gpuUuid,
        string calldata gpuModel,
        uint32 vramMiB,
        string calldata metadataURI
    ) external {
        _checkGpuUuid(gpuUuid);
        uint256 modelLength = bytes(gpuModel).length;
        if (modelLength == 0 || modelLength > MAX_GPU_MODEL_LENGTH) {
            revert ComputeStakingInvalidGpuModel(modelLength, MAX_GPU_MODEL_LENGTH);
        }
        if (bytes(metadataURI).length > MAX_METADATA_URI_LENGTH) {
            revert ComputeStakingMetadataURITooLong(bytes(metadataURI).length, MAX_METADATA_URI_LENGTH);
        }
        if (vramMiB == 0) revert ComputeStakingInvalidVram(vramMiB);
        bytes32 nodeId = keccak256(bytes(gpuUuid));
        Node storage node = _nodes[nodeId];
        if (node.active) revert ComputeStakingNodeAlreadyRegistered(nodeId, node.owner);
        uint256 free = freeStake(msg.sender);
        if (free < minStakePerGpu) revert ComputeStakingInsufficientFreeStake(msg.sender, minStakePerGpu, free);

        node.owner = msg.sender;
        node.vramMiB = vramMiB;
        node.active = true;
        node.gpuModel = gpuModel;
        node.metadataURI = metadataURI;
        _providers[msg.sender].nodeCount += 1;
        emit NodeRegistered(msg.sender, nodeId, gpuUuid, gpuModel, vramMiB, metadataURI);
    }

    /// @notice Remove one of the caller's GPUs; its reserved stake becomes free again. The record
    ///         stays readable (inactive) and anyone may register the node id afresh.
    /// @param nodeId the node to remove
    function deregisterNode(bytes32 nodeId) external {
        Node storage node = _nodes[nodeId];
        if (!node.active || node.owner != msg.sender) {
            revert ComputeStakingNotNodeOwner(nodeId, msg.sender, node.active ? node.owner : address(0));
        }
        node.active = false;
        _providers[msg.sender].nodeCount -= 1;
        emit NodeDeregistered(msg.sender, nodeId);
    }

    /// @notice Start unbonding `amount` of the caller's free stake. All of the caller's unbonding
    ///         stake (earlier requests included) is released `unbondingPeriod` from now. Unbonding
    ///         stake no longer backs nodes or jobs but can still be slashed until it is withdrawn.
    /// @param amount token wei to unbond (at most freeStake)
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ComputeStakingZeroAmount(msg.sender);
        uint256 free = freeStake(msg.sender);
        if (amount > free) revert ComputeStakingInsufficientFreeStake(msg.sender, amount, free);
        Provider storage p = _providers[msg.sender];
        // amount <= free <= staked < 2^112, so the cast is exact and the subtraction cannot underflow;
        // unbonding + amount <= total supply < 2^128.
        uint256 unbonding = uint256(p.unbonding) + amount;
        uint64 release = uint64(block.timestamp) + unbondingPeriod;
        p.staked -= uint112(amount);
        p.unbonding = uint128(unbonding);
        p.unbondingRelease = release;
        totalStaked -= amount;
        totalUnbonding += amount;
        emit UnbondRequested(msg.sender, amount, unbonding, release);
    }

    /// @notice Withdraw all of the caller's unbonding stake once its release time has passed.
    function withdraw() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert ComputeStakingNothingToWithdraw(msg.sender);
        uint64 release = p.unbondingRelease;
        if (block.timestamp < release) revert ComputeStakingStillUnbonding(msg.sender, release, block.timestamp);
        p.unbonding = 0;
        p.unbondingRelease = 0;
        totalUnbonding -= amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ lockers and slashers

    /// @inheritdoc IComputeStaking
    function lockStake(address provider, uint256 amount) external {
        if (!isLocker[msg.sender]) revert ComputeStakingNotLocker(msg.sender);
        uint256 free = freeStake(provider);
        if (amount > free) revert ComputeStakingInsufficientFreeStake(provider, amount, free);
        Provider storage p = _providers[provider];
        // amount <= free <= staked - locked, so locked + amount <= staked < 2^112.
        uint256 locked = uint256(p.locked) + amount;
        p.locked = uint112(locked);
        emit StakeLocked(provider, msg.sender, amount, locked);
    }

    /// @inheritdoc IComputeStaking
    /// @dev Exact: no other slash touches locked stake (see `slash`), so a locker's own lock is always
    ///      whole when it releases it; releasing more than is locked is a locker bug and reverts.
    function unlockStake(address provider, uint256 amount) external {
        if (!isLocker[msg.sender]) revert ComputeStakingNotLocker(msg.sender);
        Provider storage p = _providers[provider];
        uint256 locked = p.locked;
        if (amount > locked) revert ComputeStakingLockedShort(provider, amount, locked);
        unchecked {
            // amount <= locked, checked above
            locked -= amount;
        }
        p.locked = uint112(locked);
        emit StakeUnlocked(provider, msg.sender, amount, locked);
    }

    /// @inheritdoc IComputeStaking
    /// @dev Takes the provider's stake that is not locked (free stake and the nodes' reserve first,
    ///      then unbonding stake) and never locked collateral: that belongs to the running jobs, whose
    ///      requesters it compensates if they fail (see `slashLocked`). A zero `finder` or `harmed`
    ///      sends that share to the treasury; the provider itself gets nothing as either (a finder
    ///      share goes to `harmed`, a harmed share to the treasury). Nothing is burnt.
    function slash(address provider, uint256 amount, address finder, address harmed)
        external
        nonReentrant
        returns (uint256 slashed)
    {
        if (!isSlasher[msg.sender] && msg.sender != owner()) revert ComputeStakingNotSlasher(msg.sender);
        if (amount == 0) revert ComputeStakingZeroAmount(provider);
        slashed = _take(provider, amount);
        _payOut(provider, amount, slashed, finder, harmed);
    }

    /// @inheritdoc IComputeStaking
    /// @dev Only the locker that locked the collateral calls this, for at most what it locked, so
    ///      `amount <= locked` always holds; the check is a guard against a locker bug.
    function slashLocked(address provider, uint256 amount, address finder, address harmed) external nonReentrant {
        if (!isLocker[msg.sender]) revert ComputeStakingNotLocker(msg.sender);
        if (amount == 0) revert ComputeStakingZeroAmount(provider);
        Provider storage p = _providers[provider];
        uint256 locked = p.locked;
        if (amount > locked) revert ComputeStakingLockedShort(provider, amount, locked);
        unchecked {
            // amount <= locked <= staked (locked is a part of staked) and totalStaked >= staked.
            p.locked = uint112(locked - amount);
            p.staked -= uint112(amount);
            totalStaked -= amount;
        }
        _payOut(provider, amount, amount, finder, harmed);
    }

    /// @dev Reverts with `ComputeStakingInvalidGpuUuid` unless `gpuUuid` is in NVML's canonical form
    ///      (see `registerNode`). The check reads the 40 bytes as two words and tests every byte at
    ///      once (`_isLowerHex`); only a refused UUID pays for the byte-by-byte search of `index`.
    function _checkGpuUuid(string calldata gpuUuid) private pure {
        bytes calldata u = bytes(gpuUuid);
        if (u.length == GPU_UUID_LENGTH) {
            uint256 head; // bytes 0-31
            uint256 tail; // bytes 8-39: its last 8 bytes are the UUID's bytes 32-39
            assembly ("memory-safe") {
                head := calldataload(u.offset)
                tail := calldataload(add(u.offset, 8))
            }
            uint256 prefix = head >> 224;
            // the prefix ("GPU-" or "MIG-") and the dashes exactly; every other byte a lower-case hex
            // digit (the prefix and dash bytes replaced by '0' for that test)
            if (
                (prefix == 0x4750552d || prefix == 0x4d49472d) && head & _DASH_BYTES == _DASH_CHARS
                    && _isLowerHex((head & ~(_PREFIX_BYTES | _DASH_BYTES)) | (_ZERO_CHARS & (_PREFIX_BYTES | _DASH_BYTES)))
                    && _isLowerHex((tail & type(uint64).max) | (_ZERO_CHARS & ~uint256(type(uint64).max)))
            ) return;
        }
        revert ComputeStakingInvalidGpuUuid(gpuUuid, _departure(u));
    }

    /// @dev Whether every byte of `word` is '0'-'9' or 'a'-'f'. For a byte b < 0x80, b + (0x80 - k)
    ///      has its top bit set exactly when b >= k; with k >= 0x30 each byte sum stays below 0x100,
    ///      so no byte carries into the next and the additions cannot overflow (hence `unchecked`).
    function _isLowerHex(uint256 word) private pure returns (bool) {
        if (word & _HIGH_BITS != 0) return false;
        unchecked {
            uint256 digit = (word + _ONES * (0x80 - 0x30)) & ~(word + _ONES * (0x80 - 0x3a));
            uint256 af = (word + _ONES * (0x80 - 0x61)) & ~(word + _ONES * (0x80 - 0x67));
            return (digit | af) & _HIGH_BITS == _HIGH_BITS;
        }
    }

    /// @dev The first byte of `u` that departs from NVML's form (its length, or 40, when every byte
    ///      it has fits); only called for a UUID already refused.
    function _departure(bytes calldata u) private pure returns (uint256) {
        uint256 length = u.length;
        // the one prefix it can still match: "MIG-" if it starts with 'M', else "GPU-"
        bytes4 prefix = length != 0 && u[0] == "M" ? bytes4("MIG-") : bytes4("GPU-");
        uint256 end = length < GPU_UUID_LENGTH ? length : GPU_UUID_LENGTH;
        for (uint256 i; i < end; ++i) {
            uint256 c = uint8(u[i]);
            bool ok;
            if (i < 4) ok = c == uint8(prefix[i]);
            else if ((_DASHES >> i) & 1 == 1) ok = c == 0x2d; // '-'
            else ok = (_LOWER_HEX >> c) & 1 == 1;
            if (!ok) return i;
        }
        return end;
    }

    /// @dev Pays `slashed` (asked: `requested`) out as the governed shares and emits Slashed. The
    ///      party at fault never earns a share of its own slash: a `harmed` equal to the provider is
    ///      dropped (its share goes to the treasury), and a `finder` equal to the provider has its
    ///      share paid to `harmed` (the treasury when there is no harmed user).
    function _payOut(address provider, uint256 requested, uint256 slashed, address finder, address harmed) private {
        if (harmed == provider) harmed = address(0);
        if (finder == provider) finder = harmed;
        uint256 finderAmount = finder == address(0) ? 0 : (slashed * finderShareBps) / BPS;
        uint256 harmedAmount = harmed == address(0) ? 0 : (slashed * harmedShareBps) / BPS;
        // finderShareBps + harmedShareBps <= BPS, so the two shares never exceed `slashed`.
        uint256 treasuryAmount = slashed - finderAmount - harmedAmount;
        emit Slashed(
            provider, msg.sender, requested, slashed, finder, finderAmount, harmed, harmedAmount, treasuryAmount
        );
        if (finder == harmed && finder != address(0)) {
            // one transfer for both shares (the harmed user found the fault, or inherited the share)
            harmedAmount += finderAmount;
            finderAmount = 0;
        }
        if (finderAmount > 0) token.safeTransfer(finder, finderAmount);
        if (harmedAmount > 0) token.safeTransfer(harmed, harmedAmount);
        if (treasuryAmount > 0) token.safeTransfer(treasury, treasuryAmount);
    }

    /// @dev Removes up to `amount` of `provider`'s stake that is not locked: from `staked - locked`
    ///      first, then from unbonding. Returns what was taken.
    function _take(address provider, uint256 amount) private returns (uint256 taken) {
        Provider storage p = _providers[provider];
        uint256 staked = p.staked;
        uint256 unlocked = staked - p.locked; // locked <= staked always
        uint256 fromStaked = amount < unlocked ? amount : unlocked;
        p.staked = uint112(staked - fromStaked);
        totalStaked -= fromStaked;
        uint256 unbonding = p.unbonding;
        uint256 fromUnbonding = amount - fromStaked;
        if (fromUnbonding > unbonding) fromUnbonding = unbonding;
        if (fromUnbonding > 0) {
            p.unbonding = uint128(unbonding - fromUnbonding);
            totalUnbonding -= fromUnbonding;
        }
        taken = fromStaked + fromUnbonding;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IComputeStaking
    function freeStake(address provider) public view returns (uint256) {
        Provider storage p = _providers[provider];
        uint256 reserved = uint256(p.locked) + uint256(p.nodeCount) * minStakePerGpu;
        uint256 staked = p.staked;
        return staked > reserved ? staked - reserved : 0;
    }

    /// @inheritdoc IComputeStaking
    function nodeOwner(bytes32 nodeId) external view returns (address) {
        Node storage node = _nodes[nodeId];
        return node.active ? node.owner : address(0);
    }

    /// @notice Everything the page shows about a provider.
    /// @return staked stake not unbonding (locked included)
    /// @return locked collateral of running jobs
    /// @return unbonding stake waiting to be withdrawn
    /// @return unbondingRelease when the unbonding stake can be withdrawn (0 if none)
    /// @return nodeCount registered GPUs
    function providerInfo(address provider)
        external
        view
        returns (uint256 staked, uint256 locked, uint256 unbonding, uint64 unbondingRelease, uint32 nodeCount)
    {
        Provider storage p = _providers[provider];
        return (p.staked, p.locked, p.unbonding, p.unbondingRelease, p.nodeCount);
    }

    /// @notice Everything the page shows about a node. A deregistered node keeps its last record
    ///         with `active == false`.
    function nodeInfo(bytes32 nodeId)
        external
        view
        returns (address owner, string memory gpuModel, uint32 vramMiB, string memory metadataURI, bool active)
    {
        Node storage node = _nodes[nodeId];
        return (node.owner, node.gpuModel, node.vramMiB, node.metadataURI, node.active);
    }

    /// @notice Stake `provider`'s registered nodes reserve.
    function requiredStake(address provider) external view returns (uint256) {
        return uint256(_providers[provider].nodeCount) * minStakePerGpu;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the stake each registered GPU requires (0 .. MAX_MIN_STAKE_PER_GPU). Existing
    ///         nodes stay registered; a higher value only shrinks free stake.
    function setMinStakePerGpu(uint256 value) public onlyOwner {
        if (value > MAX_MIN_STAKE_PER_GPU) {
            revert ComputeStakingValueOutOfBounds("minStakePerGpu", value, 0, MAX_MIN_STAKE_PER_GPU);
        }
        emit MinStakePerGpuSet(minStakePerGpu, value);
        minStakePerGpu = value;
    }

    /// @notice Set the unbonding period (MIN_UNBONDING_PERIOD .. MAX_UNBONDING_PERIOD seconds). Applies
    ///         to later unbonding requests.
    function setUnbondingPeriod(uint64 value) public onlyOwner {
        if (value < MIN_UNBONDING_PERIOD || value > MAX_UNBONDING_PERIOD) {
            revert ComputeStakingValueOutOfBounds("unbondingPeriod", value, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD);
        }
        emit UnbondingPeriodSet(unbondingPeriod, value);
        unbondingPeriod = value;
    }

    /// @notice Set how slashes are split: finder <= MAX_FINDER_SHARE_BPS, finder + harmed <= BPS, the
    ///         rest goes to the treasury.
    function setSlashShares(uint16 finderBps, uint16 harmedBps) public onlyOwner {
        if (finderBps > MAX_FINDER_SHARE_BPS) {
            revert ComputeStakingValueOutOfBounds("finderShareBps", finderBps, 0, MAX_FINDER_SHARE_BPS);
        }
        if (uint256(finderBps) + harmedBps > BPS) {
            revert ComputeStakingValueOutOfBounds("harmedShareBps", harmedBps, 0, BPS - finderBps);
        }
        finderShareBps = finderBps;
        harmedShareBps = harmedBps;
        emit SlashSharesSet(finderBps, harmedBps);
    }

    /// @notice Set the treasury (non-zero).
    function setTreasury(address newTreasury) public onlyOwner {
        if (newTreasury == address(0)) revert ComputeStakingZeroAddress("treasury");
        emit TreasurySet(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice Allow or disallow `account` to lock and unlock collateral.
    function setLocker(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ComputeStakingZeroAddress("locker");
        isLocker[account] = allowed;
        emit LockerSet(account, allowed);
    }

    /// @notice Allow or disallow `account` to slash.
    function setSlasher(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ComputeStakingZeroAddress("slasher");
        isSlasher[account] = allowed;
        emit SlasherSet(account, allowed);
    }
}
