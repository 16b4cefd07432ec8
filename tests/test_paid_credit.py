"""Prepaid credit windows on the paid endpoint (oracle/client/pay_credit.py): one voucher pays n
requests, the next n - 1 carry hash-chain tokens. Real anvil, real HTTP, the real journal: a window
served to its end and the next voucher signed by the client itself, every bad token refused with its
reason, skipping forward, concurrent uses of one token, a provider killed mid-window, and the money
on chain equal to what the client signed, to the wei."""

import os
import threading

import pytest

from oracle.client.pay_credit import (
    HEADER_CREDIT,
    CreditToken,
    anchor_of,
    chain,
    credit_header,
    hash_forward,
    parse_credit_header,
    parse_credit_response,
)
from oracle.client.pay_voucher import VoucherError
from oracle.client.pay_wire import (
    HEADER_RESPONSE,
    HEADER_SIGNATURE,
    SignedVoucher,
    encode_header,
    payment_header,
    response_header,
)
from oracle.provider.paid_log import RECORD_SIZE
from tests.paid_helpers import PRICE, demo_endpoint_model, module_world
from tests.test_paid_cli import _serve, _wait_up
from tests.test_paid_endpoint import ROW, _post

world = module_world("credit")


@pytest.fixture(scope="module")
def model():
    return demo_endpoint_model()


@pytest.fixture
def service(world, model, tmp_path):
    svc = world.service(model, tmp_path / "journal.db", max_credit=16).start()
    yield svc
    svc.stop(redeem=False)


def _token(state, index, tokens=None):
    tokens = tokens or chain(bytes.fromhex(state.credit_seed), state.credit_n)
    return {HEADER_CREDIT: credit_header(CreditToken(state.channel_id, index, tokens[index]))}


def test_the_payment_response_header_is_what_encode_header_makes_of_its_fields():
    plain = {"success": True, "network": "eip155:31337", "channelId": "7", "cumulativeAmount": str(3 * PRICE)}
    plain |= {"charged": str(PRICE), "remaining": "0"}
    assert response_header("eip155:31337", 7, 3 * PRICE, PRICE, 0) == encode_header(plain)
    window = plain | {"charged": "0", "creditIndex": 5, "creditLeft": 26}
    assert response_header("eip155:31337", 7, 3 * PRICE, 0, 0, 5, 26) == encode_header(window)


def test_a_window_request_gets_the_compact_receipt_and_its_voucher_the_full_one(service, world):
    payer = world.payer(0, credit=4)
    payer.post(service.url, {"x": [ROW]})  # 402 (the terms), then the window's voucher
    state = payer.states.get(service.url)
    remaining = state.deposit - state.cumulative
    # request 1 of the window: the compact PAYMENT-RESPONSE, and only the answer in the body
    status, headers, body = _post(service.url, _token(state, 1))
    assert status == 200 and set(body) == {"outputs", "energy"}
    assert headers[HEADER_RESPONSE] == f"credit:{state.channel_id}:1:2:{remaining}"
    assert parse_credit_response(headers[HEADER_RESPONSE]) == (state.channel_id, 1, 2, remaining)
    # the client reads it as the x402 receipt's fields, completed from its window's voucher
    answer = payer.post(service.url, {"x": [ROW]})
    assert answer.payment == {
        "success": True,
        "network": "eip155:31337",
        "channelId": str(state.channel_id),
        "cumulativeAmount": str(state.cumulative),
        "charged": "0",
        "remaining": str(remaining),
        "creditIndex": 2,
        "creditLeft": 1,
    }
    assert set(answer.body) == {"outputs", "energy"}
    # the voucher opening a window (and a one-request voucher) answers as before, header and body
    payer.post(service.url, {"x": [ROW]})
    answer = payer.post(service.url, {"x": [ROW]})
    paid = {"channelId": str(state.channel_id), "cumulativeAmount": str(8 * PRICE)}
    paid |= {"success": True, "network": "eip155:31337", "charged": str(4 * PRICE)}
    paid |= {"remaining": str(state.deposit - 8 * PRICE), "creditIndex": 0, "creditLeft": 3}
    assert answer.payment == paid and {k: answer.body[k] for k in paid} == paid
    for bad in ("credit:1:2:3", "credit:1:x:3:4", "debit:1:2:3:4", "credit:1:2:3:4:" + "9" * 300):
        with pytest.raises(VoucherError):
            parse_credit_response(bad)


def test_a_hash_chain_runs_from_the_anchor_to_the_seed():
    seed = os.urandom(32)
    tokens = chain(seed, 5)
    assert tokens[0] == anchor_of(seed, 5) and tokens[4] == seed
    assert all(hash_forward(tokens[j], j - i) == tokens[i] for i in range(5) for j in range(i, 5))
    token = CreditToken(2**200, 3, tokens[3])
    assert parse_credit_header(credit_header(token)) == token
    for bad in ("1:2", "1:2:" + "ab" * 31, "x:2:" + "ab" * 32, "1:2:" + "zz" * 32):
        with pytest.raises(VoucherError):
            parse_credit_header(bad)


def _redeemed(world, cid):
    return world.contracts["PaymentChannels"].getChannel(cid).redeemed


def test_a_window_is_served_to_its_end_then_the_client_signs_the_next_voucher(service, world):
    payer = world.payer(0, credit=4)
    answers = [payer.post(service.url, {"x": [ROW]}) for _ in range(10)]
    assert [a.status for a in answers] == [200] * 10
    assert [int(a.payment["charged"]) for a in answers] == [4 * PRICE, 0, 0, 0] * 2 + [4 * PRICE, 0]
    assert [a.payment.get("creditIndex") for a in answers] == [0, 1, 2, 3] * 2 + [0, 1]
    assert [a.payment["creditLeft"] for a in answers[:4]] == [3, 2, 1, 0]
    assert all(a.price == PRICE for a in answers)
    assert (
        service.server.counters.refused == 1
    )  # the first, unpaid (the terms); a used-up window is not tried
    assert (service.ledger.accepted_count(), service.ledger.credit_uses()) == (3, 7)
    assert service.ledger.journaled_requests() == 10 == service.server.counters.served
    state = payer.states.get(service.url)
    assert state.cumulative == 12 * PRICE and state.window_open()
    assert [r.outcome for r in service.redeemer.redeem_all()] == ["redeemed"]
    assert _redeemed(world, state.channel_id) == 12 * PRICE == state.cumulative


def test_bad_credit_tokens_are_refused_and_the_client_skips_forward(service, world):
    payer = world.payer(0, credit=8)
    assert payer.post(service.url, {"x": [ROW]}).payment["creditLeft"] == 7
    state = payer.states.get(service.url)
    tokens = chain(bytes.fromhex(state.credit_seed), 8)
    other = world.payer(1)  # credit 1: its channel has no window
    other.post(service.url, {"x": [ROW]})
    foreign = other.states.get(service.url).channel_id
    stranger = os.urandom(32)  # another client trying the channel's credit without the chain
    cases = {
        "not_the_chain": (CreditToken(state.channel_id, 1, stranger), "bad_preimage"),
        "a_token_for_another_index": (CreditToken(state.channel_id, 2, tokens[1]), "bad_preimage"),
        "past_the_window": (CreditToken(state.channel_id, 8, tokens[7]), "past_window"),
        "no_window_on_that_channel": (CreditToken(foreign, 1, tokens[1]), "unknown_window"),
        "no_such_channel": (CreditToken(10**9, 1, tokens[1]), "unknown_window"),
    }
    for name, (token, reason) in cases.items():
        status, _, body = _post(service.url, {HEADER_CREDIT: credit_header(token)})
        assert (status, body["reason"]) == (402, reason), name
    assert _post(service.url, {HEADER_CREDIT: "1:2:zz"})[2]["reason"] == "malformed"
    # skipping forward (requests 1 and 2 lost): token 3 hashes three times to the anchor
    status, headers, body = _post(service.url, _token(state, 3, tokens))
    receipt = parse_credit_response(headers[HEADER_RESPONSE])
    assert (status, receipt.index, receipt.left, set(body)) == (200, 3, 4, {"outputs", "energy"})
    for replay in (3, 2, 1):
        status, _, body = _post(service.url, _token(state, replay, tokens))
        assert (status, body["reason"], body["expected"]) == (402, "replayed_preimage", {"creditIndex": "3"})
    # the client still thinks index 0 was the last: told 3, it skips to 4 by itself
    answer = payer.post(service.url, {"x": [ROW]})
    assert (answer.payment["creditIndex"], answer.payment["charged"]) == (4, "0")
    assert _post(service.url, _token(state, 7, tokens))[0] == 200  # the window's last request
    assert _post(service.url, _token(state, 7, tokens))[2]["reason"] == "window_exhausted"
    # the client, at index 4, tries 5, is told the window is used up, and signs a new voucher
    answer = payer.post(service.url, {"x": [ROW]})
    assert (answer.payment["charged"], answer.payment["creditIndex"]) == (str(8 * PRICE), 0)
    assert service.server.counters.served == 6 and service.ledger.journaled_requests() == 6
    service.redeemer.redeem_all()
    assert _redeemed(world, state.channel_id) == 16 * PRICE == payer.states.get(service.url).cumulative


def test_a_voucher_prepaying_more_than_max_credit_is_refused_and_the_client_shrinks_it(service, world):
    payer = world.payer(1, credit=1)
    payer.post(service.url, {"x": [ROW]})
    state = payer.states.get(service.url)
    big = payer.sign_next(state, PRICE, 17, os.urandom(32))
    status, _, body = _post(service.url, {HEADER_SIGNATURE: payment_header(big)})
    assert (status, body["reason"], body["expected"]) == (402, "credit_too_large", {"maxCredit": "16"})
    assert body["accepts"][0]["extra"]["maxCredit"] == 16
    unanchored = SignedVoucher(big.voucher, big.signature, big.network, 17, None)
    assert _post(service.url, {HEADER_SIGNATURE: payment_header(unanchored)})[2]["reason"] == "malformed"
    payer.credit = 100  # the client asks for 100, the terms allow 16
    assert payer.post(service.url, {"x": [ROW]}).payment["charged"] == str(16 * PRICE)


def test_concurrent_requests_with_one_token_are_served_once(service, world):
    payer = world.payer(0, credit=8)
    payer.post(service.url, {"x": [ROW]})
    header = _token(payer.states.get(service.url), 1)
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(_post(service.url, header)[0])) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [402] * 5
    assert service.ledger.credit_uses() == 1


def test_a_restarted_provider_that_lost_the_tail_of_the_journal_takes_the_next_tokens(world, model, tmp_path):
    journal = tmp_path / "j.db"
    svc = world.service(model, journal).start()
    port = svc.server.httpd.server_address[1]
    payer = world.payer(1, credit=6)
    for _ in range(4):  # the voucher (index 0) and credit uses 1, 2, 3
        assert payer.post(svc.url, {"x": [ROW]}).status == 200
    svc.stop(redeem=False)
    log = svc.ledger._log.path
    with open(log, "r+b") as f:  # as a power cut before the last record reached the disk
        f.seek(4 * RECORD_SIZE - RECORD_SIZE)
        f.write(bytes(RECORD_SIZE))
    restarted = world.service(model, journal, port=port).start()
    try:
        assert restarted.checker._windows[payer.states.get(svc.url).channel_id].used == 2
        answer = payer.post(restarted.url, {"x": [ROW]})  # index 4: two steps down to index 2
        assert (answer.payment["creditIndex"], answer.payment["charged"]) == (4, "0")
        restarted.redeemer.redeem_all()
        state = payer.states.get(svc.url)
        assert _redeemed(world, state.channel_id) == 6 * PRICE == state.cumulative
    finally:
        restarted.stop(redeem=False)


def test_provider_sigkilled_mid_window_resumes_it_without_serving_unpaid_or_charging_twice(
    world, networks, tmp_path
):
    import socket

    from oracle.cli import main as oracle_main
    from oracle.provider.paid_ledger import Ledger

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    journal, url = tmp_path / "journal.db", f"http://127.0.0.1:{port}/infer"
    payer = world.payer(0, credit=8)
    served = []
    for _ in range(2):  # killed after 3 requests of the window, then after 3 more
        proc = _serve(world, networks, journal, port, "--journal-durability", "process")
        try:
            _wait_up(url, proc)
            served += [payer.post(url, {"x": [ROW]}).payment for _ in range(3)]
        finally:
            proc.kill()  # SIGKILL: no shutdown, no redemption
            proc.wait(10)
    assert [p["creditIndex"] for p in served] == [0, 1, 2, 3, 4, 5]
    assert [p["charged"] for p in served] == [str(8 * PRICE)] + ["0"] * 5
    with Ledger(journal) as ledger:
        assert (ledger.accepted_count(), ledger.credit_uses()) == (1, 5)
        assert next(iter(ledger.windows().values())).used == 5
    from eth_account import Account

    key = Account.from_key(world.provider_key).key.to_0x_hex()
    args = ["paid", "redeem", "--rpc", networks.provider.uri, "--deployment", str(world.deployment_path)]
    assert oracle_main([*args, "--journal", str(journal), "--private-key", key, "--json"]) == 0
    state = payer.states.get(url)
    assert _redeemed(world, state.channel_id) == 8 * PRICE == state.cumulative
