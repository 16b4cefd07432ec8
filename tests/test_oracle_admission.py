"""The provider's gate (signed requests only), its commitment store and its busy marks."""

import time

import pytest
from eth_account import Account

from oracle import challenge as ch
from oracle import commitment as cm
from oracle.attest import Domain
from oracle.challenge_auth import ChallengeRequest, OracleSet, RateLimiter
from oracle.provider.admission import Busy, CommitmentStore, Gate, Refused, Stored

DOMAIN = Domain(31337, "0x" + "11" * 20)
ORACLE, STRANGER = Account.from_key("0x" + "ab" * 32), Account.from_key("0x" + "ef" * 32)
NODE = bytes([1]) * 32


def _body(signer=ORACLE, node=NODE, issued=None, epoch=3, seed=None):
    challenge = ch.Challenge(seed or bytes(range(32)), 8, "fp32", 1.0, rows=8)
    request = ChallengeRequest(challenge, node, epoch, int(time.time()) if issued is None else issued)
    return request.sign(signer.key, DOMAIN)


def _gate(**kw):
    return Gate(DOMAIN, OracleSet(lambda a: a == ORACLE.address), [NODE], **kw)


def test_the_gate_admits_an_oracle_request_once():
    gate = _gate()
    request, signer = gate.admit(_body())
    assert signer == ORACLE.address and request.node_id == NODE
    with pytest.raises(Refused) as replay:
        gate.admit(_body())
    assert replay.value.status == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (lambda: {"challenge": ch.Challenge(bytes(32), 8, "fp32", 1.0).to_json()}, 401),  # unsigned
        (lambda: {**_body(signer=STRANGER), "signer": ORACLE.address}, 401),  # names an oracle, is not
        (lambda: _body(signer=STRANGER), 403),  # not an oracle
        (lambda: _body(node=bytes(32)), 403),  # not served here
        (lambda: _body(issued=int(time.time()) - 3600), 403),  # stale
        (lambda: {**_body(), "challenge": {"seed": "0x00"}}, 400),
    ],
)
def test_the_gate_refuses_everything_else_before_any_work(body, status):
    with pytest.raises(Refused) as refused:
        _gate().admit(body())
    assert refused.value.status == status


def test_the_gate_rate_limits_each_validator():
    gate = _gate(rate=RateLimiter(rate_per_s=0.001, burst=2))
    gate.admit(_body(seed=bytes([1]) * 32))
    gate.admit(_body(seed=bytes([2]) * 32))
    with pytest.raises(Refused) as limited:
        gate.admit(_body(seed=bytes([3]) * 32))
    assert limited.value.status == 429


def _stored(validator, k, epoch=1):
    challenge = ch.Challenge(bytes([k]) * 32, 4, "fp32", 1.0, rows=4)
    return Stored(challenge, cm.compute_commitment(challenge), validator, epoch, NODE)


def test_a_validator_can_only_push_out_its_own_commitments_and_unopened_ones_last():
    store = CommitmentStore(per_validator=3)
    store.put(_stored("A", 1))
    for k in range(10, 40):  # a busy second validator
        store.put(_stored("B", k))
    assert store.get(bytes([1]) * 32) is not None  # A's entry survives B's flood
    store.put(_stored("A", 2))
    store.opened(bytes([2]) * 32)
    store.put(_stored("A", 3))
    store.put(_stored("A", 4))  # A is over its 3: its opened entry goes first
    assert store.get(bytes([2]) * 32) is None and store.get(bytes([1]) * 32) is not None
    assert len(store) == 6


def test_opened_commitments_expire_after_keep_opened_s():
    store = CommitmentStore(keep_opened_s=0.05)
    store.put(_stored("A", 1))
    store.opened(bytes([1]) * 32)
    time.sleep(0.08)
    store.put(_stored("A", 2))
    assert store.get(bytes([1]) * 32) is None and store.get(bytes([2]) * 32) is not None


def test_busy_holds_one_challenge_per_node():
    busy = Busy()
    assert busy.start(NODE, "A", {"a": 1}, 5.0) is None
    assert busy.start(NODE, "B", {"b": 1}, 6.0) == ({"a": 1}, 5.0)
    assert busy.start(bytes(32), "B", {"b": 1}, 6.0) is None  # another node is free
    busy.done(NODE)
    assert busy.start(NODE, "B", {"b": 2}, 7.0) is None
