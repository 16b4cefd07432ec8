"""The paid endpoint's durable journal: accepted vouchers and redemptions.

Every accepted request is written BEFORE its answer is sent: its channel, the voucher's cumulative
amount and signature, and the price charged. Vouchers go to an append-only log with group-committed
fdatasync (:mod:`oracle.provider.paid_log`: one ``pwrite`` per voucher, one fsync shared by every
voucher written meanwhile; ``durability="process"`` answers after the write and fsyncs within a few
ms). A provider killed at any moment restarts with every voucher it answered for and redeems the
latest of each channel. Counts, totals and each channel's latest voucher are kept in memory (the
log is replayed on open).

Redemptions (rare: one per channel per threshold) go to SQLite (WAL, ``synchronous=FULL``), table
``redemptions`` (each redeem transaction: sent, confirmed or failed). The tables ``accepted`` and
``latest`` hold the vouchers of journals written before the voucher log existed; they are read as
the starting point and no longer written. uint256 values are stored as decimal text.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from oracle.errors import OracleError
from oracle.provider.paid_log import LogRecord, VoucherLog, VoucherLogError

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


def voucher_log_path(journal: str | Path) -> Path:
    """Where the voucher log of the journal `journal` lives (next to it)."""
    journal = Path(journal)
    return journal.with_name(journal.name + ".vouchers")


class Ledger:
    """Journal of accepted vouchers (the voucher log) and of redemptions (SQLite)."""

    def __init__(self, path: str | Path, durability: str = "disk"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # the SQLite connection, and the in-memory totals below
        count, total, latest = self._legacy_vouchers()
        self._count, self._total, self._latest = count, total, latest
        self._log = VoucherLog(voucher_log_path(self.path), durability, replay=self._fold)
        self._closed = False

    def _legacy_vouchers(self) -> tuple[int, int, dict[int, LatestVoucher]]:
        """What a journal of the SQLite-only format holds (nothing, for a new one)."""
        count = int(self._db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0])
        total = sum(int(p) for (p,) in self._db.execute("SELECT price FROM accepted"))
        rows = self._db.execute("SELECT channel_id, cumulative, signature, model_id FROM latest").fetchall()
        latest = {int(c): LatestVoucher(int(c), int(a), bytes(s), int(m)) for c, a, s, m in rows}
        return count, total, latest

    def _fold(self, r: LogRecord) -> None:
        self._count += 1
        self._total += r.price
        held = self._latest.get(r.channel_id)
        if held is None or r.cumulative > held.cumulative:
            self._latest[r.channel_id] = LatestVoucher(r.channel_id, r.cumulative, r.signature, r.model_id)

    # ------------------------------------------------------------------ accepted vouchers

    @property
    def durability(self) -> str:
        return self._log.durability

    def record(self, record: Accepted) -> None:
        """Write `record` durably (see the module doc); LedgerError if it could not be."""
        if self._closed:
            raise LedgerError(f"the journal {self.path} is closed")
        entry = LogRecord(
            record.channel_id, record.cumulative, record.price, record.model_id, record.signature, time.time()
        )
        try:
            self._log.append(entry)
        except VoucherLogError as err:
            raise LedgerError(f"could not journal the voucher: {err}") from err
        with self._lock:
            self._fold(entry)

    def latest(self) -> dict[int, LatestVoucher]:
        """The highest accepted voucher of every channel."""
        with self._lock:
            return dict(self._latest)

    def accepted_count(self) -> int:
        with self._lock:
            return self._count

    def accepted_total(self) -> int:
        """Sum of the prices of every accepted request."""
        with self._lock:
            return self._total

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
        self._log.close()
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
