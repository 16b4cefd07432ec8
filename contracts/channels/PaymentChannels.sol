// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IPaymentChannels} from "./IPaymentChannels.sol";

/// @title PaymentChannels
/// @notice Pay per use: a user deposits once into a channel to one provider and pays each request
///         with an off-chain EIP-712 voucher for the cumulative amount owed so far; the provider
///         redeems the latest voucher whenever it likes, and each redemption pays, on the increment
///         over the last one, the protocol fee to the treasury, the model's royalty (ModelNFT, ERC-2981) to its
///         receiver and the rest to the provider. One redemption settles any number of requests.
///         The user may ask to close; during the governed close delay the provider can still redeem,
///         after it the user withdraws what is left.
/// @dev Lifecycle: (none) -open-> Open -requestClose-> Closing -withdraw (from closesAt)-> Closed.
///      Open: topUp, setSigner, redeem. Closing: setSigner, redeem while now < closesAt.
///
///      Vouchers: `Voucher(uint256 channelId,uint256 cumulativeAmount,uint256 modelId)` under the
///      domain (name "PaymentChannels", version "1", chain id, this contract), signed by the user or
///      by the channel's signer (a session key the user names at open and may rotate; a replaced
///      signer's vouchers stay valid for one close delay, so a rotation cannot void vouchers the
///      provider already holds). The model id is the channel's own, read from storage, so a voucher
///      for another model, channel, contract or chain recovers to an unrelated address and reverts.
///      A voucher at or below `redeemed` reverts (older vouchers are worth nothing); one above the
///      deposit reverts.
///
///      Terms fixed at open (the class of bug where value is moved under a party after it committed,
///      see JobEscrow and issue 11): the fee rate and the model's royalty receiver and rate are
///      snapshotted into the channel; only existing models may be named. Governance changes apply
///      to channels opened later. The close delay is read when the close (or rotation) is asked.
///
///      Invariant (money exact): this contract's token balance == sum over channels not Closed of
///      (deposit - redeemed). A deposit enters once (open / top-up); each wei leaves exactly once,
///      either within a redemption increment (fee + royalty + provider share = increment) or in the
///      refund at withdraw.
///
///      Storage layout of a channel (three slots, a fourth only with a royalty, a fifth only with a
///      model):
///        slot 0: user (160) | closesAt (40) | feeBps (16) | royaltyBps (16)
///        slot 1: provider (160) | deposit (96)
///        slot 2: signer (160) | redeemed (96)
///        slot 3: royaltyReceiver (160)   -- written only when royaltyBps != 0
///        slot 4: modelId (256)           -- written only when != 0
///      A redemption reads slots 0-2 (+3, +4 when used) and writes slot 2 only. A withdrawn
///      channel's slots are deleted; it reads back as Closed for ids up to channelCount. uint96
///      holds 7.9e28 wei, above the token's supply; uint40 timestamps last until the year 36812.
///      Replaced signers live in `_previousSigners` (signer (160) | until (40)), read only when a
///      voucher's signer is neither the user nor the current signer.
///
///      The governed parameters and the channel counter share one slot:
///        treasury (160) | feeBps (16) | closeDelay (32) | channelCount (48).
contract PaymentChannels is IPaymentChannels, EIP712, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev One slot, see the contract comment.
    struct Config {
        address treasury;
        uint16 feeBps;
        uint32 closeDelay;
        uint48 channelCount;
    }

    /// @notice Basis-point denominator (100%).
    uint16 public constant BPS = 10_000;
    /// @notice Highest protocol fee governance may set (10%).
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Shortest close delay governance may set (the provider's last redemption window).
    uint32 public constant MIN_CLOSE_DELAY = 10 minutes;
    /// @notice Longest close delay governance may set.
    uint32 public constant MAX_CLOSE_DELAY = 30 days;
    /// @notice EIP-712 type hash of a voucher.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(uint256 channelId,uint256 cumulativeAmount,uint256 modelId)");

    /// @notice The payment token (the protocol's ComputeToken, EIP-2612 capable).
    IERC20 public immutable token;
    /// @notice The model registry (ModelNFT) whose royalty terms channels snapshot and pay.
    IModelRegistry public immutable modelNFT;

    Config private _config;
    mapping(uint256 channelId => Channel) private _channels;
    /// @dev channelId => replaced signer (160) | end of its grace period (40).
    mapping(uint256 channelId => uint256) private _previousSigners;

    /// @param token_ payment token (EIP-2612 capable for the *WithPermit functions)
    /// @param modelNFT_ the model registry (ModelNFT: exists + royaltyOf)
    /// @param treasury_ receives protocol fees
    /// @param feeBps_ protocol fee (<= MAX_FEE_BPS)
    /// @param closeDelay_ seconds between a close request and the withdrawal
    constructor(IERC20 token_, IModelRegistry modelNFT_, address treasury_, uint16 feeBps_, uint32 closeDelay_)
        EIP712("PaymentChannels", "1")
        Ownable(msg.sender)
    {
        if (address(token_) == address(0)) revert PaymentChannelsZeroAddress("token");
        if (address(modelNFT_) == address(0)) revert PaymentChannelsZeroAddress("modelNFT");
        token = token_;
        modelNFT = modelNFT_;
        setTreasury(treasury_);
        setFeeBps(feeBps_);
        setCloseDelay(closeDelay_);
    }

    // ------------------------------------------------------------------ user

    /// @notice Open a channel to `provider` and deposit `amount` (approve this contract first).
    /// @param provider who is paid (and alone may redeem)
    /// @param signer the key whose vouchers count besides the caller's own (e.g. a session key)
    /// @param modelId the ModelNFT id the channel pays for (0: none, no royalty); must exist
    /// @param amount the deposit (token wei)
    /// @return channelId the new channel's id
    function open(address provider, address signer, uint256 modelId, uint256 amount)
        external
        nonReentrant
        returns (uint256 channelId)
    {
        return _open(provider, signer, modelId, amount);
    }

    /// @notice Like open, with an EIP-2612 permit for `amount` in the same transaction. A permit that
    ///         was front-run (already used) is tolerated as long as the allowance covers `amount`.
    /// @param provider who is paid
    /// @param signer the authorised voucher signer
    /// @param modelId the ModelNFT id (0: none)
    /// @param amount the deposit (also the permit's value)
    /// @param permitDeadline the permit's deadline
    /// @param v permit signature (by the caller, spender = this contract, value = amount)
    /// @param r permit signature
    /// @param s permit signature
    /// @return channelId the new channel's id
    function openWithPermit(
        address provider,
        address signer,
        uint256 modelId,
        uint256 amount,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 channelId) {
        _permit(amount, permitDeadline, v, r, s);
        return _open(provider, signer, modelId, amount);
    }

    /// @notice Add `amount` to the deposit of open channel `channelId` (approve first).
    /// @param channelId the channel (Open, the caller its user)
    /// @param amount token wei to add
    function topUp(uint256 channelId, uint256 amount) external nonReentrant {
        _topUp(channelId, amount);
    }

    /// @notice Like topUp, with an EIP-2612 permit for `amount`.
    /// @param channelId the channel (Open, the caller its user)
    /// @param amount token wei to add (also the permit's value)
    /// @param permitDeadline the permit's deadline
    /// @param v permit signature
    /// @param r permit signature
    /// @param s permit signature
    function topUpWithPermit(uint256 channelId, uint256 amount, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        _permit(amount, permitDeadline, v, r, s);
        _topUp(channelId, amount);
    }

    /// @notice Replace the signer of channel `channelId` (e.g. a new session key). The old signer's
    ///         vouchers stay redeemable for one close delay.
    /// @param channelId the channel (Open or Closing, the caller its user)
    /// @param newSigner the signer from now on
    function setSigner(uint256 channelId, address newSigner) external {
        if (newSigner == address(0)) revert PaymentChannelsZeroAddress("signer");
        Channel storage ch = _channels[channelId];
        address user = ch.user;
        if (user == address(0)) _revertWrongStatus(channelId, Status.Open);
        if (msg.sender != user) revert PaymentChannelsNotUser(channelId, msg.sender, user);
        address oldSigner = ch.signer;
        // now + closeDelay < 2^40 (closeDelay <= 30 days), so the cast is exact.
        uint40 until = uint40(block.timestamp + _config.closeDelay);
        _previousSigners[channelId] = uint256(uint160(oldSigner)) | (uint256(until) << 160);
        ch.signer = newSigner;
        emit SignerChanged(channelId, oldSigner, newSigner, until);
    }

    /// @notice Ask to close channel `channelId`: the provider may still redeem for one close delay,
    ///         after which the user withdraws the rest.
    /// @param channelId the channel (Open, the caller its user)
    function requestClose(uint256 channelId) external {
        Channel storage ch = _channels[channelId];
        address user = ch.user;
        if (user == address(0) || ch.closesAt != 0) _revertWrongStatus(channelId, Status.Open);
        if (msg.sender != user) revert PaymentChannelsNotUser(channelId, msg.sender, user);
        // now + closeDelay < 2^40 (closeDelay <= 30 days), so the cast is exact.
        uint40 closesAt = uint40(block.timestamp + _config.closeDelay);
        ch.closesAt = closesAt;
        emit CloseRequested(channelId, closesAt);
    }

    /// @notice Withdraw what is left of closing channel `channelId` once its close delay is over;
    ///         the channel is then Closed for good.
    /// @param channelId the channel (Closing, the caller its user)
    function withdraw(uint256 channelId) external nonReentrant {
        Channel storage ch = _channels[channelId];
        (address user, uint256 closesAt) = (ch.user, ch.closesAt);
        if (user == address(0) || closesAt == 0) _revertWrongStatus(channelId, Status.Closing);
        if (msg.sender != user) revert PaymentChannelsNotUser(channelId, msg.sender, user);
        if (block.timestamp < closesAt) revert PaymentChannelsCloseDelayNotOver(channelId, closesAt, block.timestamp);
        uint256 refund;
        unchecked {
            // redeemed <= deposit always (redeem checks cumulativeAmount <= deposit).
            refund = uint256(ch.deposit) - ch.redeemed;
        }
        delete _channels[channelId];
        delete _previousSigners[channelId];
        emit ChannelClosed(channelId, user, refund);
        if (refund > 0) token.safeTransfer(user, refund);
    }

    // ------------------------------------------------------------------ provider

    /// @notice Redeem a voucher for `cumulativeAmount` on channel `channelId`: the increment over the
    ///         last redemption is paid out (fee to the treasury, royalty to the model's receiver, the
    ///         rest to the provider). Only the channel's provider, while Open or within the close delay.
    /// @param channelId the channel
    /// @param cumulativeAmount the voucher's cumulative amount (> redeemed, <= deposit)
    /// @param signature the voucher's 65-byte signature by the user or the channel's signer
    function redeem(uint256 channelId, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        Channel storage ch = _channels[channelId];
        address user = ch.user;
        if (user == address(0)) _revertWrongStatus(channelId, Status.Open);
        {
            uint256 closesAt = ch.closesAt;
            if (closesAt != 0 && block.timestamp >= closesAt) {
                revert PaymentChannelsRedeemWindowOver(channelId, closesAt, block.timestamp);
            }
        }
        address provider = ch.provider;
        if (msg.sender != provider) revert PaymentChannelsNotProvider(channelId, msg.sender, provider);
        uint256 redeemed = ch.redeemed;
        if (cumulativeAmount <= redeemed) {
            revert PaymentChannelsVoucherNotAbove(channelId, cumulativeAmount, redeemed);
        }
        {
            uint256 deposit = ch.deposit;
            if (cumulativeAmount > deposit) {
                revert PaymentChannelsVoucherExceedsDeposit(channelId, cumulativeAmount, deposit);
            }
        }
        _checkSigner(channelId, voucherDigest(channelId, cumulativeAmount, ch.modelId), signature, user, ch.signer);

        // cumulativeAmount <= deposit < 2^96 (checked above), so the cast is exact.
        ch.redeemed = uint96(cumulativeAmount);
        unchecked {
            // cumulativeAmount > redeemed (checked above).
            _pay(channelId, ch, provider, cumulativeAmount, cumulativeAmount - redeemed);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The EIP-712 digest of the voucher (`channelId`, `cumulativeAmount`, `modelId`) under
    ///         this contract's domain: what the signer signs.
    /// @param channelId the channel
    /// @param cumulativeAmount the cumulative amount
    /// @param modelId the channel's model id (0: none)
    /// @return the digest to sign
    function voucherDigest(uint256 channelId, uint256 cumulativeAmount, uint256 modelId)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount, modelId)));
    }

    /// @notice Channel `channelId` as stored (all zero once Closed).
    /// @param channelId the channel
    /// @return channel its fields
    function getChannel(uint256 channelId) external view returns (Channel memory channel) {
        return _channels[channelId];
    }

    /// @notice Where channel `channelId` is: None (never opened), Open, Closing or Closed.
    /// @param channelId the channel
    /// @return its status
    function statusOf(uint256 channelId) public view returns (Status) {
        Channel storage ch = _channels[channelId];
        if (ch.user != address(0)) return ch.closesAt == 0 ? Status.Open : Status.Closing;
        return channelId != 0 && channelId <= _config.channelCount ? Status.Closed : Status.None;
    }

    /// @notice What the provider could still redeem on channel `channelId` (deposit - redeemed).
    /// @param channelId the channel
    /// @return token wei not yet redeemed
    function unredeemedOf(uint256 channelId) external view returns (uint256) {
        Channel storage ch = _channels[channelId];
        return uint256(ch.deposit) - ch.redeemed;
    }

    /// @notice The replaced signer of channel `channelId` and the end of its grace period
    ///         ((address(0), 0) if the signer was never rotated).
    /// @param channelId the channel
    /// @return signer the replaced signer
    /// @return until its vouchers count while block.timestamp < until
    function previousSignerOf(uint256 channelId) external view returns (address signer, uint40 until) {
        uint256 packed = _previousSigners[channelId];
        return (address(uint160(packed)), uint40(packed >> 160));
    }

    /// @notice Number of channels opened so far (the last channel id).
    /// @return the count
    function channelCount() external view returns (uint256) {
        return _config.channelCount;
    }

    /// @notice Receives protocol fees.
    /// @return the treasury
    function treasury() external view returns (address) {
        return _config.treasury;
    }

    /// @notice Protocol fee (bps of each redeemed increment) for channels opened from now on.
    /// @return the rate
    function feeBps() external view returns (uint16) {
        return _config.feeBps;
    }

    /// @notice Seconds between a close request and the withdrawal (also a replaced signer's grace).
    /// @return the delay
    function closeDelay() external view returns (uint32) {
        return _config.closeDelay;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the protocol fee for channels opened from now on (0 .. MAX_FEE_BPS).
    /// @param value the rate (bps)
    function setFeeBps(uint16 value) public onlyOwner {
        if (value > MAX_FEE_BPS) revert PaymentChannelsValueOutOfBounds("feeBps", value, 0, MAX_FEE_BPS);
        emit FeeBpsSet(_config.feeBps, value);
        _config.feeBps = value;
    }

    /// @notice Set the close delay (MIN_CLOSE_DELAY .. MAX_CLOSE_DELAY seconds).
    /// @param value the delay (seconds)
    function setCloseDelay(uint32 value) public onlyOwner {
        if (value < MIN_CLOSE_DELAY || value > MAX_CLOSE_DELAY) {
            revert PaymentChannelsValueOutOfBounds("closeDelay", value, MIN_CLOSE_DELAY, MAX_CLOSE_DELAY);
        }
        emit CloseDelaySet(_config.closeDelay, value);
        _config.closeDelay = value;
    }

    /// @notice Set the treasury (non-zero).
    /// @param value the fee receiver
    function setTreasury(address value) public onlyOwner {
        if (value == address(0)) revert PaymentChannelsZeroAddress("treasury");
        emit TreasurySet(_config.treasury, value);
        _config.treasury = value;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Validates, records and funds a new channel (shared by open and openWithPermit).
    function _open(address provider, address signer, uint256 modelId, uint256 amount)
        private
        returns (uint256 channelId)
    {
        if (provider == address(0)) revert PaymentChannelsZeroAddress("provider");
        if (signer == address(0)) revert PaymentChannelsZeroAddress("signer");
        if (amount == 0 || amount > type(uint96).max) revert PaymentChannelsInvalidAmount(amount);
        Config storage cfg = _config;
        uint16 fee = cfg.feeBps;
        address receiver = address(0);
        uint256 royaltyBps = 0;
        if (modelId != 0) {
            if (!modelNFT.exists(modelId)) revert PaymentChannelsUnknownModel(modelId);
            (receiver, royaltyBps) = modelNFT.royaltyOf(modelId);
            if (receiver == address(0)) royaltyBps = 0;
            // Never more royalty than the increment leaves after the fee.
            if (royaltyBps > BPS - fee) royaltyBps = BPS - fee;
        }
        channelId = cfg.channelCount + 1;
        // `cfg.channelCount + 1` is checked uint48 arithmetic (reverts after 2.8e14 channels), so exact.
        cfg.channelCount = uint48(channelId);
        Channel storage ch = _channels[channelId];
        ch.user = msg.sender;
        ch.feeBps = fee;
        ch.provider = provider;
        ch.deposit = uint96(amount); // amount <= 2^96-1 checked above
        ch.signer = signer;
        if (royaltyBps != 0) {
            ch.royaltyBps = uint16(royaltyBps); // <= BPS
            ch.royaltyReceiver = receiver;
        } else {
            receiver = address(0);
        }
        if (modelId != 0) ch.modelId = modelId;
        emit ChannelOpened(channelId, msg.sender, provider, signer, modelId, amount, fee, receiver, uint16(royaltyBps));
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Adds to an open channel's deposit (shared by topUp and topUpWithPermit).
    function _topUp(uint256 channelId, uint256 amount) private {
        Channel storage ch = _channels[channelId];
        address user = ch.user;
        if (user == address(0) || ch.closesAt != 0) _revertWrongStatus(channelId, Status.Open);
        if (msg.sender != user) revert PaymentChannelsNotUser(channelId, msg.sender, user);
        uint256 deposit = uint256(ch.deposit) + amount;
        if (amount == 0 || deposit > type(uint96).max) revert PaymentChannelsInvalidAmount(amount);
        ch.deposit = uint96(deposit); // <= 2^96-1 checked above
        emit ChannelToppedUp(channelId, amount, deposit);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Pays a redeemed `increment` of channel `channelId`: the snapshotted fee to the treasury, the
    ///      snapshotted royalty to its receiver, the rest to `provider`. The caller has already
    ///      recorded the redemption (CEI).
    function _pay(uint256 channelId, Channel storage ch, address provider, uint256 cumulativeAmount, uint256 increment)
        private
    {
        uint256 fee = (increment * ch.feeBps) / BPS;
        uint256 royalty = (increment * ch.royaltyBps) / BPS;
        uint256 providerAmount;
        unchecked {
            // feeBps + royaltyBps <= BPS (capped at open), so fee + royalty <= increment.
            providerAmount = increment - fee - royalty;
        }
        emit Redeemed(channelId, cumulativeAmount, fee, royalty, providerAmount);
        if (fee > 0) token.safeTransfer(_config.treasury, fee);
        if (royalty > 0) token.safeTransfer(ch.royaltyReceiver, royalty);
        if (providerAmount > 0) token.safeTransfer(provider, providerAmount);
    }

    /// @dev Runs the caller's EIP-2612 permit; a failed (e.g. front-run) permit is fine when the
    ///      allowance already covers `amount`.
    function _permit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {}
        catch {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < amount) revert PaymentChannelsPermitFailed(msg.sender, amount, allowance);
        }
    }

    /// @dev Reverts unless `signature` over `digest` is by the user, the signer, or the replaced signer
    ///      within its grace period.
    function _checkSigner(uint256 channelId, bytes32 digest, bytes calldata signature, address user, address signer)
        private
        view
    {
        (address recovered, ECDSA.RecoverError err, bytes32 detail) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError) revert PaymentChannelsMalformedSignature(channelId, err, detail);
        if (recovered == signer || recovered == user) return;
        uint256 previous = _previousSigners[channelId];
        if (recovered == address(uint160(previous)) && block.timestamp < uint40(previous >> 160)) return;
        revert PaymentChannelsInvalidSigner(channelId, recovered, signer);
    }

    /// @dev Reverts with the channel's effective status (failure paths only).
    function _revertWrongStatus(uint256 channelId, Status expected) private view {
        revert PaymentChannelsWrongStatus(channelId, statusOf(channelId), expected);
    }
}
