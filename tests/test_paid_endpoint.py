"""The paid inference endpoint end to end on anvil: 402 terms, a client that pays by itself, every
kind of bad voucher refused with its reason, and the money on chain equal to what was signed."""

import base64
import json
import urllib.request

import pytest
from eth_account import Account
from eth_utils import keccak

from oracle.client.pay_voucher import Voucher, channels_domain, sign_voucher
from oracle.client.pay_wire import (
    HEADER_REQUIRED,
    HEADER_SIGNATURE,
    PaymentTerms,
    SignedVoucher,
    decode_header,
    payment_header,
)
from tests.paid_helpers import PRICE, demo_endpoint_model, demo_rows, module_world

ROW = demo_rows(1)[0]
STRANGER = Account.from_key(keccak(text="paid-endpoint-stranger"))


@pytest.fixture(scope="module")
def model():
    return demo_endpoint_model()


world = module_world("paid")


@pytest.fixture
def service(world, model, tmp_path):
    svc = world.service(model, tmp_path / "journal.db").start()
    yield svc
    svc.stop(redeem=False)


def _post(url, headers=None, body=None):
    req = urllib.request.Request(
        url,
        data=json.dumps(body or {"x": [ROW]}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_no_payment_gets_402_with_machine_readable_terms(service, world, provider):
    status, headers, body = _post(service.url)
    assert status == 402
    assert decode_header(headers[HEADER_REQUIRED], HEADER_REQUIRED) == body
    terms = PaymentTerms.from_json(body)
    assert terms.price == PRICE and terms.pay_to == provider.address
    assert terms.channel_contract == world.contracts["PaymentChannels"].address
    assert terms.chain_id == 31337 and terms.model_id == world.model_id
    assert body["reason"] == "payment_required" and body["accepts"][0]["network"] == "eip155:31337"


def test_client_opens_a_channel_and_pays_each_request(service, world, tmp_path):
    payer = world.payer(0, tmp_path / "state.json")
    answers = [payer.post(service.url, {"x": [ROW]}) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert [int(a.payment["cumulativeAmount"]) for a in answers] == [PRICE * i for i in range(1, 6)]
    assert all(int(a.payment["charged"]) == PRICE for a in answers)
    assert service.ledger.accepted_count() == 5 == service.server.counters.served
    # each answer carries its energy: a CPU model, so the labelled estimate
    assert all(a.body["energy"]["estimate"] is True for a in answers)
    assert {a.body["energy"]["source"] for a in answers} == {"cpu-estimate"}
    assert all(a.body["energy"]["mj"] >= 0 for a in answers)
    live = json.loads(urllib.request.urlopen(service.server.url + "/health", timeout=5).read())["energy"]
    assert live["requests"] == 5 and live["estimate"] is True and live["estimated_requests"] == 5
    state = payer.states.get(service.url)
    assert state.cumulative == 5 * PRICE and state.deposit == 50 * PRICE
    # A restarted client continues the same channel from its state file.
    again = world.payer(0, tmp_path / "state.json", session_key=payer.session)
    assert again.post(service.url, {"x": [ROW]}).payment["cumulativeAmount"] == str(6 * PRICE)
    channels = world.contracts["PaymentChannels"]
    results = service.redeemer.redeem_all()
    assert [r.outcome for r in results] == ["redeemed"]
    assert channels.getChannel(state.channel_id).redeemed == 6 * PRICE


def _voucher_header(state, amount, key, chain_id=31337, contract=None, channel=None, network=None):
    v = Voucher(channel or state.channel_id, amount, state.model_id)
    domain = channels_domain(chain_id, contract or state.channel_contract)
    return payment_header(SignedVoucher(v, sign_voucher(domain, v, key), network or f"eip155:{chain_id}"))


def test_bad_vouchers_are_refused_with_their_reason(service, world, tmp_path):
    payer = world.payer(0, tmp_path / "state.json")
    payer.post(service.url, {"x": [ROW]})
    state = payer.states.get(service.url)
    key = payer.session.key
    ok = _voucher_header(state, 2 * PRICE, key)
    assert _post(service.url, {HEADER_SIGNATURE: ok})[0] == 200
    other = world.payer(1).open_channel(service.url + "#other", PaymentTerms.from_json(_post(service.url)[2]))
    cases = {
        "replayed": (ok, "amount_too_low"),
        "lower": (_voucher_header(state, PRICE, key), "amount_too_low"),
        "not_a_full_price": (_voucher_header(state, 3 * PRICE - 1, key), "amount_too_low"),
        "over_deposit": (_voucher_header(state, 51 * PRICE, key), "over_deposit"),
        "foreign_channel": (
            _voucher_header(state, 3 * PRICE, key, channel=other.channel_id),
            "bad_signature",
        ),
        "foreign_chain": (
            _voucher_header(state, 3 * PRICE, key, chain_id=1, network="eip155:31337"),
            "bad_signature",
        ),
        "foreign_network": (_voucher_header(state, 3 * PRICE, key, chain_id=1), "wrong_scheme"),
        "foreign_contract": (
            _voucher_header(state, 3 * PRICE, key, contract="0x" + "12" * 20),
            "bad_signature",
        ),
        "unsigned": (_voucher_header(state, 3 * PRICE, STRANGER.key), "bad_signature"),
        "unknown_channel": (_voucher_header(state, 3 * PRICE, key, channel=10**9), "unknown_channel"),
        "malformed": ("not-base64!", "malformed"),
        "truncated_signature": (
            base64.b64encode(
                json.dumps(
                    {
                        "x402Version": 2,
                        "scheme": "channel",
                        "network": "eip155:31337",
                        "payload": {
                            "channelId": str(state.channel_id),
                            "cumulativeAmount": str(3 * PRICE),
                            "modelId": str(state.model_id),
                            "signature": "0x" + "ab" * 64,
                        },
                    }
                ).encode()
            ).decode(),
            "bad_signature",
        ),
    }
    for name, (header, reason) in cases.items():
        status, headers, body = _post(service.url, {HEADER_SIGNATURE: header})
        assert (status, body["reason"]) == (402, reason), name
        assert HEADER_REQUIRED in headers
    assert service.server.counters.served == 2 and service.ledger.accepted_count() == 2
    # The lower-voucher refusal tells the client what it needs next.
    assert _post(service.url, {HEADER_SIGNATURE: ok})[2]["expected"] == {"cumulativeAmount": str(3 * PRICE)}


def test_a_channel_to_another_provider_is_refused(service, world, tmp_path, accounts):
    terms = PaymentTerms.from_json(_post(service.url)[2])
    elsewhere = PaymentTerms(
        terms.price, terms.asset, accounts[6].address, terms.chain_id, terms.channel_contract, 0
    )
    payer = world.payer(1)
    state = payer.open_channel("other-provider", elsewhere)
    status, _, body = _post(service.url, {HEADER_SIGNATURE: _voucher_header(state, PRICE, payer.session.key)})
    assert (status, body["reason"]) == (402, "not_payee")


def test_bad_input_is_400_and_unknown_paths_404(service):
    assert _post(service.url, body={"y": 1})[0] == 400
    assert _post(service.url.replace("/infer", "/nope"))[0] == 404


def test_bounded_load_many_clients_each_its_own_channel_nothing_lost(world, deployer, tmp_path):
    """The benchmark's load test, small: concurrent PayingClients, each opening its own channel;
    every request served and journaled, the provider's redemptions == what the clients signed."""
    from oracle.benchmarks.paid_load import load_test
    from oracle.deployment import load_deployment

    clients, per_client = 4, 3
    result = load_test(
        world.web3,
        load_deployment(world.deployment_path),
        clients,
        per_client,
        tmp_path,
        provider_key=world.provider_key,
        funder_key=deployer.private_key,
    )
    assert result.made == result.served == result.journaled == clients * per_client
    assert result.redeemed_total == result.signed_total == clients * per_client * PRICE
    assert result.lost == 0
