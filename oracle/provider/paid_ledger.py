"""The paid endpoint's durable journal: accepted vouchers and redemptions.

Every accepted request is written BEFORE its answer is sent: its channel, the voucher's cumulative
amount and signature, and the price charged. Vouchers go to an append-only log with group-committed
fdatasync (:mod:`oracle.provider.paid_log`: one 256-byte copy into the mapped file per voucher, one
fsync shared by every voucher written meanwhile; ``durability="process"`` answers after the write
and fsyncs within a few ms). A provider killed at any moment restarts with every voucher it answered for and redeems the
latest of each channel. Counts, totals and each channel's latest voucher are kept in memory (the
log is replayed on open). Every ``compact_every`` vouchers (100,000: ~0.4 s to replay) the log is
folded into a checkpoint (tables ``checkpoint``: generation, count, total; ``checkpoint_latest``:
each channel's highest voucher) and continues in a new file ``<journal>.vouchers.<generation>``.

A voucher that prepays n > 1 requests opens the channel's credit window (its anchor and n in its
record); each request served from the window appends a credit-use record (index and token; not
waited for with an fsync: :mod:`oracle.provider.paid_log`). Every channel's open window (the
latest voucher's, with the last used index and token) is kept in memory and in the checkpoint
(``checkpoint_windows``), so a restarted provider resumes it where its journal left off.

Redemptions (rare: one per channel per threshold) go to SQLite (WAL, ``synchronous=FULL``), table
``redemptions`` (each redeem transaction: sent, confirmed or failed). The tables ``accepted`` and
``latest`` hold the vouchers of journals written before the voucher log existed; they are read as
the starting point and no longer written. uint256 values are stored as decimal text.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from oracle.errors import OracleError
from oracle.provider.paid_energy import EnergyTotals
from oracle.provider.paid_log import CreditRecord, LogRecord, VoucherLog, VoucherLogError

log = logging.getLogger("oracle.provider.paid")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    seq INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, cumulative TEXT NOT NULL,
    price TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS latest (
    channel_id TEXT PRIMARY KEY, cumulative TEXT NOT NULL, signature BLOB NOT NULL,
    model_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL, count INTEGER NOT NULL,
    total TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint_latest (
    channel_id TEXT PRIMARY KEY, cumulative TEXT NOT NULL, signature BLOB NOT NULL,
    model_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint_windows (
    channel_id TEXT PRIMARY KEY, cumulative TEXT NOT NULL, credit INTEGER NOT NULL,
    anchor BLOB NOT NULL, used INTEGER NOT NULL, token BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint_credit (
    id INTEGER PRIMARY KEY CHECK (id = 1), uses INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS energy (
    id INTEGER PRIMARY KEY CHECK (id = 1), requests INTEGER NOT NULL, mj REAL NOT NULL,
    estimated INTEGER NOT NULL);
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
    credit: int = 1
    """Requests the voucher prepays (> 1: it opens a credit window with `anchor`)."""
    anchor: bytes | None = None


@dataclass(frozen=True)
class Window:
    """A channel's open credit window: its voucher's cumulative, n, anchor, and the last used
    index with its token (index 0, the anchor: the voucher's own request)."""

    channel_id: int
    cumulative: int
    credit: int
    anchor: bytes
    used: int
    token: bytes


@dataclass(frozen=True)
class LatestVoucher:
    channel_id: int
    cumulative: int
    signature: bytes
    model_id: int


COMPACT_EVERY = 100_000
"""Records in the voucher log before it is folded into a checkpoint (replaying 100,000 takes ~0.4 s)."""


def voucher_log_path(journal: str | Path, generation: int = 0) -> Path:
    """Where the voucher log of the journal `journal` lives (next to it), for a generation."""
    journal = Path(journal)
    return journal.with_name(journal.name + ".vouchers" + (f".{generation}" if generation else ""))


class Ledger:
    """Journal of accepted vouchers (the voucher log) and of redemptions (SQLite)."""

    def __init__(self, path: str | Path, durability: str = "disk", compact_every: int = COMPACT_EVERY):
        self.path = Path(path)
        self.compact_every = compact_every
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # the SQLite connection, and the in-memory totals below
        self._compact_lock = threading.Lock()
        self._generation, self._count, self._total, self._latest = self._checkpoint()
        self._windows, self._credit_uses = self._checkpoint_windows()
        self._used: dict[int, tuple[int, bytes]] = {}  # channel -> (index, token) of its window's last use
        self._log = VoucherLog(voucher_log_path(self.path, self._generation), durability, replay=self._fold)
        self._remove_older_logs()
        self._closed = False

    def _checkpoint(self) -> tuple[int, int, int, dict[int, LatestVoucher]]:
        """(generation, count, total, latest) of the last checkpoint; without one, what a journal of
        the SQLite-only format holds (nothing, for a new one) as generation 0."""
        row = self._db.execute("SELECT generation, count, total FROM checkpoint").fetchone()
        if row is not None:
            generation, count, total = int(row[0]), int(row[1]), int(row[2])
            table = "checkpoint_latest"
        else:
            generation, table = 0, "latest"
            count = int(self._db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0])
            total = sum(int(p) for (p,) in self._db.execute("SELECT price FROM accepted"))
        rows = self._db.execute(f"SELECT channel_id, cumulative, signature, model_id FROM {table}").fetchall()
        latest = {int(c): LatestVoucher(int(c), int(a), bytes(s), int(m)) for c, a, s, m in rows}
        return generation, count, total, latest

    def _checkpoint_windows(self) -> tuple[dict[int, Window], int]:
        rows = self._db.execute(
            "SELECT channel_id, cumulative, credit, anchor, used, token FROM checkpoint_windows"
        ).fetchall()
        windows = {
            int(c): Window(int(c), int(a), int(n), bytes(h), int(u), bytes(t)) for c, a, n, h, u, t in rows
        }
        row = self._db.execute("SELECT uses FROM checkpoint_credit").fetchone()
        return windows, int(row[0]) if row else 0

    def _remove_older_logs(self) -> None:
        """Logs of older generations (a crash between a checkpoint and its log's removal)."""
        base = voucher_log_path(self.path).name
        for p in self.path.parent.glob(base + "*"):
            suffix = p.name[len(base) :].lstrip(".")
            generation = int(suffix) if suffix.isdigit() else (0 if not suffix else None)
            if generation is not None and generation < self._generation:
                p.unlink(missing_ok=True)

    def compact(self) -> None:
        """Fold the voucher log into a checkpoint in SQLite and continue in a new, empty log
        (appends wait for one SQLite commit). A crash at any point loses nothing: before the
        checkpoint commits, the old log is replayed; after it, the checkpoint plus the new log."""
        with self._compact_lock:
            self._compact()

    def _compact(self) -> None:
        """Compaction itself; the caller holds self._compact_lock."""
        generation = self._generation + 1

        def commit() -> None:
            with self._lock:
                rows = [
                    (str(v.channel_id), str(v.cumulative), v.signature, str(v.model_id))
                    for v in self._latest.values()
                ]
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM checkpoint_latest")
                    self._db.executemany("INSERT INTO checkpoint_latest VALUES (?, ?, ?, ?)", rows)
                    self._db.execute(
                        "INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?, ?)",
                        (generation, self._count, str(self._total)),
                    )
                    self._db.execute("DELETE FROM checkpoint_windows")
                    self._db.executemany(
                        "INSERT INTO checkpoint_windows VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (str(w.channel_id), str(w.cumulative), w.credit, w.anchor, w.used, w.token)
                            for w in self._windows_now().values()
                        ],
                    )
                    self._db.execute(
                        "INSERT OR REPLACE INTO checkpoint_credit VALUES (1, ?)", (self._credit_uses,)
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._generation = generation

        try:
            self._log.rotate(voucher_log_path(self.path, generation), commit)
        except (VoucherLogError, sqlite3.Error, OSError) as err:
            raise LedgerError(f"could not compact the journal {self.path}: {err}") from err

    def _fold(self, r: LogRecord | CreditRecord) -> None:
        if isinstance(r, CreditRecord):
            self._fold_credit(r)
            return
        self._count += 1
        self._total += r.price
        held = self._latest.get(r.channel_id)
        if held is None or r.cumulative > held.cumulative:
            self._latest[r.channel_id] = LatestVoucher(r.channel_id, r.cumulative, r.signature, r.model_id)
            self._used.pop(r.channel_id, None)
            if r.credit > 1 and r.anchor is not None:
                self._windows[r.channel_id] = Window(
                    r.channel_id, r.cumulative, r.credit, r.anchor, 0, r.anchor
                )
            else:
                self._windows.pop(r.channel_id, None)

    def _fold_credit(self, r: CreditRecord) -> None:
        """A credit use (the hot path: a tuple, no Window built; windows() merges them)."""
        self._credit_uses += 1
        w = self._windows.get(r.channel_id)
        if w is not None and w.cumulative == r.cumulative:
            used = self._used.get(r.channel_id)
            if r.index > (w.used if used is None else used[0]):
                self._used[r.channel_id] = (r.index, r.token)

    def _windows_now(self) -> dict[int, Window]:
        """The open windows with their last uses applied; the caller holds self._lock."""
        out = dict(self._windows)
        for cid, (index, token) in self._used.items():
            w = out[cid]
            out[cid] = Window(w.channel_id, w.cumulative, w.credit, w.anchor, index, token)
        return out

    # ------------------------------------------------------------------ accepted vouchers

    @property
    def durability(self) -> str:
        return self._log.durability

    def record(self, record: Accepted) -> None:
        """Write `record` durably (see the module doc); LedgerError if it could not be."""
        if self._closed:
            raise LedgerError(f"the journal {self.path} is closed")
        entry = LogRecord(
            record.channel_id,
            record.cumulative,
            record.price,
            record.model_id,
            record.signature,
            time.time(),
            record.credit,
            record.anchor,
        )
        try:
            self._log.append(entry, on_written=self._fold_locked)
        except VoucherLogError as err:
            raise LedgerError(f"could not journal the voucher: {err}") from err
        self._maybe_compact()

    def record_credit(self, channel_id: int, cumulative: int, index: int, token: bytes) -> None:
        """Write one credit use of the window of the voucher at `cumulative` (in the kernel on
        return, fsynced later: see the module doc); LedgerError if it could not be written."""
        if self._closed:
            raise LedgerError(f"the journal {self.path} is closed")
        try:
            self._log.append_unsynced(
                CreditRecord(channel_id, cumulative, index, token, time.time()),
                on_written=self._fold_credit_locked,
            )
        except VoucherLogError as err:
            raise LedgerError(f"could not journal the credit use: {err}") from err
        if self._log.count >= self.compact_every:
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._log.count >= self.compact_every and self._compact_lock.acquire(blocking=False):
            try:
                if self._log.count >= self.compact_every:  # not done meanwhile by another request
                    self._compact()
            except LedgerError as err:  # the voucher is journaled; compaction is retried later
                log.warning({"event": "journal_compact_failed", "error": str(err)})
            finally:
                self._compact_lock.release()

    def _fold_locked(self, r: LogRecord | CreditRecord) -> None:
        with self._lock:
            self._fold(r)

    def _fold_credit_locked(self, r: CreditRecord) -> None:
        with self._lock:
            self._fold_credit(r)

    def latest(self) -> dict[int, LatestVoucher]:
        """The highest accepted voucher of every channel."""
        with self._lock:
            return dict(self._latest)

    def accepted_count(self) -> int:
        """Accepted vouchers."""
        with self._lock:
            return self._count

    def credit_uses(self) -> int:
        """Requests served from credit windows (each a credit-use record)."""
        with self._lock:
            return self._credit_uses

    def journaled_requests(self) -> int:
        """Every paid request journaled: a voucher's, or a credit use."""
        with self._lock:
            return self._count + self._credit_uses

    def windows(self) -> dict[int, Window]:
        """Every channel's open credit window, as journaled."""
        with self._lock:
            return self._windows_now()

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

    def add_energy(self, totals: EnergyTotals) -> None:
        """Add metered requests' energy to the journal's totals (oracle.provider.paid_energy)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO energy (id, requests, mj, estimated) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO "
                "UPDATE SET requests = requests + excluded.requests, mj = mj + excluded.mj, "
                "estimated = estimated + excluded.estimated",
                (totals.requests, totals.mj, totals.estimated),
            )

    def energy_totals(self) -> EnergyTotals:
        with self._lock:
            row = self._db.execute("SELECT requests, mj, estimated FROM energy").fetchone()
        return EnergyTotals(int(row[0]), float(row[1]), int(row[2])) if row else EnergyTotals()

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
