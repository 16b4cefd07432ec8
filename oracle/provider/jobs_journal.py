"""The job agent's crash-safe record of each job, in the oracle's SQLite journal
(:class:`oracle.journal.Journal`: WAL, ``synchronous=FULL``, every write fsynced before it returns).

One record per (escrow, job id), as JSON under the journal's ``meta`` key ``job/<escrow>/<id>``.
Steps move forward only::

    seen -> accepting -> accepted -> computed -> submitting -> submitted -> done
      \\-> declined          (computing keeps a list of finished chunks while in "accepted")

``accepting``/``submitting`` hold the hash of the signed transaction, written before it is sent;
after a restart the agent asks the chain (the job's provider and status, the receipt) whether it
went through, and sends again only when it did not, so nothing is accepted or submitted twice.
Per model, the last measured energy per item (``energy/<model id>``) is kept for the next
acceptance's energy terms. Each finished chunk of outputs is a blob in the agent's store, its digest journaled, so a restart
resumes after the last finished chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from oracle.errors import EXIT_INTERNAL
from oracle.journal import Journal, StepRecords
from oracle.work.errors import WorkError

STEPS = ("seen", "declined", "accepting", "accepted", "computed", "submitting", "submitted", "done")
_FINAL = {"declined", "done"}


class JobJournalError(WorkError):
    """A job record was asked to move backwards or to an unknown step."""

    exit_code = EXIT_INTERNAL


@dataclass
class JobRecord:
    job_id: int
    step: str = "seen"
    spec_hash: str | None = None
    accept_tx: str | None = None
    submit_tx: str | None = None
    chunks: list[str] = field(default_factory=list)
    outputs: str | None = None
    root: str | None = None
    reason: str | None = None
    energy: dict[str, Any] | None = None
    """The compute's energy reading (:func:`oracle.provider.jobs_energy.energy_record`): mJ per
    item, source, and whether it is an estimate (a CPU node's)."""

    @property
    def final(self) -> bool:
        return self.step in _FINAL


class JobJournal(StepRecords[JobRecord]):
    """Job records of one escrow in a :class:`Journal`."""

    steps = STEPS
    final = frozenset(_FINAL)
    error = JobJournalError

    def __init__(self, journal: Journal, escrow: str):
        super().__init__(journal, f"job/{escrow.lower()}/", JobRecord)

    def cursor(self) -> int:
        """The next block to scan for JobPosted events."""
        return int(self.journal.meta(self.prefix + "cursor") or 0)

    def set_cursor(self, block: int) -> None:
        self.journal.set_meta(self.prefix + "cursor", str(block))

    def model_energy(self, model_id: int) -> dict[str, Any] | None:
        """The last energy reading of a job on this model (as :attr:`JobRecord.energy`)."""
        raw = self.journal.meta(f"{self.prefix}energy/{model_id:#066x}")
        return json.loads(raw) if raw else None

    def set_model_energy(self, model_id: int, energy: dict[str, Any]) -> None:
        self.journal.set_meta(f"{self.prefix}energy/{model_id:#066x}", json.dumps(energy, sort_keys=True))
