"""The provider's job agent: watches the escrow, accepts the jobs its policy allows, runs them
and submits the outputs' Merkle root as ``resultHash``; serves outputs with proofs.

One job, step by step (each journaled, see :mod:`oracle.provider.jobs_journal`):

1. ``JobPosted`` seen: fetch the manifest by ``specHash`` from the configured sources (checked:
   the bytes hash to ``specHash``, are canonical and pass the schema), then apply the policy
   (:func:`oracle.provider.jobs_policy.decide`), showing the model's royalty and the net pay.
2. Before any collateral is locked: fetch the model (its SHA-256 must be the job's model NFT id)
   and the inputs (the file's SHA-256 and the item root must be the manifest's), load the model
   (``onnx.checker``, ONNX Runtime) and check it fits the manifest. A bad file declines the job.
3. ``acceptJob`` (the signed transaction's hash journaled before sending).
4. Inference in chunks of ``batch_size`` items, each chunk's outputs stored as a blob and
   journaled, with progress; then the outputs file and its item tree.
5. ``submitResult(jobId, root)`` (journaled like the accept); then the outputs stay served
   (:mod:`oracle.provider.jobs_serve`): ``GET /jobs/<id>``, ``/jobs/<id>/outputs``,
   ``/jobs/<id>/open?items=1,2`` and ``GET /blobs/<hex>`` (outputs file, model, inputs).

A page or client hands the agent a job's files before posting it: ``PUT /blobs/<sha256 hex>``
(checked against the name, at most ``jobs.max_upload_bytes``; see :class:`~oracle.work.blob_server.BlobServer`),
so a manifest, model or inputs put here are found in the store without any ``manifest_sources``.

After a crash, :meth:`JobAgent.resume` finishes every unfinished record from the chain's truth
(a journaled transaction that the chain does not know is sent again; one it knows is not).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oracle.chain import ChainError
from oracle.energy import NodeEnergy
from oracle.journal import Journal
from oracle.logs import unexpected
from oracle.provider.jobs_compute import commit_outputs, metered, run_chunks
from oracle.provider.jobs_energy import (
    attested_figures,
    energy_info,
    energy_record,
    meter_args_for,
    node_energy,
)
from oracle.provider.jobs_inputs import JobInputs
from oracle.provider.jobs_journal import JobJournal, JobRecord
from oracle.provider.jobs_policy import JobPolicy, decide
from oracle.provider.jobs_rank import Holds
from oracle.provider.jobs_serve import JobRoutes
from oracle.work import job as work
from oracle.work.blob_server import BlobServer
from oracle.work.blobs import BlobRef, BlobStore, Fetcher
from oracle.work.content import cid_of_digest, hex32, parse_digest
from oracle.work.errors import BlobError, InputError, ManifestError, ModelError, WorkError
from oracle.work.escrow import Escrow, Status
from oracle.work.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest

_REPEATED = ("waiting", "busy")
StepHook = Callable[[str, int, dict[str, Any]], None]
"""Called at each step boundary ``(step, job id, details)``: progress output, and fault drills
(a hook that raises stops the agent there, as a kill would)."""


def print_progress(step: str, job_id: int, info: dict[str, Any]) -> None:
    """The default hook: one line per step on stderr."""
    details = " ".join(f"{k}={v}" for k, v in info.items())
    print(f"jobs: job {job_id}: {step} {details}".rstrip(), file=sys.stderr, flush=True)


class JobAgent:
    def __init__(
        self,
        escrow: Escrow,
        policy: JobPolicy,
        state_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_step: StepHook | None = print_progress,
        meter_args: dict[str, Any] | None = None,
    ):
        self.escrow = escrow
        self.policy = policy
        state = Path(state_dir)
        self.store = BlobStore(state / "blobs")
        self.fetcher = Fetcher(self.store, gateway=policy.ipfs_gateway)
        self.journal = Journal(state / "jobs.sqlite")
        self.records = JobJournal(self.journal, escrow.address)
        self.on_step = on_step
        self.meter_args = meter_args
        """EnergyMeter's arguments (tests pass an NVML stand-in); None: from the model's device."""
        self.routes = JobRoutes(self.records, self.store, self._manifest, self._blob_url)
        self.server = BlobServer(
            self.store,
            host,
            port,
            routes={"/jobs/": self.routes.serve},
            max_put_bytes=policy.max_upload_bytes,
        )
        self.inputs = JobInputs(self.fetcher, policy)
        self._attested: tuple[int, tuple[int, int] | None] = (0, None)
        self._trees = self.routes.trees
        self._said: dict[int, tuple[str, str]] = {}
        self._holds = Holds()
        """prefer_efficient jobs held back until their wait is over (jobs_rank.py)."""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.journal.close()

    def _blob_url(self, digest: bytes) -> str:
        return self.server.blob_url(digest)

    def _step(self, step: str, job_id: int, **info: Any) -> None:
        if step in _REPEATED:  # a job waiting for a file or a slot is shown once per reason, not each poll
            said = (step, repr(sorted(info.items())))
            if self._said.get(job_id) == said:
                return
            self._said[job_id] = said
        else:
            self._said.pop(job_id, None)
        if self.on_step is not None:
            self.on_step(step, job_id, info)

    def poll_once(self) -> list[JobRecord]:
        """Finish unfinished records, then look at every job posted since the last poll; then
        the copies of the inputs fetched meanwhile go to the store (:meth:`Fetcher.keep_later`)."""
        try:
            return self._poll()
        finally:
            self.fetcher.keep_later()

    def _poll(self) -> list[JobRecord]:
        done = self.resume()
        start = self.records.cursor()
        head = self.escrow.chain.w3.eth.block_number
        if start > head + 1:  # the chain went back (a reorg, a devnet reset): scan it again
            start = self.escrow.chain.deployment.deploy_block
        if start > head:
            return done
        for log in self.escrow.chain.events("JobEscrow", "JobPosted", from_block=start, to_block=head):
            job_id = int(log["args"]["jobId"])
            if self.records.get(job_id) is None:
                done.append(self.handle(job_id, bytes(log["args"]["specHash"])))
        self.records.set_cursor(head + 1)
        return done

    def run_forever(self) -> None:
        """Poll until interrupted; an error of one poll is shown and the next poll retries."""
        while True:
            try:
                self.poll_once()
            except (WorkError, ChainError) as exc:
                self._step("error", 0, error=str(exc)[:300])
            except Exception as exc:  # noqa: BLE001 - one poll's surprise must not end the agent; the journal resumes
                self._step("error", 0, error=unexpected(exc))
            time.sleep(self.policy.poll_s)

    def resume(self) -> list[JobRecord]:
        out = []
        for job_id in self.records.ids():
            rec = self.records.get(job_id)
            if rec is None or rec.final:
                continue
            if rec.step == "submitted":
                if self.escrow.job(job_id).status == Status.CLOSED:
                    out.append(self.records.put(rec, step="done"))
            elif rec.step != "seen" or self._active() < self.policy.max_active_jobs:
                out.append(self.handle(rec.job_id, parse_digest(rec.spec_hash or "", "spec")))
        return out

    def _active(self) -> int:
        """Jobs accepted (or being accepted) and not closed yet."""
        steps = ("accepting", "accepted", "computed", "submitting", "submitted")
        return sum(
            1 for i in self.records.ids() if (r := self.records.get(i)) is not None and r.step in steps
        )

    # -- one job ----------------------------------------------------------------------------

    def handle(self, job_id: int, spec_hash: bytes) -> JobRecord:
        """Take job ``job_id`` as far as it goes now (idempotent; see the module doc)."""
        rec = self.records.get(job_id) or self.records.put(JobRecord(job_id), spec_hash=hex32(spec_hash))
        if rec.final:
            return rec
        try:
            try:
                manifest = self._manifest(spec_hash)
            except BlobError as exc:  # no source has it (yet): the record waits, other jobs go on
                self._step("waiting", job_id, reason=str(exc)[:200])
                return rec
            if rec.step == "seen":
                rec = self._consider(rec, manifest)
                if rec.final or rec.step == "seen":
                    return rec
            if rec.step == "accepting":
                rec = self._accept(rec)
                if rec.final:
                    return rec
            if rec.step in ("accepted", "computed", "submitting") and self._missed(rec.job_id):
                return self.records.put(
                    rec, step="done", reason="the deadline passed before the result was submitted"
                )
            if rec.step == "accepted":
                rec = self._compute(rec, manifest)
            if rec.step in ("computed", "submitting"):
                rec = self._submit(rec)
        except (ManifestError, ModelError, InputError) as exc:
            if rec.step == "seen":  # nothing is locked yet: refuse the job
                return self.records.put(rec, step="declined", reason=str(exc))
            raise
        return rec

    def _missed(self, job_id: int) -> bool:
        """Still accepted (not submitted) and past its deadline: submitting would revert."""
        job = self.escrow.job(job_id)
        return job.status == Status.ACCEPTED and self.escrow.chain.block_timestamp() > job.deadline

    def _manifest(self, spec_hash: bytes) -> Manifest:
        urls = [f"{s.rstrip('/')}/blobs/{spec_hash.hex()}" for s in self.policy.manifest_sources]
        if self.policy.ipfs_gateway:
            urls.append(f"ipfs://{cid_of_digest(spec_hash)}")
        data = self.fetcher.fetch(BlobRef(spec_hash, 0, tuple(urls)), max_size=MAX_MANIFEST_BYTES)
        return parse_manifest(data)

    def _consider(self, rec: JobRecord, manifest: Manifest) -> JobRecord:
        job = self.escrow.job(rec.job_id)
        if job.status != Status.OPEN or int(job.provider, 16) != 0:
            return self.records.put(
                rec, step="declined", reason=f"job is {job.status.name.lower()}, not open"
            )
        if self._active() >= self.policy.max_active_jobs:  # full: look again when a slot frees
            self._step("busy", rec.job_id, active=self._active())
            return rec
        royalty = self.escrow.job_royalty(job)
        try:
            model, inputs, _ = self.inputs.fetch_and_check(manifest)
        except BlobError as exc:  # a source may come back: look again on the next poll
            self._step("waiting", rec.job_id, reason=str(exc)[:200])
            return rec
        decision = decide(
            self.policy,
            job,
            manifest,
            fee_bps=self.escrow.fee_bps(),
            royalty=royalty,
            score=self._score(),
            flops_per_s=self.inputs.throughput(model, inputs, manifest),
            now=self.escrow.chain.block_timestamp(),
            free_stake=self.escrow.free_stake(self.escrow.me),
            energy=self._node_energy(manifest.model_id),
        )
        if rec.job_id not in self._holds:  # once per job, not on every poll while it is held
            self._step(
                "offer",
                rec.job_id,
                items=manifest.inputs.count,
                budget=job.budget,
                royalty=f"{royalty.amount}({royalty.bps}bps)->{royalty.receiver}",
                fee=decision.fee,
                net_per_item=decision.net_per_item,
                est_s=f"{decision.seconds_needed:.2f}",
                **({"energy": decision.energy} if decision.energy else {}),
            )
        if not decision.accept:  # shown with every failing rule (energy_ok's reason among them)
            self._step("declined", rec.job_id, reason=(why := "; ".join(decision.reasons)))
            return self.records.put(rec, step="declined", reason=why)
        if manifest.energy is not None and manifest.energy.prefer_efficient and self._held(rec.job_id):
            return rec
        return self.records.put(rec, step="accepting")

    def _held(self, job_id: int) -> bool:
        """A prefer_efficient job waits this node's rank x the step first (jobs_rank.py): True
        while it still waits (the next poll looks again; a job taken meanwhile is declined)."""
        p = self.policy
        return self._holds.held(
            job_id,
            self.escrow.chain,
            p.node_id,
            p.prefer_efficient_step_s,
            p.prefer_efficient_max_wait_s,
            lambda wait: self._step(
                "efficiency-wait", job_id, rank=f"{wait.rank}/{wait.of}", wait_s=wait.seconds, why=wait.reason
            ),
        )

    def _node_energy(self, model_id: int) -> NodeEnergy:
        """This node's perf/W (its latest attestation's fp32 and powerW, else the config's
        ``gflops_per_watt``) and its last measured mJ per item on this model."""
        self._attested = attested_figures(self.escrow.chain, self.policy.node_id, self._attested)
        last = self.records.model_energy(model_id)
        return node_energy(self._attested[1], self.policy.gflops_per_watt, last)

    def _score(self) -> int:
        if "AttestationRegistry" in self.escrow.chain.deployment.contracts:
            return int(self.escrow.chain.call("AttestationRegistry", "recordOf", self.policy.node_id)[3])
        return self.policy.score

    def _accept(self, rec: JobRecord) -> JobRecord:
        job = self.escrow.job(rec.job_id)
        me = self.escrow.me
        if rec.accept_tx and job.provider.lower() != me.lower() and job.status == Status.OPEN:
            self.escrow.chain.receipt(rec.accept_tx)  # waits while pending; None when never sent
            job = self.escrow.job(rec.job_id)
        if job.provider.lower() == me.lower() and job.status in (Status.ACCEPTED, Status.SUBMITTED):
            return self.records.put(rec, step="accepted")
        if job.status != Status.OPEN or int(job.provider, 16) != 0:
            return self.records.put(
                rec, step="declined", reason=f"taken or closed before we accepted ({job.status.name})"
            )

        def journal_tx(tx_hash: str) -> None:
            self.records.put(rec, accept_tx=tx_hash)
            self._step("accept-signed", rec.job_id, tx=tx_hash)

        tx = self.escrow.accept(rec.job_id, self.policy.node_id, on_signed=journal_tx)
        self._step("accept-mined", rec.job_id, gas=tx.gas_used)
        return self.records.put(rec, step="accepted")

    def _compute(self, rec: JobRecord, manifest: Manifest) -> JobRecord:
        model, inputs, check_tree = self.inputs.fetch_and_check(manifest, defer_tree=True)
        t0 = time.perf_counter()

        def journal_chunk(chunks: list[str], done: int) -> None:
            nonlocal rec
            rec = self.records.put(rec, chunks=chunks)
            count = manifest.inputs.count
            elapsed = f"{time.perf_counter() - t0:.2f}"
            self._step(
                "progress", rec.job_id, items=f"{done}/{count}", pct=f"{100 * done // count}%", s=elapsed
            )

        try:
            run, reading = metered(
                self.meter_args if self.meter_args is not None else meter_args_for(model),
                lambda: run_chunks(
                    manifest,
                    model,
                    work.input_array(manifest, inputs),
                    self.store,
                    self.policy.batch_size,
                    rec.chunks,
                    journal_chunk,
                    verify=check_tree,
                ),
            )
        except InputError as exc:  # the inputs are not the manifest's: never submit a result for them
            self._step("failed", rec.job_id, reason=str(exc))
            return self.records.put(rec, step="done", reason=str(exc))
        digest, tree = commit_outputs(manifest, self.store, run)
        self._trees[rec.job_id] = (manifest, tree)
        energy = energy_record(reading)
        if energy is not None:
            self.records.set_model_energy(manifest.model_id, energy)
        self._step("computed", rec.job_id, root=hex32(tree.root), **energy_info(energy))
        return self.records.put(
            rec, step="computed", outputs=hex32(digest), root=hex32(tree.root), energy=energy or rec.energy
        )

    def _submit(self, rec: JobRecord) -> JobRecord:
        assert rec.root is not None
        root = parse_digest(rec.root)
        job = self.escrow.job(rec.job_id)
        if rec.submit_tx and job.status == Status.ACCEPTED:
            self.escrow.chain.receipt(rec.submit_tx)
            job = self.escrow.job(rec.job_id)
        if job.status != Status.ACCEPTED:  # submitted (or later) already: never a second time
            posted = self.escrow.result_hash(rec.job_id)
            step = "submitted" if posted == root else "done"
            return self.records.put(
                rec, step=step, reason=None if posted == root else f"job is {job.status.name}"
            )
        rec = self.records.put(rec, step="submitting")

        def journal_tx(tx_hash: str) -> None:
            self.records.put(rec, submit_tx=tx_hash)
            self._step("submit-signed", rec.job_id, tx=tx_hash)

        tx = self.escrow.submit(rec.job_id, root, on_signed=journal_tx)
        self._step("submitted", rec.job_id, gas=tx.gas_used, result=rec.root)
        return self.records.put(rec, step="submitted")
