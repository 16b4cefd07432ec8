"""Signed challenge requests, answer keys, the cached oracle set and the rate limiter."""

import time

import pytest
from eth_account import Account

from oracle import challenge as ch
from oracle import challenge_auth as auth
from oracle.attest import Domain

DOMAIN = Domain(31337, "0x" + "11" * 20)
VALIDATOR = Account.from_key("0x" + "ab" * 32)
NODE = bytes(range(32))


def _request(**overrides) -> auth.ChallengeRequest:
    challenge = ch.Challenge(bytes(32), 16, "bf16", 1.5, rows=40)
    fields = {"challenge": challenge, "node_id": NODE, "epoch": 7, "issued_at": 1_700_000_000, **overrides}
    return auth.ChallengeRequest(**fields)


def test_a_signed_request_verifies_and_names_its_signer():
    body = _request().sign(VALIDATOR.key, DOMAIN)
    request, signer = auth.read_request(DOMAIN, body)
    assert signer == VALIDATOR.address
    assert request == _request()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b["challenge"].update(rows=41),  # more work than was signed
        lambda b: b["challenge"].update(deadline_s=9.0),
        lambda b: b.update(node="0x" + "00" * 32),  # relayed to another node
        lambda b: b.update(epoch=8),
    ],
)
def test_a_tampered_request_does_not_verify_as_the_validator(tamper):
    body = _request().sign(VALIDATOR.key, DOMAIN)
    tamper(body)
    with pytest.raises(auth.AuthError):
        auth.read_request(DOMAIN, body)


def test_a_request_for_another_deployment_does_not_verify():
    body = _request().sign(VALIDATOR.key, Domain(1, "0x" + "11" * 20))
    with pytest.raises(auth.AuthError, match="named signer"):
        auth.read_request(DOMAIN, body)


def test_malformed_requests_are_refused():
    for body in ({}, {"challenge": {}}, {"challenge": 1}, []):
        with pytest.raises((auth.AuthError, ch.ChallengeError)):
            auth.read_request(DOMAIN, body)
    body = _request().sign(VALIDATOR.key, DOMAIN)
    with pytest.raises(auth.AuthError, match="hex"):
        auth.read_request(DOMAIN, {**body, "signature": "0xzz"})
    with pytest.raises(auth.AuthError, match="64-bit"):
        auth.read_request(DOMAIN, {**body, "epoch": -1})


def test_answers_are_bound_to_the_node_key():
    node_key = Account.from_key("0x" + "cd" * 32)
    root, seed = bytes([5]) * 32, bytes([6]) * 32
    sig = auth.sign_answer(node_key.key, DOMAIN, NODE, seed, root)
    assert auth.answer_signer(DOMAIN, NODE, seed, root, sig) == node_key.address
    assert auth.answer_signer(DOMAIN, bytes(32), seed, root, sig) != node_key.address  # another node
    assert auth.answer_signer(DOMAIN, NODE, seed, root, "0x12") is None
    assert auth.answer_signer(DOMAIN, NODE, seed, root, None) is None


def test_endpoint_and_answer_key_from_the_metadata_uri():
    key = Account.from_key("0x" + "cd" * 32).address
    assert auth.parse_endpoint(f"http://10.0.0.5:8600#key={key.lower()}") == ("http://10.0.0.5:8600", key)
    assert auth.parse_endpoint("http://10.0.0.5:8600/") == ("http://10.0.0.5:8600/", None)
    assert auth.parse_endpoint("http://h:1#key=nonsense") == ("http://h:1", None)


def test_oracle_set_is_cached_until_its_ttl():
    calls = []

    def is_oracle(address):
        calls.append(address)
        return address == VALIDATOR.address

    oracles = auth.OracleSet(is_oracle, ttl_s=0.2)
    assert VALIDATOR.address in oracles and VALIDATOR.address.lower() in oracles
    assert "0x" + "22" * 20 not in oracles
    assert len(calls) == 2
    time.sleep(0.25)
    assert VALIDATOR.address in oracles and len(calls) == 3


def test_rate_limiter_allows_a_burst_then_the_rate():
    limiter = auth.RateLimiter(rate_per_s=20.0, burst=3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # per key
    time.sleep(0.06)
    assert limiter.allow("a")


def test_unknown_addresses_are_looked_up_at_a_bounded_rate():
    calls = []
    oracles = auth.OracleSet(lambda a: calls.append(a) or False, lookups_per_s=0.001, max_cached=8)
    strangers = [Account.from_key(bytes([9, i + 1]) + bytes(30)).address for i in range(40)]
    assert not any(s in oracles for s in strangers)
    assert len(calls) == 16  # the burst, then nothing: unknown addresses are refused unasked
    assert len(oracles._cache) == 8
