// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title IPaymentChannels
/// @notice Types, events and errors of {PaymentChannels}: one-way payment channels from a user to a
///         provider, paid per request with EIP-712 vouchers for a cumulative amount.
/// @dev The voucher a channel's signer signs is the EIP-712 typed data
///        Voucher(uint256 channelId,uint256 cumulativeAmount,uint256 modelId)
///      under the domain {name: "PaymentChannels", version: "1", chainId, verifyingContract}.
///      `cumulativeAmount` is the total the user owes the provider on that channel so far (not the
///      price of one request), so only the latest voucher matters and any older one is worth nothing.
interface IPaymentChannels {
    /// @notice Where a channel is in its life.
    /// @dev None: never opened. Open: redeemable, may be topped up. Closing: the user asked to close;
    ///      the provider may still redeem until `closesAt`, then the user withdraws the rest.
    ///      Closed: the rest was withdrawn; the id is never used again.
    enum Status {
        None,
        Open,
        Closing,
        Closed
    }

    /// @notice A channel as stored (see the storage layout in PaymentChannels).
    /// @param user who deposited and may top up, rotate the signer, close and withdraw
    /// @param closesAt 0 while Open; once closing, the time from which the user may withdraw (the
    ///        provider may redeem while block.timestamp < closesAt)
    /// @param feeBps the protocol fee rate, snapshotted at open
    /// @param royaltyBps the model's royalty rate, snapshotted at open (0: no royalty)
    /// @param provider who is paid and alone may redeem
    /// @param deposit everything the user put in (grows with top-ups, never shrinks)
    /// @param signer the key whose vouchers the channel accepts besides the user's own
    /// @param redeemed the highest cumulative amount redeemed so far
    /// @param royaltyReceiver the model's royalty receiver, snapshotted at open
    /// @param modelId the ModelNFT id the vouchers name (0: none)
    struct Channel {
        address user;
        uint40 closesAt;
        uint16 feeBps;
        uint16 royaltyBps;
        address provider;
        uint96 deposit;
        address signer;
        uint96 redeemed;
        address royaltyReceiver;
        uint256 modelId;
    }

    /// @notice `user` opened channel `channelId` to `provider` with `deposit`, accepting vouchers from
    ///         `signer` for model `modelId`, under the fee and royalty terms given (fixed for the
    ///         channel's life).
    /// @param channelId the new channel's id (ids start at 1 and are never reused)
    /// @param user the depositor
    /// @param provider the payee
    /// @param signer the authorised voucher signer (e.g. the page's session key)
    /// @param modelId the model the vouchers pay for (0: none)
    /// @param deposit the initial deposit
    /// @param feeBps protocol fee rate on every redeemed increment
    /// @param royaltyReceiver receives the royalty (address(0) when royaltyBps is 0)
    /// @param royaltyBps royalty rate on every redeemed increment
    event ChannelOpened(
        uint256 indexed channelId,
        address indexed user,
        address indexed provider,
        address signer,
        uint256 modelId,
        uint256 deposit,
        uint16 feeBps,
        address royaltyReceiver,
        uint16 royaltyBps
    );

    /// @notice The user added `amount` to channel `channelId`; its deposit is now `deposit`.
    /// @param channelId the channel
    /// @param amount added now
    /// @param deposit the new total deposit
    event ChannelToppedUp(uint256 indexed channelId, uint256 amount, uint256 deposit);

    /// @notice The user replaced the signer of channel `channelId`; vouchers of `oldSigner` stay
    ///         redeemable while block.timestamp < `oldSignerUntil` (the close delay: the provider has
    ///         the same time to redeem them as it has when the channel closes).
    /// @param channelId the channel
    /// @param oldSigner the signer replaced
    /// @param newSigner the signer from now on
    /// @param oldSignerUntil end of the old signer's grace period
    event SignerChanged(uint256 indexed channelId, address oldSigner, address newSigner, uint40 oldSignerUntil);

    /// @notice The provider redeemed a voucher for `cumulativeAmount` on channel `channelId`; the
    ///         increment over the last redemption went as `fee` to the treasury, `royalty` to the
    ///         channel's royalty receiver and `providerAmount` to the provider (increment = fee +
    ///         royalty + providerAmount).
    /// @param channelId the channel
    /// @param cumulativeAmount the voucher's cumulative amount (the channel's new `redeemed`)
    /// @param fee protocol fee paid to the treasury
    /// @param royalty royalty paid to the channel's royalty receiver
    /// @param providerAmount paid to the provider
    event Redeemed(
        uint256 indexed channelId, uint256 cumulativeAmount, uint256 fee, uint256 royalty, uint256 providerAmount
    );

    /// @notice The user asked to close channel `channelId`; the provider may redeem until `closesAt`,
    ///         from when the user may withdraw the rest.
    /// @param channelId the channel
    /// @param closesAt end of the provider's last redemption window
    event CloseRequested(uint256 indexed channelId, uint40 closesAt);

    /// @notice Channel `channelId` closed: `refund` (deposit - redeemed) went back to `user`.
    /// @param channelId the channel (never used again)
    /// @param user the channel's user
    /// @param refund what was left unredeemed
    event ChannelClosed(uint256 indexed channelId, address indexed user, uint256 refund);

    /// @notice Governance changed the protocol fee for channels opened from now on.
    /// @param oldValue previous rate (bps)
    /// @param newValue new rate (bps)
    event FeeBpsSet(uint16 oldValue, uint16 newValue);

    /// @notice Governance changed the close delay (applies to closes and signer rotations requested
    ///         from now on).
    /// @param oldValue previous delay (seconds)
    /// @param newValue new delay (seconds)
    event CloseDelaySet(uint32 oldValue, uint32 newValue);

    /// @notice Governance changed the treasury.
    /// @param oldTreasury previous fee receiver
    /// @param newTreasury new fee receiver
    event TreasurySet(address oldTreasury, address newTreasury);

    /// @notice The zero address was given for `what`.
    /// @param what the parameter's name
    error PaymentChannelsZeroAddress(string what);

    /// @notice `amount` is zero, or would take a channel's deposit above 2^96-1 wei.
    /// @param amount the amount given
    error PaymentChannelsInvalidAmount(uint256 amount);

    /// @notice The permit failed and the allowance `allowance` does not cover `amount`.
    /// @param user the permit's owner (the caller)
    /// @param amount the amount to deposit
    /// @param allowance the caller's allowance to this contract
    error PaymentChannelsPermitFailed(address user, uint256 amount, uint256 allowance);

    /// @notice Model `modelId` has not been minted (a channel names only an existing model).
    /// @param modelId the model id given
    error PaymentChannelsUnknownModel(uint256 modelId);

    /// @notice Channel `channelId` is in `status`; the operation needs `expected`.
    /// @param channelId the channel
    /// @param status its status now
    /// @param expected the status the operation needs
    error PaymentChannelsWrongStatus(uint256 channelId, Status status, Status expected);

    /// @notice `caller` is not the user `user` of channel `channelId`.
    /// @param channelId the channel
    /// @param caller msg.sender
    /// @param user the channel's user
    error PaymentChannelsNotUser(uint256 channelId, address caller, address user);

    /// @notice `caller` is not the provider `provider` of channel `channelId`.
    /// @param channelId the channel
    /// @param caller msg.sender
    /// @param provider the channel's provider
    error PaymentChannelsNotProvider(uint256 channelId, address caller, address provider);

    /// @notice Channel `channelId` closing: its redemption window ended at `closesAt`; now is `nowTime`.
    /// @param channelId the channel
    /// @param closesAt end of the redemption window
    /// @param nowTime block.timestamp
    error PaymentChannelsRedeemWindowOver(uint256 channelId, uint256 closesAt, uint256 nowTime);

    /// @notice Channel `channelId` may be withdrawn only from `closesAt`; now is `nowTime`.
    /// @param channelId the channel
    /// @param closesAt when the withdrawal opens
    /// @param nowTime block.timestamp
    error PaymentChannelsCloseDelayNotOver(uint256 channelId, uint256 closesAt, uint256 nowTime);

    /// @notice The voucher's `cumulativeAmount` is not above what channel `channelId` already
    ///         redeemed (`redeemed`): an older or equal voucher is worth nothing.
    /// @param channelId the channel
    /// @param cumulativeAmount the voucher's amount
    /// @param redeemed already redeemed
    error PaymentChannelsVoucherNotAbove(uint256 channelId, uint256 cumulativeAmount, uint256 redeemed);

    /// @notice The voucher's `cumulativeAmount` is above channel `channelId`'s deposit `deposit`.
    /// @param channelId the channel
    /// @param cumulativeAmount the voucher's amount
    /// @param deposit the channel's deposit
    error PaymentChannelsVoucherExceedsDeposit(uint256 channelId, uint256 cumulativeAmount, uint256 deposit);

    /// @notice The voucher's signature does not parse (OpenZeppelin ECDSA's `reason` and `detail`:
    ///         1 = InvalidSignature, 2 = InvalidSignatureLength (detail = the length), 3 =
    ///         InvalidSignatureS (detail = s)).
    /// @param channelId the channel
    /// @param reason ECDSA.RecoverError
    /// @param detail the length or the s value, as bytes32
    error PaymentChannelsMalformedSignature(uint256 channelId, ECDSA.RecoverError reason, bytes32 detail);

    /// @notice The voucher was signed by `recovered`, which is neither the user nor the channel's
    ///         signer `signer` (nor a replaced signer within its grace period). A voucher for another
    ///         channel, contract, chain or model recovers to an unrelated address and lands here.
    /// @param channelId the channel
    /// @param recovered the address the signature recovers to over this channel's voucher
    /// @param signer the channel's current signer
    error PaymentChannelsInvalidSigner(uint256 channelId, address recovered, address signer);

    /// @notice A governed value was outside its bounds [min, max].
    /// @param parameter the parameter's name
    /// @param value the value given
    /// @param min lowest allowed
    /// @param max highest allowed
    error PaymentChannelsValueOutOfBounds(string parameter, uint256 value, uint256 min, uint256 max);
}
