"""Crash-safe SQLite journal of a validator's work per (epoch, node, kind).

States move forward only: ``challenged -> verdict -> signed -> submitted -> confirmed`` (a node
whose challenge failed goes ``verdict -> signed`` with kind ``fault``). The database runs in WAL
mode with ``synchronous=FULL``, so every committed transition is fsynced before the call returns:
a validator killed at any moment restarts with everything it signed (it never signs a second,
different message for the same epoch and node) and with the hash of everything it sent (it checks
the chain before posting again, so nothing is posted twice).

:class:`StepRecords` keeps other forward-only records in the same database (as JSON in its meta
table): the job agent's jobs (:mod:`oracle.provider.jobs_journal`) and the validator's disputes
(:mod:`oracle.validator.dispute_journal`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from oracle.errors import OracleError


class StepRecord(Protocol):
    """What :class:`StepRecords` needs of a record (a dataclass): its job id and its step."""

    job_id: int
    step: str


R = TypeVar("R", bound=StepRecord)
STATES = ("challenged", "verdict", "signed", "submitted", "confirmed")
KINDS = ("attest", "fault")


class JournalError(OracleError):
    """The journal refused a transition (the message names the entry and the states)."""


@dataclass(frozen=True)
class Entry:
    epoch: int
    node: str  # 0x-hex nodeId
    kind: str
    state: str
    payload: dict[str, Any] | None
    signature: str | None
    tx_hash: str | None
    note: str | None
    updated: float

    @property
    def rank(self) -> int:
        return STATES.index(self.state)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS work (
    epoch     INTEGER NOT NULL,
    node      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    payload   TEXT,
    signature TEXT,
    tx_hash   TEXT,
    note      TEXT,
    updated   REAL    NOT NULL,
    PRIMARY KEY (epoch, node, kind)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Journal:
    """One validator's journal (one SQLite file, safe to share between its threads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads ----------------------------------------------------------------------------

    def _row(self, row: tuple) -> Entry:
        epoch, node, kind, state, payload, sig, tx, note, updated = row
        return Entry(
            epoch, node, kind, state, json.loads(payload) if payload else None, sig, tx, note, updated
        )

    def get(self, epoch: int, node: str, kind: str = "attest") -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT epoch,node,kind,state,payload,signature,tx_hash,note,updated FROM work "
                "WHERE epoch=? AND node=? AND kind=?",
                (epoch, node.lower(), kind),
            ).fetchone()
        return self._row(row) if row else None

    def entries(self, epoch: int, kind: str | None = None, min_state: str | None = None) -> list[Entry]:
        q = "SELECT epoch,node,kind,state,payload,signature,tx_hash,note,updated FROM work WHERE epoch=?"
        params: list[Any] = [epoch]
        if kind:
            q += " AND kind=?"
            params.append(kind)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY node", params).fetchall()
        out = [self._row(r) for r in rows]
        if min_state:
            out = [e for e in out if e.rank >= STATES.index(min_state)]
        return out

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)", (key, value))

    # -- writes ---------------------------------------------------------------------------

    def reopen(self, epoch: int, node: str, kind: str, note: str) -> Entry:
        """The one backward move: a ``submitted``/``confirmed`` entry whose transaction the chain no
        longer holds (a reorg, or a node restarted from older state) goes back to ``signed``,
        keeping its payload and signature (it is re-posted as signed, never re-signed) and
        dropping the lost transaction hash."""
        node = node.lower()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "SELECT state FROM work WHERE epoch=? AND node=? AND kind=?", (epoch, node, kind)
                ).fetchone()
                if cur is None or cur[0] not in ("submitted", "confirmed"):
                    raise JournalError(
                        f"epoch {epoch} node {node} ({kind}) is {cur[0] if cur else 'absent'}; "
                        "only submitted or confirmed entries can be reopened"
                    )
                self._db.execute(
                    "UPDATE work SET state='signed', tx_hash=NULL, note=?, updated=? "
                    "WHERE epoch=? AND node=? AND kind=?",
                    (note, time.time(), epoch, node, kind),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        entry = self.get(epoch, node, kind)
        assert entry is not None
        return entry

    def advance(
        self,
        epoch: int,
        node: str,
        state: str,
        *,
        kind: str = "attest",
        payload: dict[str, Any] | None = None,
        signature: str | None = None,
        tx_hash: str | None = None,
        note: str | None = None,
    ) -> Entry:
        """Move (epoch, node, kind) to ``state`` (forward only; re-entering the same state may add
        a tx hash or note). Once signed, the payload and signature can never change."""
        if state not in STATES:
            raise JournalError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        if kind not in KINDS:
            raise JournalError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        node = node.lower()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT epoch,node,kind,state,payload,signature,tx_hash,note,updated FROM work "
                    "WHERE epoch=? AND node=? AND kind=?",
                    (epoch, node, kind),
                ).fetchone()
                cur = self._row(row) if row else None
                if cur is not None:
                    if STATES.index(state) < cur.rank:
                        raise JournalError(
                            f"epoch {epoch} node {node} ({kind}) is already {cur.state}; cannot go back to {state}"
                        )
                    if cur.signature is not None:
                        if payload is not None and payload != cur.payload:
                            raise JournalError(
                                f"epoch {epoch} node {node} ({kind}) was signed with another payload; "
                                "refusing to sign twice"
                            )
                        if signature is not None and signature != cur.signature:
                            raise JournalError(f"epoch {epoch} node {node} ({kind}) already has a signature")
                    payload = payload if payload is not None else cur.payload
                    signature = signature if signature is not None else cur.signature
                    tx_hash = tx_hash if tx_hash is not None else cur.tx_hash
                    note = note if note is not None else cur.note
                now = time.time()
                self._db.execute(
                    "INSERT OR REPLACE INTO work(epoch,node,kind,state,payload,signature,tx_hash,note,updated) "
                    "VALUES(?,?,?,?,?,?,?,?,?)",
                    (
                        epoch,
                        node,
                        kind,
                        state,
                        json.dumps(payload, sort_keys=True) if payload is not None else None,
                        signature,
                        tx_hash,
                        note,
                        now,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Entry(epoch, node, kind, state, payload, signature, tx_hash, note, now)


class StepRecords(Generic[R]):
    """Records of one kind keyed by job id, kept as JSON in a :class:`Journal`'s meta table under
    ``prefix``: each has a ``job_id`` and a ``step`` that moves forward only through ``steps``, and
    a step in ``final`` is never left. :meth:`check` (refuse a change) and :meth:`written` (derive
    fields) are the hooks a kind adds its own rules with; ``error`` is the kind's error class and
    ``what(job_id)`` names a record in its messages."""

    steps: tuple[str, ...] = ()
    final: frozenset[str] = frozenset()
    error: type[OracleError] = JournalError

    def __init__(self, journal: Journal, prefix: str, record_type: type[R]):
        self.journal, self.prefix, self.record_type = journal, prefix, record_type

    def what(self, job_id: int) -> str:
        return f"job {job_id}"

    def get(self, job_id: int) -> R | None:
        raw = self.journal.meta(self.prefix + str(job_id))
        return self.record_type(**json.loads(raw)) if raw else None

    def check(self, old: R, record: R, changes: dict[str, Any]) -> None:
        """Refuse ``changes`` to ``record`` (whose journaled state is ``old``) by raising ``error``."""

    def written(self, old: R | None, record: R, step: str) -> None:
        """Called with the changes applied, just before the record is written."""

    def put(self, record: R, **changes: Any) -> R:
        """Write ``record`` with ``changes`` applied (forward steps only) and return it."""
        step = changes.get("step", record.step)
        if step not in self.steps:
            raise self.error(
                f"unknown step {step!r} for {self.what(record.job_id)}; steps are {', '.join(self.steps)}"
            )
        old = self.get(record.job_id)
        if old is not None:
            was = old.step
            if self.steps.index(step) < self.steps.index(was) or (was in self.final and step != was):
                raise self.error(f"{self.what(record.job_id)} is {was}; it cannot move to {step}")
            self.check(old, record, changes)
        for key, value in changes.items():
            setattr(record, key, value)
        self.written(old, record, step)
        if old is None:
            self.journal.set_meta(self.prefix + "ids", json.dumps([*self.ids(), record.job_id]))
        self.journal.set_meta(self.prefix + str(record.job_id), json.dumps(asdict(record), sort_keys=True))
        return record

    def ids(self) -> list[int]:
        """Every job id with a record, in the order first seen."""
        return list(json.loads(self.journal.meta(self.prefix + "ids") or "[]"))
