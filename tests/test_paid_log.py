"""The paid endpoint's voucher log (oracle/provider/paid_log.py) on a real file: records survive a
reopen, a record torn by a crash is ignored and overwritten, concurrent appends share one fsync
(group commit) and none returns before an fsync covers it, "process" durability answers after the
write and syncs in the background, a failed fsync refuses every later voucher, and a journal of the
older SQLite-only format is read as the starting point."""

import os
import sqlite3
import threading
import time

import pytest

from oracle.provider import paid_log
from oracle.provider.paid_ledger import Accepted, Ledger, LedgerError, voucher_log_path
from oracle.provider.paid_log import (
    RECORD_SIZE,
    CreditRecord,
    LogRecord,
    VoucherLog,
    VoucherLogError,
    read_records,
)

SIG = bytes(range(65))


def _rec(cid: int, cumulative: int, price: int = 7) -> LogRecord:
    return LogRecord(cid, cumulative, price, 2**255 + 1, SIG, 1.5)


def test_records_survive_a_reopen_and_a_torn_tail_is_ignored_then_overwritten(tmp_path):
    path = tmp_path / "v.log"
    log = VoucherLog(path)
    for i in range(1, 4):
        log.append(_rec(1, 7 * i))
    log.close()
    assert os.path.getsize(path) >= 3 * RECORD_SIZE  # space allocated ahead
    with open(path, "r+b") as f:  # a fourth record torn in the middle of its write
        f.seek(3 * RECORD_SIZE)
        f.write(paid_log.encode(_rec(1, 28))[:100])
    seen: list[LogRecord] = []
    log = VoucherLog(path, replay=seen.append)
    assert [r.cumulative for r in seen] == [7, 14, 21] and seen[0] == _rec(1, 7)
    log.append(_rec(2, 7))  # goes where the torn one was
    log.close()
    assert [(r.channel_id, r.cumulative) for r in read_records(path)] == [(1, 7), (1, 14), (1, 21), (2, 7)]


def test_concurrent_appends_share_one_fsync_and_none_returns_unsynced(tmp_path, monkeypatch):
    real = os.fdatasync
    calls: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def fdatasync(fd):
        calls.append(fd)
        if len(calls) == 1:  # the first fsync is slow: the others write meanwhile and queue
            first_started.set()
            release.wait(10)
        real(fd)

    monkeypatch.setattr(paid_log.os, "fdatasync", fdatasync)
    log = VoucherLog(tmp_path / "v.log")
    done: list[int] = []

    def append(i):
        log.append(_rec(i, 7))
        done.append(i)

    first = threading.Thread(target=append, args=(0,))
    first.start()
    assert first_started.wait(10)
    others = [threading.Thread(target=append, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    while log._written < 6:  # the five later records are written (in the kernel), not yet synced
        time.sleep(0.005)
    assert done == []  # nobody answered before its fsync
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert sorted(done) == list(range(6))
    assert len(calls) == 2  # one fsync for the first record, ONE for the five that queued behind it
    log.close()


def test_process_durability_returns_after_the_write_and_syncs_in_the_background(tmp_path, monkeypatch):
    synced = threading.Event()
    real = os.fdatasync
    monkeypatch.setattr(paid_log.os, "fdatasync", lambda fd: (real(fd), synced.set()))
    log = VoucherLog(tmp_path / "v.log", durability="process", window_s=0.001)
    log.append(_rec(1, 7))
    assert [r.cumulative for r in read_records(tmp_path / "v.log")] == [7]  # readable at once
    assert synced.wait(5)  # and fsynced by the background thread
    log.close()
    with pytest.raises(ValueError, match="durability"):
        VoucherLog(tmp_path / "w.log", durability="never")


def test_a_failed_fsync_refuses_that_voucher_and_every_later_one(tmp_path, monkeypatch):
    log = VoucherLog(tmp_path / "v.log")

    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(paid_log.os, "fdatasync", broken)
    with pytest.raises(VoucherLogError, match="durable"):
        log.append(_rec(1, 7))
    monkeypatch.undo()
    with pytest.raises(VoucherLogError, match="restart"):
        log.append(_rec(1, 14))
    log.close()


def test_ledger_keeps_counts_and_latest_across_restarts_and_reads_the_old_sqlite_format(tmp_path):
    journal = tmp_path / "journal.sqlite"
    with Ledger(journal) as ledger:  # an old journal: vouchers in SQLite tables
        ledger._db.execute(
            "INSERT INTO accepted(channel_id, cumulative, price, at) VALUES ('3', '5', '5', 0)"
        )
        ledger._db.execute("INSERT INTO latest VALUES ('3', '5', ?, '0', 0)", (SIG,))
    with Ledger(journal) as ledger:
        assert ledger.accepted_count() == 1 and ledger.latest()[3].cumulative == 5
        ledger.record(Accepted(3, 10, 5, SIG, 0))
        ledger.record(Accepted(4, 5, 5, SIG, 0))
    with Ledger(journal, durability="process") as ledger:
        assert (ledger.accepted_count(), ledger.accepted_total()) == (3, 15)
        assert {c: v.cumulative for c, v in ledger.latest().items()} == {3: 10, 4: 5}
        assert ledger.latest()[3].signature == SIG
    assert voucher_log_path(journal).is_file()
    with sqlite3.connect(journal) as db:  # the vouchers went to the log, not SQLite
        assert db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0] == 1
    closed = Ledger(journal)
    closed.close()
    with pytest.raises(LedgerError, match="closed"):
        closed.record(Accepted(3, 15, 5, SIG, 0))


def test_compaction_folds_the_log_into_a_checkpoint_and_a_crash_around_it_loses_nothing(tmp_path):
    journal = tmp_path / "journal.sqlite"
    with Ledger(journal, compact_every=4) as ledger:
        for i in range(1, 11):  # 10 vouchers over 3 channels: two compactions (after 4 and 8)
            ledger.record(Accepted(i % 3, 5 * i, 5, SIG, 0))
        assert ledger._generation == 2
    logs = sorted(p.name for p in tmp_path.glob("journal.sqlite.vouchers*"))
    assert logs == ["journal.sqlite.vouchers.2"]  # the older logs are gone
    assert len(list(read_records(tmp_path / logs[0]))) == 2
    expected = {0: 45, 1: 50, 2: 40}
    with Ledger(journal) as ledger:
        assert (ledger.accepted_count(), ledger.accepted_total()) == (10, 50)
        assert {c: v.cumulative for c, v in ledger.latest().items()} == expected
    # a crash after the checkpoint committed, before the old log was removed: the old log (whose
    # records the checkpoint holds) is ignored and removed, never counted twice
    stale = voucher_log_path(journal, 1)
    stale.write_bytes(b"".join(paid_log.encode(_rec(0, 5 * i, 5)) for i in range(1, 5)))
    with Ledger(journal) as ledger:
        assert (ledger.accepted_count(), ledger.accepted_total()) == (10, 50)
    assert not stale.exists()


def test_a_one_request_voucher_is_the_old_record_and_windows_and_credit_uses_round_trip():
    assert paid_log.encode(_rec(1, 7))[:4] == b"PVL1"  # n = 1: byte for byte the record of before
    window = LogRecord(1, 70, 70, 5, SIG, 2.5, credit=10, anchor=b"\xaa" * 32)
    use = CreditRecord(1, 70, 3, b"\xbb" * 32, 3.5)
    assert [paid_log.encode(r)[:4] for r in (window, use)] == [b"PVL2", b"PVU1"]
    assert [paid_log.decode(paid_log.encode(r)) for r in (window, use)] == [window, use]
    torn = bytearray(paid_log.encode(use))
    torn[40] ^= 1
    assert paid_log.decode(bytes(torn)) is None
    with pytest.raises(VoucherLogError, match="anchor"):
        paid_log.encode(LogRecord(1, 70, 70, 5, SIG, 2.5, credit=10, anchor=b"short"))


def test_credit_uses_are_written_without_an_fsync_and_windows_survive_restart_and_compaction(
    tmp_path, monkeypatch
):
    journal = tmp_path / "journal.sqlite"
    syncs: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(paid_log.os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    with Ledger(journal, compact_every=5) as ledger:  # durability disk
        ledger.record(Accepted(3, 40, 40, SIG, 0, credit=4, anchor=b"\x01" * 32))
        assert len(syncs) == 1
        for j in (1, 3):  # index 2 skipped
            ledger.record_credit(3, 40, j, bytes([j]) * 32)
        assert len(syncs) == 1  # the credit uses waited for no fsync
        assert ledger.windows()[3].used == 3 and ledger.windows()[3].token == b"\x03" * 32
        ledger.record_credit(3, 10, 4, b"\x04" * 32)  # of an older window: counted, window unchanged
        ledger.record(Accepted(4, 20, 20, SIG, 0, credit=2, anchor=b"\x02" * 32))  # 5 records: compacted
        assert ledger._generation == 1
    with Ledger(journal) as ledger:
        assert (ledger.accepted_count(), ledger.credit_uses(), ledger.journaled_requests()) == (2, 3, 5)
        assert {c: (w.cumulative, w.credit, w.used) for c, w in ledger.windows().items()} == {
            3: (40, 4, 3),
            4: (20, 2, 0),
        }
        ledger.record(Accepted(3, 50, 10, SIG, 0))  # a one-request voucher ends the channel's window
    with Ledger(journal) as ledger:
        assert set(ledger.windows()) == {4} and ledger.accepted_total() == 70


def test_a_rotation_whose_checkpoint_fails_changes_nothing(tmp_path):
    log = VoucherLog(tmp_path / "v.log")
    log.append(_rec(1, 7))

    def failing_commit():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        log.rotate(tmp_path / "v.log.1", failing_commit)
    assert not (tmp_path / "v.log.1").exists()
    log.append(_rec(1, 14))  # still the old file
    log.close()
    assert [r.cumulative for r in read_records(tmp_path / "v.log")] == [7, 14]


def test_paid_requests_on_a_gpu_read_the_energy_counter_and_the_totals_reach_the_journal(tmp_path):
    """NVML opened once for the endpoint (a stand-in: the counter in mJ); each request's mJ from
    the counter before and after the model, not an estimate; the totals flushed to the journal."""
    from oracle.provider.paid_energy import RequestMeter
    from tests.support.gpu import MeterNvml

    ticks = iter([0.0, 0.0, 0.5, 0.9, 1.0])
    with Ledger(tmp_path / "journal.db") as ledger:
        meter = RequestMeter(
            {"nvml": MeterNvml([1_000, 1_250, 1_250, 1_750, 2_000, 2_100])},
            ledger.add_energy,
            clock=lambda: next(ticks),
        )
        answers = [meter.measure(lambda: "out") for _ in range(3)]
        assert [a[0] for a in answers] == ["out"] * 3
        assert [a[1] for a in answers] == [
            {"mj": mj, "estimate": False, "source": "nvml-energy-counter"} for mj in (250.0, 500.0, 100.0)
        ]
        totals = ledger.energy_totals()  # the first request flushed; the next two wait (< 1 s, < 256)
        assert (totals.requests, totals.mj) == (1, 250.0)
        meter.flush()
        assert ledger.energy_totals().to_json() == {
            "requests": 3,
            "mj": 850.0,
            "mj_per_request": 283.333,
            "estimated_requests": 0,
            "estimate": False,
        }
    with Ledger(tmp_path / "journal.db") as again:  # kept across a restart
        assert again.energy_totals().requests == 3
    cpu = RequestMeter({"nvml": MeterNvml(init_fails=True)})  # no NVML: the labelled CPU estimate
    assert cpu.measure(lambda: None)[1]["estimate"] is True and cpu.args["nvml"] is False

    journaled, fail = [], [True]

    def sink(totals):
        if fail[0]:
            raise OSError("disk full")
        journaled.append(totals.requests)

    failing = RequestMeter({"nvml": False}, sink)  # a journal that fails never fails the request
    assert failing.measure(lambda: "answered")[0] == "answered" and journaled == []
    fail[0] = False
    failing.flush()  # the totals were kept: the next flush journals them
    assert journaled == [1]
