"""Faults around the paid endpoint: a client that stops paying, a provider killed between journaling a
voucher and answering, a close racing the redemption, a double redeem, and the threshold redeemer.
Real anvil, real HTTP, the real journal; after each, what the chain paid equals what was signed."""

import time

import pytest

from oracle.client.pay import PayError
from oracle.client.pay_wire import HEADER_SIGNATURE
from tests.paid_helpers import FEE_BPS, PRICE, ROYALTY_BPS, demo_endpoint_model, module_world
from tests.test_paid_endpoint import ROW, _post, _voucher_header


@pytest.fixture(scope="module")
def model():
    return demo_endpoint_model()


world = module_world("faults")


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_client_that_stops_paying_is_not_served(world, model, tmp_path):
    svc = world.service(model, tmp_path / "j.db").start()
    try:
        payer = world.payer(0)
        for _ in range(3):
            assert payer.post(svc.url, {"x": [ROW]}).status == 200
        state = payer.states.get(svc.url)
        assert _post(svc.url)[2]["reason"] == "payment_required"
        stale = _voucher_header(state, state.cumulative, payer.session.key)
        assert _post(svc.url, {HEADER_SIGNATURE: stale})[2]["reason"] == "amount_too_low"
        assert svc.server.counters.served == 3 == svc.ledger.accepted_count()
        svc.redeemer.redeem_all()
        assert world.contracts["PaymentChannels"].getChannel(state.channel_id).redeemed == 3 * PRICE
    finally:
        svc.stop(redeem=False)


class _Killed(SystemExit):
    """Ends the handler thread right after the journal commit, before the model runs."""


def test_provider_killed_after_journaling_keeps_the_voucher(world, model, tmp_path):
    journal = tmp_path / "j.db"
    svc = world.service(model, journal).start()
    payer = world.payer(0)
    assert payer.post(svc.url, {"x": [ROW]}).status == 200

    def kill(receipt):
        raise _Killed()

    svc.checker.after_journal = kill
    with pytest.raises(PayError, match="cannot reach"):
        payer.post(svc.url, {"x": [ROW]})
    port = svc.server.httpd.server_address[1]
    svc.stop(redeem=False)  # the provider is gone: nothing redeemed, nothing answered

    restarted = world.service(model, journal, port=port).start()  # same address, same journal
    try:
        assert restarted.ledger.accepted_count() == 2  # the killed request's voucher was already safe
        # The client never saw an answer; it signs its next voucher, the provider asks for one more
        # price (it has the killed one), and the client catches up: one price lost, never more.
        answer = payer.post(restarted.url, {"x": [ROW]})
        assert answer.status == 200 and answer.payment["cumulativeAmount"] == str(3 * PRICE)
        restarted.redeemer.redeem_all()
        state = payer.states.get(restarted.url)
        assert (
            world.contracts["PaymentChannels"].getChannel(state.channel_id).redeemed
            == 3 * PRICE
            == state.cumulative
        )
    finally:
        restarted.stop(redeem=False)


def test_close_races_the_redemption_and_money_is_exact(
    world, model, tmp_path, chain, token, treasury, provider, requester, creator
):
    svc = world.service(model, tmp_path / "j.db", close_margin_s=60).start()
    channels = world.contracts["PaymentChannels"]
    try:
        payer = world.payer(0)
        for _ in range(3):
            payer.post(svc.url, {"x": [ROW]})
        state = payer.states.get(svc.url)
        assert channels.getChannel(state.channel_id).royaltyBps == ROYALTY_BPS
        before = {a: token.balanceOf(a) for a in (provider, treasury, requester, creator)}
        closes_at = payer.close(svc.url)
        # The provider notices CloseRequested and redeems at once, far before the delay ends.
        assert _wait(lambda: channels.getChannel(state.channel_id).redeemed == 3 * PRICE)
        assert chain.blocks.head.timestamp < closes_at
        # Still accepted while more than the margin is left, and redeemed again before the end ...
        assert payer.post(svc.url, {"x": [ROW]}).status == 200
        assert _wait(lambda: channels.getChannel(state.channel_id).redeemed == 4 * PRICE)
        # ... refused inside the margin (no time left to redeem it safely).
        chain.pending_timestamp = closes_at - 30
        chain.mine()
        assert _wait(lambda: svc.cache.chain_time >= closes_at - 30)
        late = _voucher_header(state, 5 * PRICE, payer.session.key)
        assert _post(svc.url, {HEADER_SIGNATURE: late})[2]["reason"] == "closed"
        chain.pending_timestamp = closes_at + 1
        chain.mine()
        refund = payer.withdraw(svc.url)
        assert refund == state.deposit - 4 * PRICE
        increments = [3 * PRICE, PRICE]
        fee = sum(i * FEE_BPS // 10_000 for i in increments)
        royalty = sum(i * ROYALTY_BPS // 10_000 for i in increments)
        assert token.balanceOf(treasury) - before[treasury] == fee
        assert token.balanceOf(creator) - before[creator] == royalty
        assert token.balanceOf(provider) - before[provider] == 4 * PRICE - fee - royalty
        assert token.balanceOf(requester) - before[requester] == refund
        assert refund + 4 * PRICE == state.deposit
    finally:
        svc.stop(redeem=False)


def test_double_redeem_pays_once(world, model, tmp_path, token, provider):
    svc = world.service(model, tmp_path / "j.db").start()
    try:
        payer = world.payer(1)
        for _ in range(2):
            payer.post(svc.url, {"x": [ROW]})
        latest = next(iter(svc.ledger.latest().values()))
        first = svc.redeemer.redeem(latest)
        balance = token.balanceOf(provider)
        second = svc.redeemer.redeem(latest)
        assert (first.outcome, second.outcome) == ("redeemed", "already")
        assert token.balanceOf(provider) == balance
        assert svc.redeemer.redeem_all() == []  # nothing left to redeem
        states = [s for _, _, _, s in svc.ledger.redemptions()]
        assert states == ["confirmed"]
    finally:
        svc.stop(redeem=False)


def test_redeemer_redeems_by_itself_past_the_threshold(world, model, tmp_path):
    svc = world.service(model, tmp_path / "j.db", threshold=3 * PRICE).start()
    channels = world.contracts["PaymentChannels"]
    try:
        payer = world.payer(1)
        payer.post(svc.url, {"x": [ROW]})
        payer.post(svc.url, {"x": [ROW]})
        cid = payer.states.get(svc.url).channel_id
        time.sleep(0.5)
        assert channels.getChannel(cid).redeemed == 0  # below the threshold: nothing sent
        payer.post(svc.url, {"x": [ROW]})
        assert _wait(lambda: channels.getChannel(cid).redeemed == 3 * PRICE)
    finally:
        svc.stop(redeem=False)


def test_channel_cache_resyncs_when_the_chain_goes_back(world, model, tmp_path, chain):
    svc = world.service(model, tmp_path / "j.db")  # not started: polled by hand
    try:
        payer = world.payer(0)
        state = payer.open_channel("resync", svc.terms)
        assert svc.cache.get(state.channel_id).deposit == 50 * PRICE
        snapshot = chain.snapshot()
        payer.top_up(state, 10 * PRICE)
        chain.mine(3)
        svc.cache.poll()
        assert svc.cache.get(state.channel_id).deposit == 60 * PRICE
        chain.restore(snapshot)  # the top-up's blocks are gone (as in a reorg)
        svc.cache.poll()
        assert svc.cache.get(state.channel_id).deposit == 50 * PRICE
    finally:
        svc.stop(redeem=False)
