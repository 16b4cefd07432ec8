"""The validator daemons settle disputes by themselves, on anvil with the real contracts: three
validators (in process, threshold 2) notice the JobDisputed event, fetch the manifest, model,
inputs and the provider's openings, re-run the disputed items, sign the EIP-712 verdict, exchange
signatures over GET /verdicts/<jobId>, and one of them submits settleDispute. No test code signs
a verdict. A validator that cannot judge says why and signs nothing; a restart mid-way neither
signs twice nor submits twice."""

from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np
import pytest
from eth_account import Account
from eth_utils import keccak

from oracle import cli
from oracle.journal import Journal
from oracle.validator.config import ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.dispute_journal import DisputeJournal
from oracle.work.escrow import Escrow, Status
from tests.conftest import CORE_PARAMS
from tests.support.core import BPS, ETHER
from tests.support.jobs import ROYALTY_BPS, WrongLabelAgent, build_world
from tests.support.work import demo_bytes, digits

BUDGET = 40 * ETHER + 7  # odd on purpose: every split must still add up to the wei
BOND = 10 * ETHER + 1
ORACLE_INDICES = (6, 7, 8)  # test accounts no job role uses (they pay settleDispute's gas)


class Crash(BaseException):
    """Stands in for the process dying at that exact point (nothing in the daemon catches it)."""


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    oracles = [accounts[i].address for i in ORACLE_INDICES]
    params = {"oracles": oracles, "oracle_threshold": 2, "dispute_bond": BOND}
    w = build_world(accounts, networks, tmp_path_factory.mktemp("disputes"), params=params)
    w.treasury = accounts[9]  # where build_world's deployment sends fees and slashes
    w.oracle_keys = sorted(  # lowest address first: the leader of every quorum below
        (accounts[i].private_key for i in ORACLE_INDICES), key=lambda k: int(Account.from_key(k).address, 16)
    )
    yield w
    w.stop()


def validator(world, tmp, i: int, **settings) -> Validator:
    cfg = ValidatorConfig(
        deployment_path=world.deployment,
        rpc=world.rpc,
        account=Account.from_key(world.oracle_keys[i]),
        journal_path=str(tmp / f"journal-{i}.sqlite"),
        dispute_device="cpu",
        **{"failover_s": 30.0, **settings},
    )
    v = Validator(cfg)
    v.start()
    return v


def connect(vals: list[Validator]) -> None:
    for v in vals:
        v.cfg.peers = [u.url for u in vals if u is not v]


def validators(world, tmp, count: int = 3, **settings) -> list[Validator]:
    vals = [validator(world, tmp, i, **settings) for i in range(count)]
    connect(vals)
    return vals


def record(v: Validator, job_id: int):
    assert v.disputes is not None
    return v.disputes.records.get(job_id)


def settle_concurrently(vals: list[Validator], job_id: int, timeout_s: float = 20.0) -> None:
    """Each validator polls in its own thread, as its daemon would, until it sees the dispute closed."""
    errors: list[BaseException] = []

    def loop(v: Validator) -> None:
        end = time.monotonic() + timeout_s
        try:
            while time.monotonic() < end:
                v.settle_disputes()
                if (rec := record(v, job_id)) is not None and rec.final:
                    return
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(v,)) for v in vals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s + 5)
    assert not errors, errors
    assert all(record(v, job_id).step == "settled" for v in vals), [record(v, job_id) for v in vals]


def stop(*vals: Validator) -> None:
    for v in vals:
        v.stop()


def events(client, name: str, job_id: int) -> list:
    return [e["args"] for e in client.escrow.events(name, job_id)]


def judged(caplog, address: str) -> int:
    return sum(
        1
        for r in caplog.records
        if isinstance(r.msg, dict)
        and r.msg.get("event") == "dispute_judged"
        and r.msg.get("validator") == address
    )


def cli_args(world, v: Validator) -> list[str]:
    return [
        "--json",
        "dispute",
        "judge",
        "--rpc",
        world.rpc,
        "--deployment",
        world.deployment,
        "--private-key",
        "0x" + bytes(v.account.key).hex(),
        "--journal",
        v.cfg.journal_path,
        "--dispute-device",
        "cpu",
    ]


def judge_by_hand(world, v: Validator, job_id: int, capsys) -> dict:
    """`oracle dispute judge JOB --json` with the key and journal of validator `v`."""
    capsys.readouterr()
    assert cli.main([*cli_args(world, v), str(job_id)]) == 0
    return json.loads(capsys.readouterr().out)


def posted_and_computed(world, client, name: str, cls=None):
    x, _ = digits(40)
    posted = client.post(demo_bytes(), x, BUDGET, client.escrow.chain.block_timestamp() + 3600)
    kwargs = {"cls": cls} if cls else {}
    world.agent(client=client, state=name, **kwargs).poll_once()
    return posted.job_id


def test_a_proven_wrong_result_is_refunded_and_slashed_by_the_validators(world, tmp_path):
    client = world.client("cheat-client")
    vals = validators(world, tmp_path)
    try:
        c = world.contracts
        token, staking, escrow = c["ComputeToken"], c["ComputeStaking"], c["JobEscrow"]
        job = posted_and_computed(world, client, "cheat-agent", WrongLabelAgent)
        report = client.check(job, samples=40, rng=np.random.default_rng(0))
        assert report.bad == [7]
        provider = world.providers[0]
        staked = staking.providerInfo(provider).staked
        before = [token.balanceOf(a) for a in (world.requester, provider, world.treasury, escrow)]
        client.dispute(job, report)
        settle_concurrently(vals, job)
        after = [token.balanceOf(a) for a in (world.requester, provider, world.treasury, escrow)]
        collateral = BUDGET * CORE_PARAMS["collateral_bps"] // BPS
        finder = collateral * CORE_PARAMS["finder_share_bps"] // BPS
        harmed = collateral * CORE_PARAMS["harmed_share_bps"] // BPS
        assert after[0] - before[0] == BUDGET + finder + harmed  # the bond went in and came back
        assert after[1] == before[1]  # the provider at fault is paid nothing
        assert after[2] - before[2] == collateral - finder - harmed
        assert before[3] - after[3] == BUDGET  # budget and bond left the escrow (the bond came in)
        assert staked - staking.providerInfo(provider).staked == collateral
        assert staking.providerInfo(provider).locked == 0
        (settled,) = events(client, "DisputeSettled", job)  # one settlement, by one validator
        assert settled["providerAtFault"] and (settled["refund"], settled["slashed"]) == (
            BUDGET + BOND,
            collateral,
        )
        # the lowest-addressed of the signers that agreed first: the lowest validator, or the second
        # when the first two to sign were the other two (a slow machine); never the highest
        assert sorted(v.address for v in vals) == [v.address for v in vals]
        assert settled["caller"] in (vals[0].address, vals[1].address)
        assert client.escrow.job(job).status == Status.CLOSED
        for v in vals:
            rec = record(v, job)
            assert rec.judgement["wrong"] == [7] and rec.verdict["providerAtFault"] is True
        assert len({record(v, job).signature for v in vals}) == 3  # each signed once, its own
        submitted = [v.metrics.disputes.labels("submitted")._value.get() for v in vals]
        assert submitted == [float(v.address == settled["caller"]) for v in vals]  # the settler alone
        assert all(v.metrics.disputes.labels("at_fault")._value.get() == 1 for v in vals)
    finally:
        stop(*vals)
        client.stop()
        world.stop()


def test_a_false_claim_pays_the_provider_and_gives_it_the_bond(world, tmp_path, capsys):
    client = world.client("false-client")
    vals = validators(world, tmp_path)
    try:
        c = world.contracts
        token, staking = c["ComputeToken"], c["ComputeStaking"]
        job = posted_and_computed(world, client, "honest-agent")
        provider = world.providers[0]
        who = (world.requester, provider, world.treasury, world.creator)
        before = [token.balanceOf(a) for a in who]
        client.escrow.dispute(job, client.escrow.result_hash(job), [3, 11])  # both are right
        by_hand = judge_by_hand(world, vals[0], job, capsys)  # the operator's command, same journal
        assert by_hand["verdict"]["providerAtFault"] is False and by_hand["judgement"]["wrong"] == []
        assert cli.main([*cli_args(world, vals[0])[1:], str(job)]) == 0  # for people: the same, journaled
        table = capsys.readouterr().out
        assert "provider at fault  False" in table and by_hand["signature"] in table
        for _ in range(2):  # sequential polls: 0 signs; 1 and 2 sign and wait; 0 submits
            for v in vals:
                v.settle_disputes()
        assert all(record(v, job).step == "settled" for v in vals)
        after = [token.balanceOf(a) for a in who]
        fee = BUDGET * c["JobEscrow"].feeBps() // BPS
        royalty = BUDGET * ROYALTY_BPS // BPS
        assert before[0] - after[0] == BOND  # the frivolous dispute cost its maker the bond
        assert after[1] - before[1] == BUDGET - fee - royalty + BOND
        assert (after[2] - before[2], after[3] - before[3]) == (fee, royalty)
        assert staking.providerInfo(provider).locked == 0
        (settled,) = events(client, "DisputeSettled", job)
        assert not settled["providerAtFault"] and settled["caller"] in (vals[0].address, vals[1].address)
        (paid,) = events(client, "JobSettled", job)
        assert paid["providerAmount"] == BUDGET - fee - royalty
        assert all(record(v, job).judgement["wrong"] == [] for v in vals)
        assert record(vals[0], job).signature == by_hand["signature"]  # the daemon signed nothing new
        assert cli.main([*cli_args(world, vals[0]), "999"]) == 2
        assert "job 999 has no JobDisputed event" in capsys.readouterr().err
    finally:
        stop(*vals)
        client.stop()
        world.stop()


def test_a_validator_restarted_mid_way_neither_signs_nor_submits_twice(world, tmp_path, caplog):
    client = world.client("restart-client")
    a, b = validator(world, tmp_path, 0), validator(world, tmp_path, 1)
    connect([a, b])
    try:
        job = posted_and_computed(world, client, "restart-agent")
        client.escrow.dispute(job, client.escrow.result_hash(job), [5])
        w3, address = a.chain.w3, a.address
        nonce0 = w3.eth.get_transaction_count(address)
        with caplog.at_level(logging.INFO, logger="oracle"):
            a.settle_disputes()  # judged and signed; no quorum yet
            signature = a.verdicts_document(job)["signature"]
            a.stop()  # the process dies; its journal stays on disk
            a = validator(world, tmp_path, 0)  # restarted (a new port)
            connect([a, b])
            assert a.verdicts_document(job)["signature"] == signature
            b.settle_disputes()  # b signs, sees a's signature: quorum, but a leads
            assert record(b, job).step == "signed"
            send = a.chain.w3.eth.send_raw_transaction

            def send_then_die(raw):
                send(raw)
                raise Crash("after sending settleDispute, before the receipt")

            a.chain.w3.eth.send_raw_transaction = send_then_die
            with pytest.raises(Crash):
                a.settle_disputes()
            a.stop()
            a = validator(world, tmp_path, 0)  # restarted again: waits for the sent transaction
            connect([a, b])
            a.settle_disputes()
            b.settle_disputes()
        assert judged(caplog, address) == 1, "judged (and signed) once across three runs"
        assert w3.eth.get_transaction_count(address) - nonce0 == 1, "settleDispute was sent twice"
        assert len(events(client, "DisputeSettled", job)) == 1
        rec = record(a, job)
        assert rec.history == ["seen", "signed", "submitting", "settled"] and rec.signature == signature
        assert "by this validator" in rec.reason and record(b, job).step == "settled"
    finally:
        stop(a, b)
        client.stop()
        world.stop()


def test_a_validator_that_cannot_judge_says_why_and_signs_nothing(world, tmp_path, caplog):
    client = world.client("cannot-client")
    served = [client.server.url]
    vals = [
        validator(world, tmp_path, 0, manifest_sources=served),
        validator(world, tmp_path, 1, manifest_sources=served),
    ]
    vals.append(validator(world, tmp_path, 2))  # knows no other place for the manifest
    connect(vals)
    try:
        # 1. the provider went away after submitting: nobody can judge yet
        job = posted_and_computed(world, client, "vanishing-agent")
        client.escrow.dispute(job, client.escrow.result_hash(job), [2])
        world.stop()
        with caplog.at_level(logging.WARNING, logger="oracle"):
            for v in vals:
                v.settle_disputes()
        reasons = {
            r.msg["validator"]: r.msg["reason"]
            for r in caplog.records
            if isinstance(r.msg, dict) and r.msg.get("event") == "cannot_judge"
        }
        assert "did not open items [2]" in reasons[vals[0].address]
        assert "no source served blob" in reasons[vals[2].address]
        assert all(v.verdicts_document(job)["verdict"] is None for v in vals)
        assert all(record(v, job).step == "seen" and record(v, job).signature is None for v in vals)
        # 2. past its grace, the items it does not open count against it: refund and slash
        late = [
            validator(world, tmp_path / "late", i, manifest_sources=served, open_grace_s=0) for i in range(3)
        ]
        connect(late)
        for _ in range(2):
            for v in late:
                v.settle_disputes()
        (settled,) = events(client, "DisputeSettled", job)
        assert settled["providerAtFault"] and record(late[0], job).judgement["unopened"] == [2]
        stop(*late)
        # 3. a dispute over a result the provider never submitted: no verdict can be right
        x, _ = digits(40)
        other = client.post(demo_bytes(), x, BUDGET, client.escrow.chain.block_timestamp() + 3600).job_id
        provider = Escrow(world.chain_for(world.providers[0]))
        provider.accept(other, world.nodes[0])
        provider.submit(other, keccak(text="the provider's root"))
        client.escrow.dispute(other, keccak(text="some other root"), [1])
        for v in vals:
            v.settle_disputes()
        assert all(record(v, other).step == "refused" for v in vals)
        assert "the provider submitted 0x" in record(vals[0], other).reason
        assert all(v.verdicts_document(other)["verdict"] is None for v in vals)
        assert client.escrow.job(other).status == Status.DISPUTED  # governance decides it
    finally:
        stop(*vals)
        client.stop()


def test_the_journal_refuses_to_change_a_signed_verdict(tmp_path):
    from oracle.validator.dispute_journal import DisputeJournalError, DisputeRecord

    journal = Journal(tmp_path / "j.sqlite")
    records = DisputeJournal(journal, "0x" + "ab" * 20)
    rec = records.put(DisputeRecord(4, "0x" + "11" * 32, "0x" + "22" * 32, [1], 99))
    rec = records.put(rec, step="signed", verdict={"providerAtFault": True}, signature="0x01")
    with pytest.raises(DisputeJournalError, match="refusing to sign twice"):
        records.put(records.get(4), verdict={"providerAtFault": False})
    with pytest.raises(DisputeJournalError, match="cannot move to seen"):
        records.put(records.get(4), step="seen")
    assert records.get(4).signature == "0x01" and records.ids() == [4]
    journal.close()
