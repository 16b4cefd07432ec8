"""What the job agent serves over HTTP (besides ``/blobs/<hex>``), answered from its journal:

- ``GET /jobs/<id>`` -> ``{job_id, root, step, outputs: <blob reference>, energy}`` once the outputs
  exist (``energy``: the compute's mJ per item, its source, and ``estimate: true`` on a CPU node);
- ``GET /jobs/<id>/outputs`` -> the outputs file itself (``application/octet-stream``), once the
  result is submitted on chain (the page checks it against ``resultHash``); before that ``409``
  with the job's step and what to wait for, ``404`` for a job this agent never took;
- ``GET /jobs/<id>/open?items=i,j`` -> ``{root, openings}`` (items with Merkle proofs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from oracle.provider.jobs_journal import JobJournal, JobRecord
from oracle.work import job as work
from oracle.work.blob_server import json_reply
from oracle.work.blobs import BlobRef, BlobStore
from oracle.work.content import parse_digest
from oracle.work.errors import WorkError
from oracle.work.items import ItemTree
from oracle.work.manifest import Manifest

MAX_OPEN_ITEMS = 1024
USAGE = "use /jobs/<id>, /jobs/<id>/outputs or /jobs/<id>/open?items=i,j,..."
_SERVED_STEPS = ("submitted", "done")
Reply = tuple[int, str, bytes]


@dataclass
class JobRoutes:
    """The ``/jobs/`` routes of one agent: its records, its store, a way to load a job's manifest
    (by spec hash) and the URL its blobs are served at."""

    records: JobJournal
    store: BlobStore
    manifest_of: Callable[[bytes], Manifest]
    blob_url: Callable[[bytes], str]
    trees: dict[int, tuple[Manifest, ItemTree]] = field(default_factory=dict)

    def tree(self, job_id: int) -> tuple[JobRecord, Manifest, ItemTree]:
        rec = self.records.get(job_id)
        if rec is None or rec.outputs is None or rec.spec_hash is None:
            raise LookupError(f"job {job_id} has no outputs here")
        if job_id not in self.trees:
            manifest = self.manifest_of(parse_digest(rec.spec_hash))
            outputs = self.store.get(parse_digest(rec.outputs))
            self.trees[job_id] = (manifest, work.output_tree(manifest, outputs))
        manifest, tree = self.trees[job_id]
        return rec, manifest, tree

    def serve(self, path: str, query: dict[str, list[str]]) -> Reply:
        parts = unquote(path).strip("/").split("/")
        if len(parts) not in (2, 3) or not parts[1].isdigit():
            return json_reply(404, {"error": USAGE})
        job_id = int(parts[1])
        if len(parts) == 3 and parts[2] == "outputs":
            return self.outputs_file(job_id)
        if len(parts) == 3 and parts[2] != "open":
            return json_reply(404, {"error": USAGE})
        try:
            rec, manifest, tree = self.tree(job_id)
        except (LookupError, WorkError) as exc:
            return json_reply(404, {"error": str(exc)})
        assert rec.outputs is not None
        if len(parts) == 2:
            ref = BlobRef(
                parse_digest(rec.outputs),
                manifest.inputs.count * manifest.record_size,
                (self.blob_url(parse_digest(rec.outputs)),),
            )
            return json_reply(
                200,
                {
                    "job_id": job_id,
                    "root": rec.root,
                    "step": rec.step,
                    "outputs": ref.to_json(),
                    "energy": rec.energy,
                },
            )
        try:
            items = [int(i) for i in ",".join(query.get("items", [])).split(",") if i != ""]
        except ValueError:
            return json_reply(400, {"error": "items must be comma-separated integers"})
        if not items or len(items) > MAX_OPEN_ITEMS or any(not 0 <= i < tree.count for i in items):
            return json_reply(400, {"error": f"items: 1 to {MAX_OPEN_ITEMS} indices in [0, {tree.count})"})
        return json_reply(200, {"root": rec.root, "openings": [tree.open(i).to_json() for i in items]})

    def outputs_file(self, job_id: int) -> Reply:
        """The outputs file of a submitted job (module doc)."""
        rec = self.records.get(job_id)
        if rec is None:
            return json_reply(
                404,
                {"error": f"this agent has no job {job_id}: ask the node that accepted it", "job_id": job_id},
            )
        never_submitted = rec.step == "done" and rec.reason is not None  # e.g. the deadline passed first
        if rec.step not in _SERVED_STEPS or rec.outputs is None or never_submitted:
            why = {
                "seen": "it is being considered (files fetched, policy applied)",
                "declined": f"this agent declined it ({rec.reason})",
                "accepting": "it is being accepted",
                "accepted": "its inference is running",
                "computed": "its outputs are computed, the result is being submitted",
                "submitting": "its result is being submitted",
                "done": f"it was closed without this agent's result ({rec.reason})",
            }.get(rec.step, rec.step)
            wait = "" if rec.step in ("declined", "done") else ": retry once the job is Submitted on chain"
            return json_reply(
                409, {"error": f"job {job_id} has no outputs yet, {why}{wait}", "step": rec.step}
            )
        try:
            return 200, "application/octet-stream", self.store.get(parse_digest(rec.outputs))
        except WorkError as exc:
            return json_reply(404, {"error": str(exc), "step": rec.step})
