"""The paid endpoint's durable journal of accepted vouchers and redemptions (SQLite, WAL, fsync).

Every accepted request is written here BEFORE its answer is sent: its channel, the voucher's
cumulative amount and signature, and the price charged. The database runs in WAL mode with
``synchronous=FULL``, so a committed record has been fsynced; a provider killed at any moment
restarts with every voucher it accepted and redeems the latest of each channel.

Group commit: callers of :meth:`Ledger.record` hand their record to one writer thread, which
writes every record waiting at that moment in ONE transaction (one fsync) and then wakes them all.
Concurrent requests share the fsync; a lone request pays one.

Tables: ``accepted`` (one row per served request), ``latest`` (the highest voucher per channel),
``redemptions`` (each redeem transaction: sent, confirmed or failed). uint256 values are stored as
decimal text.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from oracle.errors import OracleError

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    seq INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, cumulative TEXT NOT NULL,
    price TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS latest (
    channel_id TEXT PRIMARY KEY, cumulative TEXT NOT NULL, signature BLOB NOT NULL,
    model_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS redemptions (
    channel_id TEXT NOT NULL, cumulative TEXT NOT NULL, tx_hash TEXT, state TEXT NOT NULL,
    note TEXT, at REAL NOT NULL, PRIMARY KEY (channel_id, cumulative));
"""


class LedgerError(OracleError):
    """The journal could not be written (disk full, read-only, closed): the request is refused."""


@dataclass(frozen=True)
class Accepted:
    channel_id: int
    cumulative: int
    price: int
    signature: bytes
    model_id: int


@dataclass(frozen=True)
class LatestVoucher:
    channel_id: int
    cumulative: int
    signature: bytes
    model_id: int


class _Pending:
    __slots__ = ("record", "done", "error")

    def __init__(self, record: Accepted):
        self.record = record
        self.done = threading.Event()
        self.error: BaseException | None = None


class Ledger:
    """Journal of accepted vouchers (group-committed) and of redemptions."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # one connection, used by the writer and the readers in turn
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="ledger-writer", daemon=True)
        self._closed = False
        self._writer.start()

    # ------------------------------------------------------------------ accepted vouchers

    def record(self, record: Accepted) -> None:
        """Write `record` durably; returns once it is fsynced (LedgerError if it could not be)."""
        if self._closed:
            raise LedgerError(f"the journal {self.path} is closed")
        pending = _Pending(record)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise LedgerError(
                f"could not journal the voucher in {self.path}: {pending.error}"
            ) from pending.error

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            error: BaseException | None = None
            try:
                self._commit(batch)
            except Exception as err:  # noqa: BLE001 - handed to every waiting request
                error = err
            for p in batch:
                p.error = error
                p.done.set()

    def _commit(self, batch: list[_Pending]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for p in batch:
                    r = p.record
                    self._db.execute(
                        "INSERT INTO accepted(channel_id, cumulative, price, at) VALUES (?, ?, ?, ?)",
                        (str(r.channel_id), str(r.cumulative), str(r.price), now),
                    )
                    # Vouchers of one channel arrive in increasing order (the checker serialises
                    # them), so the last write per channel is its highest.
                    self._db.execute(
                        "INSERT INTO latest(channel_id, cumulative, signature, model_id, at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT(channel_id) DO UPDATE SET cumulative = excluded.cumulative,"
                        " signature = excluded.signature, model_id = excluded.model_id, at = excluded.at",
                        (str(r.channel_id), str(r.cumulative), r.signature, str(r.model_id), now),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def latest(self) -> dict[int, LatestVoucher]:
        """The highest accepted voucher of every channel."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, cumulative, signature, model_id FROM latest"
            ).fetchall()
        return {int(c): LatestVoucher(int(c), int(a), bytes(s), int(m)) for c, a, s, m in rows}

    def accepted_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0])

    def accepted_total(self) -> int:
        """Sum of the prices of every accepted request."""
        with self._lock:
            rows = self._db.execute("SELECT price FROM accepted").fetchall()
        return sum(int(p) for (p,) in rows)

    # ------------------------------------------------------------------ redemptions

    def redemption_sent(self, channel_id: int, cumulative: int, tx_hash: str) -> None:
        self._set_redemption(channel_id, cumulative, tx_hash, "sent", None)

    def redemption_confirmed(self, channel_id: int, cumulative: int, tx_hash: str | None) -> None:
        self._set_redemption(channel_id, cumulative, tx_hash, "confirmed", None)

    def redemption_failed(self, channel_id: int, cumulative: int, note: str) -> None:
        self._set_redemption(channel_id, cumulative, None, "failed", note)

    def _set_redemption(
        self, cid: int, cumulative: int, tx_hash: str | None, state: str, note: str | None
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO redemptions(channel_id, cumulative, tx_hash, state, note, at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(channel_id, cumulative) DO UPDATE SET tx_hash = COALESCE(excluded.tx_hash, tx_hash),"
                " state = excluded.state, note = excluded.note, at = excluded.at",
                (str(cid), str(cumulative), tx_hash, state, note, time.time()),
            )

    def redemptions(self) -> list[tuple[int, int, str | None, str]]:
        """(channel id, cumulative, tx hash, state) of every redemption, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, cumulative, tx_hash, state FROM redemptions ORDER BY at"
            ).fetchall()
        return [(int(c), int(a), h, s) for c, a, h, s in rows]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=10)
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
