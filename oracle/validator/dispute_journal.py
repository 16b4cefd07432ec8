"""A validator's crash-safe record of each dispute it handles, in its SQLite journal
(:class:`oracle.journal.Journal`: WAL, ``synchronous=FULL``, every write fsynced before it returns),
as JSON under the meta key ``dispute/<escrow>/<job id>``.

Steps move forward only::

    seen -> signed -> submitting -> settled
      \\-> refused

``seen``: the ``JobDisputed`` event is recorded (what it names: result hash, items, evidence hash,
``resolveBy``); a validator that cannot judge yet stays here, with the reason. ``signed``: the
judgement and the signed verdict, written before the signature is served to any peer; from then
on the verdict and its signature never change, so a restarted validator serves and submits the
same signature and never signs a second, different one. ``submitting``: the hash of the signed
``settleDispute`` transaction, written before it is sent, so a restart waits for that transaction
instead of sending another. ``settled``: the job is closed on chain (by this validator, a peer,
governance or the timeout; the reason says which). ``refused``: the dispute can never be settled
by a verdict (it names a result the provider never submitted); governance decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oracle.errors import EXIT_INTERNAL
from oracle.journal import Journal, StepRecords
from oracle.work.errors import WorkError

STEPS = ("seen", "refused", "signed", "submitting", "settled")
FINAL = frozenset({"refused", "settled"})


class DisputeJournalError(WorkError):
    """A dispute record was asked to move backwards, or to change what it signed."""

    exit_code = EXIT_INTERNAL


@dataclass
class DisputeRecord:
    job_id: int
    result_hash: str
    evidence_hash: str
    items: list[int]
    expiry: int
    """The verdict's expiry: the dispute's ``resolveBy`` (the same for every validator)."""
    disputed_at: int = 0
    """Block time of the ``JobDisputed`` event."""
    step: str = "seen"
    verdict: dict[str, Any] | None = None
    signature: str | None = None
    judgement: dict[str, Any] | None = None
    tx_hash: str | None = None
    reason: str | None = None
    attempts: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.step in FINAL


class DisputeJournal(StepRecords[DisputeRecord]):
    """Dispute records of one escrow in a :class:`Journal`: once signed, the verdict and its
    signature never change; each record keeps the steps it went through."""

    steps = STEPS
    final = FINAL
    error = DisputeJournalError

    def __init__(self, journal: Journal, escrow: str):
        super().__init__(journal, f"dispute/{escrow.lower()}/", DisputeRecord)

    def what(self, job_id: int) -> str:
        return f"dispute of job {job_id}"

    def check(self, old: DisputeRecord, record: DisputeRecord, changes: dict[str, Any]) -> None:
        for key in ("verdict", "signature"):
            value = changes.get(key, getattr(record, key))
            if getattr(old, key) is not None and value != getattr(old, key):
                raise DisputeJournalError(
                    f"dispute of job {record.job_id} was signed with another {key}; refusing to sign twice"
                )

    def written(self, old: DisputeRecord | None, record: DisputeRecord, step: str) -> None:
        if old is None:
            record.history = [step]
        elif step != old.step:
            record.history = [*old.history, step]

    def open(self) -> list[DisputeRecord]:
        return [r for i in self.ids() if (r := self.get(i)) is not None and not r.final]

    def cursor(self) -> int | None:
        """The next block to scan for ``JobDisputed`` events (None: never scanned)."""
        raw = self.journal.meta(self.prefix + "cursor")
        return None if raw is None else int(raw)

    def set_cursor(self, block: int) -> None:
        self.journal.set_meta(self.prefix + "cursor", str(block))
