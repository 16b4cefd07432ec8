"""PaymentChannels: open / top up / vouchers / redeem / close / withdraw, every revert with all its
arguments, bad vouchers of every kind, the close racing a redemption, and the money exact to the wei.

The contract is deployed by scripts/deploy.py's `deploy_channels` next to the core of
scripts/deploy.py (the `protocol` fixture, treasury = accounts[9]); vouchers are signed by
oracle/client/pay_voucher.py, the module the paying client uses."""

import pytest
from eth_account import Account
from eth_utils import keccak

from oracle.client.pay_voucher import (
    Voucher,
    channels_domain,
    recover_signer,
    sign_voucher,
    voucher_digest,
)
from scripts._signing import token_permit
from scripts.deploy import CHANNEL_DEFAULTS, deploy_channels
from tests.support.core import BPS, ETHER, MODEL_URI, advance, as_int, events, timestamp_of, weights_hash
from tests.support.reverts import reverts, reverts_on_deploy

DEPOSIT = 100 * ETHER
FEE_BPS = CHANNEL_DEFAULTS["channel_fee_bps"]  # 250
CLOSE_DELAY = CHANNEL_DEFAULTS["channel_close_delay"]
ROYALTY_BPS = 700
NONE, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
SESSION = Account.from_key(keccak(text="channels-test-session-key"))
SESSION_2 = Account.from_key(keccak(text="channels-test-session-key-2"))
STRANGER = Account.from_key(keccak(text="channels-test-stranger"))


@pytest.fixture(scope="module")
def channels(protocol, deployer, token, treasury):
    return deploy_channels(deployer, token, protocol["ModelNFT"], treasury, CHANNEL_DEFAULTS)


@pytest.fixture(scope="module")
def model_id(model_nft, creator):
    wh = weights_hash("channels-model")
    model_nft.mint(creator, wh, MODEL_URI, creator, ROYALTY_BPS, sender=creator)
    return as_int(wh)


@pytest.fixture(scope="module")
def domain(channels, chain):
    return channels_domain(chain.chain_id, str(channels.address))


def _open(channels, token, user, provider, model=0, amount=DEPOSIT, signer=SESSION.address):
    token.approve(channels, amount, sender=user)
    tx = channels.open(provider, signer, model, amount, sender=user)
    return events(tx, channels.ChannelOpened)[0]["channelId"], tx


def _sig(domain, cid, amount, model=0, key=SESSION.key):
    return sign_voucher(domain, Voucher(cid, amount, model), key)


@pytest.fixture
def channel(channels, token, requester, provider, model_id):
    """A fresh open channel with the royalty-bearing model, session key SESSION."""
    return _open(channels, token, requester, provider, model_id)[0]


# ------------------------------------------------------------------ open / top up


def test_open_escrows_the_deposit_and_snapshots_the_terms(
    channels, token, requester, provider, creator, model_id
):
    before = token.balanceOf(channels)
    cid, tx = _open(channels, token, requester, provider, model_id)
    assert token.balanceOf(channels) == before + DEPOSIT
    assert events(tx, channels.ChannelOpened) == [
        {
            "channelId": cid,
            "user": requester.address,
            "provider": provider.address,
            "signer": SESSION.address,
            "modelId": model_id,
            "deposit": DEPOSIT,
            "feeBps": FEE_BPS,
            "royaltyReceiver": creator.address,
            "royaltyBps": ROYALTY_BPS,
        }
    ]
    ch = channels.getChannel(cid)
    assert (ch.user, ch.provider, ch.signer) == (requester.address, provider.address, SESSION.address)
    assert (ch.deposit, ch.redeemed, ch.closesAt, ch.modelId) == (DEPOSIT, 0, 0, model_id)
    assert (ch.feeBps, ch.royaltyBps, ch.royaltyReceiver) == (FEE_BPS, ROYALTY_BPS, creator.address)
    assert channels.statusOf(cid) == OPEN and channels.channelCount() == cid


def test_open_without_model_has_no_royalty(channels, token, requester, provider):
    cid, tx = _open(channels, token, requester, provider, 0)
    ev = events(tx, channels.ChannelOpened)[0]
    assert (ev["royaltyReceiver"], ev["royaltyBps"], ev["modelId"]) == ("0x" + "00" * 20, 0, 0)


def test_open_with_permit_needs_no_prior_approval(channels, token, requester, provider, chain):
    deadline = chain.pending_timestamp + 3600
    sig = token_permit(token, chain.chain_id, requester, requester.private_key, channels, DEPOSIT, deadline)
    token.approve(channels, 0, sender=requester)
    tx = channels.openWithPermit(
        provider, SESSION.address, 0, DEPOSIT, deadline, sig.v, sig.r, sig.s, sender=requester
    )
    cid = events(tx, channels.ChannelOpened)[0]["channelId"]
    assert channels.getChannel(cid).deposit == DEPOSIT
    assert token.allowance(requester, channels) == 0


def test_open_with_a_bad_permit_reverts_with_the_allowance(channels, token, requester, provider, chain):
    token.approve(channels, 5, sender=requester)
    with reverts(channels.PaymentChannelsPermitFailed, requester, DEPOSIT, 5):
        channels.openWithPermit(
            provider, SESSION.address, 0, DEPOSIT, 0, 27, b"\x01" * 32, b"\x02" * 32, sender=requester
        )


@pytest.mark.parametrize(
    "case",
    ["provider", "signer", "zero", "too_big", "unknown_model"],
)
def test_open_rejects_bad_arguments(channels, token, requester, provider, case):
    token.approve(channels, 2**96, sender=requester)
    args = {"provider": provider, "signer": SESSION.address, "model": 0, "amount": DEPOSIT}
    zero = "0x" + "00" * 20
    if case == "provider":
        args["provider"], err = zero, (channels.PaymentChannelsZeroAddress, "provider")
    elif case == "signer":
        args["signer"], err = zero, (channels.PaymentChannelsZeroAddress, "signer")
    elif case == "zero":
        args["amount"], err = 0, (channels.PaymentChannelsInvalidAmount, 0)
    elif case == "too_big":
        args["amount"], err = 2**96, (channels.PaymentChannelsInvalidAmount, 2**96)
    else:
        # The issue 11 #2 class: a model not minted yet could be minted later with a royalty to the user.
        unminted = as_int(weights_hash("not-minted"))
        args["model"], err = unminted, (channels.PaymentChannelsUnknownModel, unminted)
    with reverts(*err):
        channels.open(args["provider"], args["signer"], args["model"], args["amount"], sender=requester)


def test_top_up_adds_to_the_deposit(channels, token, requester, channel):
    token.approve(channels, 5 * ETHER, sender=requester)
    tx = channels.topUp(channel, 5 * ETHER, sender=requester)
    assert events(tx, channels.ChannelToppedUp) == [
        {"channelId": channel, "amount": 5 * ETHER, "deposit": DEPOSIT + 5 * ETHER}
    ]
    assert channels.getChannel(channel).deposit == DEPOSIT + 5 * ETHER


def test_top_up_with_permit(channels, token, requester, channel, chain):
    deadline = chain.pending_timestamp + 3600
    sig = token_permit(token, chain.chain_id, requester, requester.private_key, channels, ETHER, deadline)
    channels.topUpWithPermit(channel, ETHER, deadline, sig.v, sig.r, sig.s, sender=requester)
    assert channels.getChannel(channel).deposit == DEPOSIT + ETHER


def test_top_up_reverts(channels, token, requester, outsider, channel):
    token.approve(channels, 2**96, sender=requester)
    with reverts(channels.PaymentChannelsNotUser, channel, outsider, requester):
        channels.topUp(channel, ETHER, sender=outsider)
    with reverts(channels.PaymentChannelsInvalidAmount, 0):
        channels.topUp(channel, 0, sender=requester)
    over = 2**96 - DEPOSIT
    with reverts(channels.PaymentChannelsInvalidAmount, over):
        channels.topUp(channel, over, sender=requester)
    unknown = channels.channelCount() + 1
    with reverts(channels.PaymentChannelsWrongStatus, unknown, NONE, OPEN):
        channels.topUp(unknown, ETHER, sender=requester)
    channels.requestClose(channel, sender=requester)
    with reverts(channels.PaymentChannelsWrongStatus, channel, CLOSING, OPEN):
        channels.topUp(channel, ETHER, sender=requester)


# ------------------------------------------------------------------ redeem


def _split(increment, fee_bps=FEE_BPS, royalty_bps=ROYALTY_BPS):
    fee = increment * fee_bps // BPS
    royalty = increment * royalty_bps // BPS
    return fee, royalty, increment - fee - royalty


def test_redeem_pays_fee_royalty_and_provider_exact_to_the_wei(
    channels, token, provider, creator, treasury, channel, domain, model_id
):
    amounts = [1_234_567_891_234_567_891, 1_234_567_891_234_567_891 + 987_654_321_987_654_323, 3 * ETHER + 7]
    last = 0
    for cumulative in amounts:
        balances = [token.balanceOf(a) for a in (treasury, creator, provider, channels)]
        tx = channels.redeem(
            channel, cumulative, _sig(domain, channel, cumulative, model_id), sender=provider
        )
        fee, royalty, rest = _split(cumulative - last)
        assert events(tx, channels.Redeemed) == [
            {
                "channelId": channel,
                "cumulativeAmount": cumulative,
                "fee": fee,
                "royalty": royalty,
                "providerAmount": rest,
            }
        ]
        after = [token.balanceOf(a) for a in (treasury, creator, provider, channels)]
        assert [a - b for a, b in zip(after, balances, strict=True)] == [
            fee,
            royalty,
            rest,
            -(cumulative - last),
        ]
        last = cumulative
    assert channels.getChannel(channel).redeemed == last
    assert channels.unredeemedOf(channel) == DEPOSIT - last


def test_redeem_without_model_pays_only_fee_and_provider(
    channels, token, requester, provider, treasury, domain
):
    cid, _ = _open(channels, token, requester, provider, 0)
    before = token.balanceOf(treasury), token.balanceOf(provider)
    channels.redeem(cid, 999, _sig(domain, cid, 999), sender=provider)
    fee = 999 * FEE_BPS // BPS
    assert (token.balanceOf(treasury) - before[0], token.balanceOf(provider) - before[1]) == (fee, 999 - fee)


def test_redeem_twice_and_lower_vouchers_are_worth_nothing(channels, provider, channel, domain, model_id):
    sig_5 = _sig(domain, channel, 5 * ETHER, model_id)
    channels.redeem(channel, 5 * ETHER, sig_5, sender=provider)
    with reverts(channels.PaymentChannelsVoucherNotAbove, channel, 5 * ETHER, 5 * ETHER):
        channels.redeem(channel, 5 * ETHER, sig_5, sender=provider)
    with reverts(channels.PaymentChannelsVoucherNotAbove, channel, 2 * ETHER, 5 * ETHER):
        channels.redeem(channel, 2 * ETHER, _sig(domain, channel, 2 * ETHER, model_id), sender=provider)


def test_voucher_above_the_deposit_reverts(channels, provider, channel, domain, model_id):
    with reverts(channels.PaymentChannelsVoucherExceedsDeposit, channel, DEPOSIT + 1, DEPOSIT):
        channels.redeem(channel, DEPOSIT + 1, _sig(domain, channel, DEPOSIT + 1, model_id), sender=provider)
    channels.redeem(channel, DEPOSIT, _sig(domain, channel, DEPOSIT, model_id), sender=provider)
    assert channels.unredeemedOf(channel) == 0


def test_only_the_provider_redeems(channels, outsider, requester, provider, channel, domain, model_id):
    sig = _sig(domain, channel, ETHER, model_id)
    with reverts(channels.PaymentChannelsNotProvider, channel, outsider, provider):
        channels.redeem(channel, ETHER, sig, sender=outsider)
    with reverts(channels.PaymentChannelsNotProvider, channel, requester, provider):
        channels.redeem(channel, ETHER, sig, sender=requester)


def test_the_users_own_key_signs_too(channels, requester, provider, channel, domain, model_id):
    sig = _sig(domain, channel, ETHER, model_id, key=requester.private_key)
    channels.redeem(channel, ETHER, sig, sender=provider)
    assert channels.getChannel(channel).redeemed == ETHER


def _bad_signer(channels, provider, channel, domain, model_id, signature):
    """A signature valid in form but for another message: it recovers, over this channel's voucher,
    to an unrelated address; the revert names that address."""
    recovered = recover_signer(domain, Voucher(channel, ETHER, model_id), signature)
    assert recovered not in (SESSION.address,)
    with reverts(channels.PaymentChannelsInvalidSigner, channel, recovered, SESSION.address):
        channels.redeem(channel, ETHER, signature, sender=provider)


def test_voucher_of_another_channel_is_refused(
    channels, token, requester, provider, channel, domain, model_id
):
    other, _ = _open(channels, token, requester, provider, model_id)
    replay = _sig(domain, other, ETHER, model_id)
    channels.redeem(other, ETHER, replay, sender=provider)  # valid where it was signed
    _bad_signer(channels, provider, channel, domain, model_id, replay)


def test_voucher_for_another_chain_is_refused(channels, provider, channel, domain, model_id):
    foreign = channels_domain(domain.chain_id + 1, domain.verifying_contract)
    _bad_signer(channels, provider, channel, domain, model_id, _sig(foreign, channel, ETHER, model_id))


def test_voucher_for_another_contract_is_refused(channels, provider, channel, domain, model_id, token):
    foreign = channels_domain(domain.chain_id, str(token.address))
    _bad_signer(channels, provider, channel, domain, model_id, _sig(foreign, channel, ETHER, model_id))


def test_voucher_for_another_model_is_refused(channels, provider, channel, domain, model_id):
    _bad_signer(channels, provider, channel, domain, model_id, _sig(domain, channel, ETHER, model_id + 1))


def test_voucher_signed_by_a_stranger_is_refused(channels, provider, channel, domain, model_id):
    sig = _sig(domain, channel, ETHER, model_id, key=STRANGER.key)
    with reverts(channels.PaymentChannelsInvalidSigner, channel, STRANGER.address, SESSION.address):
        channels.redeem(channel, ETHER, sig, sender=provider)


def test_digest_matches_the_python_encoding(channels, domain, model_id):
    assert bytes(channels.voucherDigest(7, 123, model_id)) == voucher_digest(
        domain, Voucher(7, 123, model_id)
    )


@pytest.mark.parametrize("case", ["short", "empty", "high_s", "bad_v"])
def test_malformed_signatures_revert_with_the_ecdsa_reason(
    channels, provider, channel, domain, model_id, case
):
    good = _sig(domain, channel, ETHER, model_id)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if case == "short":
        sig, reason, detail = good[:64], 2, (64).to_bytes(32, "big")
    elif case == "empty":
        sig, reason, detail = b"", 2, b"\x00" * 32
    elif case == "high_s":
        s = n - int.from_bytes(good[32:64], "big")
        sig = good[:32] + s.to_bytes(32, "big") + bytes([55 - good[64]])
        reason, detail = 3, s.to_bytes(32, "big")
    else:
        sig, reason, detail = good[:64] + bytes([29]), 1, b"\x00" * 32
    with reverts(channels.PaymentChannelsMalformedSignature, channel, reason, detail):
        channels.redeem(channel, ETHER, sig, sender=provider)


# ------------------------------------------------------------------ signer rotation


def test_rotated_signer_keeps_old_vouchers_for_one_close_delay(
    channels, requester, provider, channel, domain, model_id, chain
):
    tx = channels.setSigner(channel, SESSION_2.address, sender=requester)
    until = timestamp_of(chain, tx) + CLOSE_DELAY
    assert events(tx, channels.SignerChanged) == [
        {
            "channelId": channel,
            "oldSigner": SESSION.address,
            "newSigner": SESSION_2.address,
            "oldSignerUntil": until,
        }
    ]
    assert channels.previousSignerOf(channel) == (SESSION.address, until)
    channels.redeem(
        channel, ETHER, _sig(domain, channel, ETHER, model_id), sender=provider
    )  # old key, in grace
    channels.redeem(
        channel, 2 * ETHER, _sig(domain, channel, 2 * ETHER, model_id, SESSION_2.key), sender=provider
    )
    chain.pending_timestamp = until
    late = _sig(domain, channel, 3 * ETHER, model_id)
    with reverts(channels.PaymentChannelsInvalidSigner, channel, SESSION.address, SESSION_2.address):
        channels.redeem(channel, 3 * ETHER, late, sender=provider)


def test_set_signer_reverts(channels, requester, outsider, channel):
    with reverts(channels.PaymentChannelsNotUser, channel, outsider, requester):
        channels.setSigner(channel, SESSION_2.address, sender=outsider)
    with reverts(channels.PaymentChannelsZeroAddress, "signer"):
        channels.setSigner(channel, "0x" + "00" * 20, sender=requester)
    with reverts(channels.PaymentChannelsWrongStatus, 0, NONE, OPEN):
        channels.setSigner(0, SESSION_2.address, sender=requester)


# ------------------------------------------------------------------ close


def test_close_races_redemption_and_the_user_gets_exactly_the_rest(
    channels, token, requester, provider, outsider, channel, domain, model_id, chain
):
    channels.redeem(channel, ETHER, _sig(domain, channel, ETHER, model_id), sender=provider)
    with reverts(channels.PaymentChannelsNotUser, channel, outsider, requester):
        channels.requestClose(channel, sender=outsider)
    tx = channels.requestClose(channel, sender=requester)
    closes_at = timestamp_of(chain, tx) + CLOSE_DELAY
    assert events(tx, channels.CloseRequested) == [{"channelId": channel, "closesAt": closes_at}]
    assert channels.statusOf(channel) == CLOSING
    with reverts(channels.PaymentChannelsWrongStatus, channel, CLOSING, OPEN):
        channels.requestClose(channel, sender=requester)
    # The provider still redeems during the delay (the last second included) ...
    chain.pending_timestamp = closes_at - 1
    channels.redeem(channel, 4 * ETHER, _sig(domain, channel, 4 * ETHER, model_id), sender=provider)
    # ... and not from closesAt on, when the user may withdraw.
    chain.pending_timestamp = closes_at
    late = _sig(domain, channel, 5 * ETHER, model_id)
    with reverts(channels.PaymentChannelsRedeemWindowOver, channel, closes_at, closes_at):
        channels.redeem(channel, 5 * ETHER, late, sender=provider)
    with reverts(channels.PaymentChannelsNotUser, channel, outsider, requester):
        channels.withdraw(channel, sender=outsider)
    before = token.balanceOf(requester)
    tx = channels.withdraw(channel, sender=requester)
    assert events(tx, channels.ChannelClosed) == [
        {"channelId": channel, "user": requester.address, "refund": DEPOSIT - 4 * ETHER}
    ]
    assert token.balanceOf(requester) - before == DEPOSIT - 4 * ETHER
    assert channels.statusOf(channel) == CLOSED
    with reverts(channels.PaymentChannelsWrongStatus, channel, CLOSED, OPEN):
        channels.redeem(channel, 5 * ETHER, late, sender=provider)
    with reverts(channels.PaymentChannelsWrongStatus, channel, CLOSED, CLOSING):
        channels.withdraw(channel, sender=requester)
    with reverts(channels.PaymentChannelsWrongStatus, channel, CLOSED, OPEN):
        channels.setSigner(channel, SESSION_2.address, sender=requester)


def test_withdraw_before_the_delay_or_without_close_reverts(channels, requester, channel, chain):
    with reverts(channels.PaymentChannelsWrongStatus, channel, OPEN, CLOSING):
        channels.withdraw(channel, sender=requester)
    tx = channels.requestClose(channel, sender=requester)
    closes_at = timestamp_of(chain, tx) + CLOSE_DELAY
    chain.pending_timestamp = closes_at - 1
    with reverts(channels.PaymentChannelsCloseDelayNotOver, channel, closes_at, closes_at - 1):
        channels.withdraw(channel, sender=requester)


def test_channel_ids_are_never_reused(channels, token, requester, provider, chain):
    cid, _ = _open(channels, token, requester, provider, 0)
    channels.requestClose(cid, sender=requester)
    advance(chain, CLOSE_DELAY)
    channels.withdraw(cid, sender=requester)
    again, _ = _open(channels, token, requester, provider, 0)
    assert again == cid + 1 and channels.statusOf(cid) == CLOSED
    assert channels.statusOf(0) == NONE and channels.statusOf(again + 1) == NONE


# ------------------------------------------------------------------ governance


def test_fee_change_applies_only_to_channels_opened_later(
    channels, token, deployer, requester, provider, treasury, channel, domain, model_id
):
    channels.setFeeBps(1_000, sender=deployer)
    before = token.balanceOf(treasury)
    channels.redeem(channel, ETHER, _sig(domain, channel, ETHER, model_id), sender=provider)
    assert token.balanceOf(treasury) - before == ETHER * FEE_BPS // BPS  # the snapshotted rate
    later, _ = _open(channels, token, requester, provider, 0)
    assert channels.getChannel(later).feeBps == 1_000


def test_governed_setters_are_bounded_owner_only_and_emit(channels, deployer, outsider, treasury):
    with reverts(channels.OwnableUnauthorizedAccount, outsider):
        channels.setFeeBps(1, sender=outsider)
    with reverts(channels.OwnableUnauthorizedAccount, outsider):
        channels.setCloseDelay(3600, sender=outsider)
    with reverts(channels.OwnableUnauthorizedAccount, outsider):
        channels.setTreasury(outsider, sender=outsider)
    with reverts(channels.PaymentChannelsValueOutOfBounds, "feeBps", 1_001, 0, 1_000):
        channels.setFeeBps(1_001, sender=deployer)
    with reverts(channels.PaymentChannelsValueOutOfBounds, "closeDelay", 599, 600, 30 * 86_400):
        channels.setCloseDelay(599, sender=deployer)
    with reverts(channels.PaymentChannelsValueOutOfBounds, "closeDelay", 30 * 86_400 + 1, 600, 30 * 86_400):
        channels.setCloseDelay(30 * 86_400 + 1, sender=deployer)
    with reverts(channels.PaymentChannelsZeroAddress, "treasury"):
        channels.setTreasury("0x" + "00" * 20, sender=deployer)
    tx = channels.setCloseDelay(3600, sender=deployer)
    assert events(tx, channels.CloseDelaySet) == [{"oldValue": CLOSE_DELAY, "newValue": 3600}]
    tx = channels.setFeeBps(100, sender=deployer)
    assert events(tx, channels.FeeBpsSet) == [{"oldValue": FEE_BPS, "newValue": 100}]
    tx = channels.setTreasury(outsider, sender=deployer)
    assert events(tx, channels.TreasurySet) == [
        {"oldTreasury": treasury.address, "newTreasury": outsider.address}
    ]
    assert (channels.closeDelay(), channels.feeBps(), channels.treasury()) == (3600, 100, outsider.address)


@pytest.mark.parametrize("which", ["token", "modelNFT"])
def test_constructor_rejects_zero_addresses(project, deployer, token, model_nft, treasury, which):
    zero = "0x" + "00" * 20
    args = [zero if which == "token" else token, zero if which == "modelNFT" else model_nft]
    with reverts_on_deploy(project.PaymentChannels.PaymentChannelsZeroAddress, which):
        deployer.deploy(project.PaymentChannels, *args, treasury, FEE_BPS, CLOSE_DELAY)
