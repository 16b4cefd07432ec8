"""The requester's side of a batch job: post it, follow it, fetch and check the outputs, approve
or dispute with the evidence.

The client keeps its files in a :class:`~oracle.work.blobs.BlobStore` and serves them from a
:class:`~oracle.work.blob_server.BlobServer` (the manifest at ``/blobs/<specHash>``, the inputs and the
model), so the provider fetches them from here (or from an IPFS gateway), checking each.

Checking (:meth:`JobClient.check`): ``s`` random items are opened at the provider with Merkle
proofs against the on-chain ``resultHash`` and re-run here as ONE batch (one ONNX Runtime call:
for a small model 16 single calls cost more than a whole 360-item batch); they are compared under
the manifest's equality rules. A provider wrong on a fraction ``f`` of the items passes with
probability at most ``(1 - f)^s`` (:mod:`oracle.client.sampling`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oracle.client.sampling import escape_bound
from oracle.energy import EnergyPolicy
from oracle.services import service_url
from oracle.work import job as work
from oracle.work.blob_server import BlobServer
from oracle.work.blobs import BlobRef, BlobStore, Fetcher
from oracle.work.content import hex32, sha256
from oracle.work.dispute import evidence_hash
from oracle.work.errors import BlobError, ManifestError, ProofError, WorkError
from oracle.work.escrow import Escrow, Job, Status
from oracle.work.items import Opening, check_openings
from oracle.work.manifest import Manifest, canonical_json, parse_manifest
from oracle.work.runtime import OnnxModel

DEFAULT_SAMPLES = 16


class JobClientError(WorkError):
    """A job cannot be posted, followed or checked as asked (the message says what to do)."""


@dataclass(frozen=True)
class Posted:
    job_id: int
    manifest: Manifest
    spec_hash: bytes
    gas_used: int


@dataclass
class CheckReport:
    job_id: int
    indices: list[int]
    bad: list[int]
    seconds: float
    rerun_seconds: float
    tolerance_used: float
    escape_bound_at_1pct: float
    openings: list[dict[str, Any]] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "ok": self.ok,
            "samples": len(self.indices),
            "indices": self.indices,
            "bad": self.bad,
            "seconds": round(self.seconds, 4),
            "rerun_seconds": round(self.rerun_seconds, 4),
            "tolerance_used": self.tolerance_used,
            "escape_bound_at_1pct": self.escape_bound_at_1pct,
        }


def _refused(url: str, exc: urllib.error.HTTPError) -> BlobError:
    """An endpoint's refusal as one error carrying its JSON ``error`` text, if it sent one."""
    try:
        detail = json.loads(exc.read()).get("error", "")
    except (ValueError, AttributeError):
        detail = ""
    return BlobError(f"{url}: HTTP {exc.code} {detail}".rstrip())


def _get_json(url: str, timeout: float = 30.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise _refused(url, exc) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BlobError(f"{url}: unreachable or not JSON ({exc})") from None


def put_blob(endpoint: str, data: bytes, timeout: float = 60.0) -> str:
    """``PUT <endpoint>/blobs/<sha256 hex>`` with ``data``; the URL it is served at. A refusal is a
    :class:`BlobError` carrying the endpoint's reason."""
    url = f"{endpoint.rstrip('/')}/blobs/{sha256(data).hex()}"
    req = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return str(json.loads(resp.read()).get("url") or url)
    except urllib.error.HTTPError as exc:
        raise _refused(url, exc) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BlobError(f"{url}: unreachable ({exc}); is the provider's job agent running?") from None


class JobClient:
    def __init__(
        self,
        escrow: Escrow,
        state_dir: str | Path,
        *,
        ipfs_gateway: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        device: str = "cpu",
    ):
        self.escrow = escrow
        self.store = BlobStore(Path(state_dir) / "blobs")
        self.fetcher = Fetcher(self.store, gateway=ipfs_gateway)
        self.server = BlobServer(self.store, host, port)
        self.device = device
        self._models: dict[bytes, OnnxModel] = {}

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    # -- posting ------------------------------------------------------------------------------

    def prepare(
        self, model_bytes: bytes, x: np.ndarray, deadline: int, energy: EnergyPolicy | None = None
    ) -> Manifest:
        """Check the model and inputs, store them and build the manifest (served from here);
        ``energy``: the manifest's optional energy terms."""
        model = self._model(model_bytes)
        digest, data = model.digest, work.input_bytes(np.asarray(x))
        self.store.put(model_bytes)
        in_digest = self.store.put(data)
        manifest = work.build_manifest(
            model,
            x,
            deadline,
            model_urls=[self.server.blob_url(digest), f"ipfs://{BlobRef(digest, 0).cid}"],
            input_urls=[self.server.blob_url(in_digest), f"ipfs://{BlobRef(in_digest, 0).cid}"],
            energy=energy,
        )
        self.store.put(manifest.to_bytes())
        return manifest

    def push(self, endpoint: str, manifest: Manifest) -> list[str]:
        """Hand the job's files (model, inputs, manifest) to a blob endpoint that takes uploads
        (the provider's job agent: ``PUT <endpoint>/blobs/<sha256>``), as the page does; returns
        their URLs there. Each is checked by the endpoint against its name."""
        assert manifest.inputs.blob is not None
        digests = [manifest.model.digest, manifest.inputs.blob.digest, manifest.spec_hash]
        return [put_blob(endpoint, self.store.get(d)) for d in digests]

    def post(
        self,
        model_bytes: bytes,
        x: np.ndarray,
        budget: int,
        deadline: int,
        *,
        min_score: int = 0,
        use_permit: bool = True,
        energy: EnergyPolicy | None = None,
    ) -> Posted:
        """Post a job running ``model_bytes`` on every item of ``x``. Refused before any money
        moves when the model is not minted, the inputs do not fit it, the manifest is too large,
        or the deadline cannot be met."""
        manifest = self.prepare(model_bytes, x, deadline, energy)
        if not self.escrow.model_exists(manifest.model_id):
            raise ManifestError(
                f"model {manifest.model.hex} is not minted as a ModelNFT: mint it first (its id is the SHA-256 of the file)"
            )
        manifest.check_deadline(now=self.escrow.chain.block_timestamp())
        job_id, tx = self.escrow.post(
            budget, deadline, min_score, manifest.model_id, manifest.spec_hash, use_permit=use_permit
        )
        return Posted(job_id, manifest, manifest.spec_hash, tx.gas_used)

    # -- following ----------------------------------------------------------------------------

    def _posted(self, job_id: int) -> dict[str, Any]:
        try:
            return self.escrow.posted(job_id)
        except LookupError:
            raise JobClientError(
                f"job {job_id} was never posted on the escrow at {self.escrow.address}: check the id and --deployment"
            ) from None

    def manifest_of(self, job_id: int) -> Manifest:
        spec = bytes(self._posted(job_id)["specHash"])
        try:
            return parse_manifest(self.store.get(spec))
        except BlobError:
            raise JobClientError(
                f"the manifest {hex32(spec)} of job {job_id} is not in this client's store: run from the state "
                "folder that posted it (--state-dir)"
            ) from None

    def status(self, job_id: int) -> dict[str, Any]:
        if not 1 <= job_id <= self.escrow.job_count():
            self._posted(job_id)
        job = self.escrow.job(job_id)
        result = self.escrow.result_hash(job_id)
        node = self.escrow.accepted_node(job_id)
        return {
            "job_id": job_id,
            "status": job.status.name.lower(),
            "provider": job.provider if int(job.provider, 16) else None,
            "budget": job.budget,
            "deadline": job.deadline,
            "model_id": hex(job.model_id),
            "node": "0x" + node.hex() if node else None,
            "result_hash": "0x" + result.hex() if result else None,
        }

    def wait_for(self, job_id: int, status: Status, timeout_s: float = 60.0, poll_s: float = 0.1) -> Job:
        end = time.monotonic() + timeout_s
        while True:
            job = self.escrow.job(job_id)
            if job.status >= status or time.monotonic() > end:
                return job
            time.sleep(poll_s)

    def provider_url(self, job_id: int) -> str:
        node = self.escrow.accepted_node(job_id)
        if node is None:
            raise JobClientError(
                f"job {job_id} has no provider yet: wait for it to be accepted (compute job status)"
            )
        return service_url(self.escrow.node_endpoint(node), "jobs")

    def _result_root(self, job_id: int) -> bytes:
        root = self.escrow.result_hash(job_id)
        if root is None:
            raise JobClientError(
                f"job {job_id} has no result yet: wait for the provider to submit (compute job status)"
            )
        return root

    def fetch(self, job_id: int) -> list[bytes]:
        """Download the outputs (checked: blob hash as announced, item root == ``resultHash``)."""
        manifest, root = self.manifest_of(job_id), self._result_root(job_id)
        info = _get_json(f"{self.provider_url(job_id)}/jobs/{job_id}")
        ref = BlobRef.from_json(info["outputs"], "outputs")
        data = self.fetcher.fetch(ref)
        records = work.split_outputs(manifest, data)
        got = work.output_tree(manifest, data).root
        if got != root:
            raise ProofError(
                f"the outputs of job {job_id} hash to root {hex32(got)}, the provider submitted {hex32(root)}"
            )
        return records

    def outputs(self, job_id: int) -> list[np.ndarray]:
        return work.records_to_arrays(self.manifest_of(job_id), self.fetch(job_id))

    # -- checking -----------------------------------------------------------------------------

    def _model(self, data: bytes) -> OnnxModel:
        digest = sha256(data)
        if digest not in self._models:
            self._models[digest] = OnnxModel(data, device=self.device)
        return self._models[digest]

    def open_items(self, job_id: int, indices: list[int]) -> list[Opening]:
        manifest, root = self.manifest_of(job_id), self._result_root(job_id)
        query = ",".join(str(i) for i in indices)
        reply = _get_json(f"{self.provider_url(job_id)}/jobs/{job_id}/open?items={query}")
        openings = [Opening.from_json(o) for o in reply.get("openings", [])]
        if sorted(o.index for o in openings) != sorted(indices):
            raise ProofError(f"the provider opened items {[o.index for o in openings]}, not {indices}")
        check_openings(openings, root, manifest.inputs.count, manifest.record_size, manifest.leaf_items)
        return openings

    def check(
        self, job_id: int, samples: int = DEFAULT_SAMPLES, rng: np.random.Generator | None = None
    ) -> CheckReport:
        """Open ``samples`` random items with proofs and re-run them here as one batch."""
        t0 = time.perf_counter()
        manifest = self.manifest_of(job_id)
        indices = work.sample_indices(manifest.inputs.count, samples, rng)
        openings = self.open_items(job_id, indices)
        assert manifest.inputs.blob is not None
        model = self._model(self.fetcher.fetch(manifest.model))
        inputs = self.fetcher.fetch(manifest.inputs.blob)
        t1 = time.perf_counter()
        rerun = work.run(manifest, model, work.input_array(manifest, inputs, indices))
        t2 = time.perf_counter()
        result = work.compare(manifest, indices, [o.item for o in openings], rerun)
        return CheckReport(
            job_id,
            indices,
            list(result.bad),
            time.perf_counter() - t0,
            t2 - t1,
            result.tolerance_used,
            escape_bound(0.01, len(indices)),
            [o.to_json() for o in openings],
            [r.hex() for r in rerun],
        )

    # -- settling -----------------------------------------------------------------------------

    def approve(self, job_id: int) -> int:
        return self.escrow.approve_result(job_id).gas_used

    def evidence(self, job_id: int, report: CheckReport) -> bytes:
        """The dispute's evidence file (canonical JSON, stored and served here at its SHA-256): the
        wrong items, the provider's openings of them (bound to ``resultHash``, so anyone can check
        them) and what the re-run gave. On chain the dispute commits to the items only
        (JobEscrow's ``evidenceHash``); validators re-run the items themselves."""
        bad = set(report.bad)
        doc = {
            "job_id": job_id,
            "spec_hash": hex32(bytes(self._posted(job_id)["specHash"])),
            "result_hash": hex32(self._result_root(job_id)),
            "items": sorted(bad),
            "evidence_hash": hex32(evidence_hash(sorted(bad))),
            "openings": [o for o in report.openings if o["index"] in bad],
            "expected": [e for i, e in zip(report.indices, report.expected, strict=True) if i in bad],
        }
        return canonical_json(doc)

    def dispute(self, job_id: int, report: CheckReport) -> tuple[bytes, bytes, int]:
        """Dispute the items a check found wrong, paying the escrow's dispute bond; the evidence
        file is stored (and served) here. Returns (evidenceHash, evidence file digest, gas)."""
        if report.ok:
            raise JobClientError(
                f"the check of job {job_id} passed: there is nothing to dispute (approve it)"
            )
        data = self.evidence(job_id, report)
        digest = self.store.put(data)
        items = sorted(set(report.bad))
        tx = self.escrow.dispute(job_id, self._result_root(job_id), items)
        return evidence_hash(items), digest, tx.gas_used
