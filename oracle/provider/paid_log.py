"""The paid endpoint's voucher log: an append-only file of fixed-size records, written before a
request is answered and made durable by group-committed ``fdatasync``.

Why not one SQLite transaction per voucher: a commit with ``synchronous=FULL`` costs 0.3-4 ms on
this machine's disk (WAL append, checksum, fsync, plus the handoff to a writer thread), against
~15 us for the demo model. Here a voucher costs one copy of 256 bytes into a ``MAP_SHARED``
mapping of space allocated ahead (so the fsync has no file-size change to journal in the common
case; no system call per record: a ``pwrite`` cost ~5 us alone and 12 us of a busy server
thread), then:

- ``durability="disk"`` (the default): the request waits for an ``fdatasync`` that covers its
  record. Group commit, without a writer thread: the first waiter syncs for every record written
  so far while later requests write theirs and queue; when it is done, the next waiter finds its
  record already synced (no syscall) or syncs for the whole queue. A lone client pays one fsync
  per request; N concurrent clients share one. Survives a killed process and a power loss.
- ``durability="process"``: the request waits for the write only (the record is in the kernel's
  page cache, which the mapping shares: a killed provider process loses nothing), and a background
  thread fsyncs, within ``window_s`` of a voucher, whatever was written. A power loss or kernel crash can lose the vouchers of the last
  window -- the provider's own money (it served them), never the user's: vouchers are cumulative,
  so a lost one is superseded by the client's next one and nobody pays twice.

Record layouts (256 bytes each, big-endian), each ending in the CRC-32 of everything before it
(4) and zero padding:

- ``PVL1``, a voucher for one request: magic | channel id (32) | cumulative (32) | price charged
  (32) | model id (32) | signature length (1) | signature (96, zero-padded) | unix time (float64).
- ``PVL2``, a voucher that opens a credit window of n > 1 requests (:mod:`oracle.client.pay_credit`):
  magic | channel id | cumulative | charged | model id (32 each) | signature length (1) | signature
  (65, zero-padded) | unix time (float64) | n (uint32) | the window's anchor (32).
- ``PVU1``, one credit use of a window (written, not waited for with an fsync, in both
  durabilities: see below): magic | channel id (32) | the window's cumulative (32) | index
  (uint32) | its token (32) | unix time (float64).

Reading stops at the first record whose magic or CRC does not match: the allocated, never-written
tail (zeros), or a record torn by a crash in the middle of its write (never answered, so never
owed).

A credit use is appended with :meth:`VoucherLog.append_unsynced`: the answer waits for its
write only (a killed provider process loses nothing), and it becomes durable with the next fsync
(the next voucher's, in either durability; a credit use does not wake the background sync, which
would cost a busy provider one fsync every ``window_s``), or the kernel's own writeback. A
power loss can thus lose the last credit uses of a window: after restart the provider would take
those tokens once more -- the provider's loss, at most the lost tail of one window per channel;
the money is safe (the window's voucher was journaled like any other voucher).

Compaction (:meth:`VoucherLog.rotate`, driven by :meth:`oracle.provider.paid_ledger.Ledger.compact`
every 100,000 records): appends pause, the file is fsynced, the caller commits a checkpoint of
everything in it naming a new, empty file (created and fsynced into its folder first), and the log
continues there; the old file is deleted.

An ``fdatasync`` that fails leaves the file's state unknown (the kernel may have dropped the
dirty pages): the log then refuses every later record (restart the provider; it re-reads the
file). Space that cannot be allocated (disk full) refuses that request only. ``fdatasync`` of the
file writes back the pages dirtied through the mapping (Linux: one page cache; the log already
needs Linux for ``posix_fallocate``).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from oracle.errors import OracleError

MAGIC = b"PVL1"
MAGIC_WINDOW = b"PVL2"
MAGIC_USE = b"PVU1"
RECORD_SIZE = 256
MAX_SIGNATURE = 96
WINDOW_SIGNATURE = 65
_BODY = struct.Struct(f">4s32s32s32s32sB{MAX_SIGNATURE}sd")
_WINDOW = struct.Struct(f">4s32s32s32s32sB{WINDOW_SIGNATURE}sdI32s")
_USE = struct.Struct(">4s32s32sI32sd")
_CRC = struct.Struct(">I")
GROW_RECORDS = 4096  # allocate 1 MiB at a time
DURABILITIES = ("disk", "process")


class VoucherLogError(OracleError):
    """A voucher could not be written (or made durable): the request is refused, not served."""


@dataclass(frozen=True)
class LogRecord:
    """An accepted voucher (``credit`` > 1: it opened a window with that anchor)."""

    channel_id: int
    cumulative: int
    price: int
    model_id: int
    signature: bytes
    at: float
    credit: int = 1
    anchor: bytes | None = None


class CreditRecord(NamedTuple):
    """One request served from the credit window of the voucher at `cumulative` (a tuple: built
    once per credit request)."""

    channel_id: int
    cumulative: int
    index: int
    token: bytes
    at: float


_PADDING = {size: bytes(RECORD_SIZE - size - _CRC.size) for size in (_BODY.size, _WINDOW.size, _USE.size)}


_USE_PADDING = _PADDING[_USE.size]


def _sealed(body: bytes) -> bytes:
    return body + _CRC.pack(zlib.crc32(body)) + _PADDING[len(body)]


def encode_use(r: CreditRecord) -> bytes:
    """A credit use's record (the hot path of a window's requests: one pack, one CRC)."""
    cid, cumulative, index, token, at = r
    body = _USE.pack(MAGIC_USE, cid.to_bytes(32, "big"), cumulative.to_bytes(32, "big"), index, token, at)
    return body + _CRC.pack(zlib.crc32(body)) + _USE_PADDING


def encode(r: LogRecord | CreditRecord) -> bytes:
    if isinstance(r, CreditRecord):
        return encode_use(r)
    window = r.credit != 1 or r.anchor is not None
    limit = WINDOW_SIGNATURE if window else MAX_SIGNATURE
    if len(r.signature) > limit:
        raise VoucherLogError(f"a signature of {len(r.signature)} bytes does not fit the log")
    fields = (
        r.channel_id.to_bytes(32, "big"),
        r.cumulative.to_bytes(32, "big"),
        r.price.to_bytes(32, "big"),
        r.model_id.to_bytes(32, "big"),
        len(r.signature),
        r.signature,
        r.at,
    )
    if not window:
        return _sealed(_BODY.pack(MAGIC, *fields))
    if r.anchor is None or len(r.anchor) != 32 or not 1 <= r.credit < 2**32:
        raise VoucherLogError(
            f"a credit window needs a 32-byte anchor and 1..2^32-1 requests, not {r.credit}"
        )
    return _sealed(_WINDOW.pack(MAGIC_WINDOW, *fields, r.credit, r.anchor))


def decode(data: bytes) -> LogRecord | CreditRecord | None:
    """The record in `data` (RECORD_SIZE bytes), or None where no complete record is."""
    layout = {MAGIC: _BODY, MAGIC_WINDOW: _WINDOW, MAGIC_USE: _USE}.get(data[:4])
    if len(data) < RECORD_SIZE or layout is None:
        return None
    body = data[: layout.size]
    if _CRC.unpack_from(data, layout.size)[0] != zlib.crc32(body):
        return None
    if layout is _USE:
        _, cid, cumulative, index, token, at = _USE.unpack(body)
        return CreditRecord(int.from_bytes(cid, "big"), int.from_bytes(cumulative, "big"), index, token, at)
    credit, anchor = 1, None
    if layout is _WINDOW:
        _, cid, cumulative, price, model, sig_len, sig, at, credit, anchor = _WINDOW.unpack(body)
    else:
        _, cid, cumulative, price, model, sig_len, sig, at = _BODY.unpack(body)
    if sig_len > len(sig):
        return None
    return LogRecord(
        int.from_bytes(cid, "big"),
        int.from_bytes(cumulative, "big"),
        int.from_bytes(price, "big"),
        int.from_bytes(model, "big"),
        sig[:sig_len],
        at,
        credit,
        anchor,
    )


def read_records(path: Path) -> Iterator[LogRecord | CreditRecord]:
    """Every complete record of the log at `path`, in order (none if it does not exist)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        while True:
            record = decode(f.read(RECORD_SIZE))
            if record is None:
                return
            yield record


def _create_durably(path: Path, truncate: bool) -> int:
    """Open (creating) `path` read-write; a new name is fsynced into its folder, so that a record
    fsynced into the file is found after a power loss."""
    existed = path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0), 0o600)
    if not existed:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return fd


class VoucherLog:
    """Appends records to the log at `path` (created if missing), durably per `durability`."""

    def __init__(
        self,
        path: str | Path,
        durability: str = "disk",
        window_s: float = 0.005,
        replay: Callable[[LogRecord | CreditRecord], None] | None = None,
    ):
        """Opens the log; every record an earlier run wrote goes to `replay` first, in order."""
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
        self.path = Path(path)
        self.durability = durability
        self.window_s = window_s
        count = 0
        for record in read_records(self.path):
            count += 1
            if replay is not None:
                replay(record)
        self.count = count  # records in the current file
        self._fd = _create_durably(self.path, truncate=False)
        self._offset = count * RECORD_SIZE  # a torn tail is overwritten
        self._allocated = os.fstat(self._fd).st_size
        self._map = self._mapped(self._allocated)
        self._write_lock = threading.Lock()  # offset, allocation, written count
        self._sync_lock = threading.Lock()  # one fdatasync at a time; waiters queue here
        self._written = 0
        self._synced = 0
        self._failed: str | None = None
        self._closed = False
        self._dirty = threading.Event()
        self._flusher: threading.Thread | None = None
        if durability == "process":
            self._flusher = threading.Thread(target=self._flush_loop, name="voucher-log-sync", daemon=True)
            self._flusher.start()

    def append(self, record: LogRecord, on_written: Callable[[LogRecord], None] | None = None) -> None:
        """Write `record`; returns once it is as durable as the log's `durability` promises.
        `on_written(record)` runs right after the write, in write order, before any later append
        (and before any rotate) -- the caller's in-memory view stays in step with the file."""
        seq = self._write(encode(record), record, on_written)
        if self.durability == "disk":
            self._sync_to(seq)
        else:
            self._dirty.set()

    def append_unsynced(
        self, record: CreditRecord, on_written: Callable[[CreditRecord], None] | None = None
    ) -> None:
        """Write `record` and return once it is in the kernel (a credit use: see the module doc);
        it is fsynced with the next record that waits for one (or the background sync)."""
        self._write(encode_use(record), record, on_written)

    def _write(
        self, data: bytes, record: LogRecord | CreditRecord, on_written: Callable[[Any], None] | None
    ) -> int:
        with self._write_lock:
            if self._closed or self._failed:
                raise VoucherLogError(f"the voucher log {self.path} is {self._failed or 'closed'}")
            try:
                if self._offset + RECORD_SIZE > self._allocated:
                    self._grow()
            except OSError as err:
                raise VoucherLogError(f"could not write the voucher to {self.path}: {err}") from err
            end = self._offset + RECORD_SIZE
            self._map[self._offset : end] = data  # type: ignore[index]
            self._offset = end
            self.count += 1
            self._written += 1
            if on_written is not None:
                on_written(record)
            return self._written

    def _mapped(self, size: int) -> mmap.mmap | None:
        return mmap.mmap(self._fd, size) if size else None  # MAP_SHARED, read-write

    def _grow(self) -> None:
        """Allocate the next GROW_RECORDS records and map the file up to there (write lock held)."""
        grown = self._offset + GROW_RECORDS * RECORD_SIZE
        os.posix_fallocate(self._fd, self._allocated, grown - self._allocated)
        mapped = self._mapped(grown)  # before the old one goes: a failure leaves the log as it was
        if self._map is not None:
            self._map.close()  # its dirty pages stay in the page cache, fsynced with the file
        self._map, self._allocated = mapped, grown

    def _sync_to(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # an fsync started after our write already covered it
            if self._failed:
                raise VoucherLogError(f"the voucher log {self.path} is {self._failed}")
            with self._write_lock:
                target = self._written
            try:
                os.fdatasync(self._fd)
            except OSError as err:
                self._failed = f"failed (fdatasync: {err}; restart to re-read it)"
                raise VoucherLogError(f"could not make the voucher durable in {self.path}: {err}") from err
            self._synced = target

    def sync(self) -> None:
        """fdatasync everything written so far."""
        with self._write_lock:
            seq = self._written
        if seq:
            self._sync_to(seq)

    def rotate(self, new_path: str | Path, commit: Callable[[], None]) -> None:
        """Continue in a new, empty file at `new_path` (compaction): appends wait meanwhile; this
        file is fsynced, then `commit()` runs -- the caller durably records a checkpoint of every
        record written so far, naming `new_path` as the file to replay after it -- then the log
        switches to `new_path` and deletes this file. If `commit` raises, nothing changed (the new
        file is created, and its name fsynced into the folder, before `commit` runs)."""
        new_path = Path(new_path)
        with self._sync_lock, self._write_lock:
            if self._closed or self._failed:
                raise VoucherLogError(f"the voucher log {self.path} is {self._failed or 'closed'}")
            try:
                os.fdatasync(self._fd)
            except OSError as err:
                self._failed = f"failed (fdatasync: {err}; restart to re-read it)"
                raise VoucherLogError(f"could not make the voucher log {self.path} durable: {err}") from err
            self._synced = self._written
            fd = _create_durably(new_path, truncate=True)  # a leftover of a crashed rotate is garbage
            try:
                commit()
            except BaseException:
                os.close(fd)
                new_path.unlink(missing_ok=True)
                raise
            old_fd, old_path, old_map = self._fd, self.path, self._map
            self._fd, self.path, self._offset, self._allocated, self.count = fd, new_path, 0, 0, 0
            self._map = None
            if old_map is not None:
                old_map.close()
            os.close(old_fd)
            old_path.unlink(missing_ok=True)

    def _flush_loop(self) -> None:
        while not self._closed:
            self._dirty.wait()
            if self._closed:
                return
            time.sleep(self.window_s)  # let the window's records gather
            self._dirty.clear()
            try:
                self.sync()
            except VoucherLogError:
                return  # every later append is refused (self._failed)

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        self._dirty.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        if not self._failed:
            with self._sync_lock:
                os.fdatasync(self._fd)
        if self._map is not None:
            self._map.close()
        os.close(self._fd)
