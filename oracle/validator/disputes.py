"""Validators settle disputes by themselves: notice each disputed job, judge it by re-running the
disputed items, sign the EIP-712 verdict (:mod:`oracle.validator.verdicts`), exchange signatures
with the other validators, and submit ``settleDispute`` once k of them agree.

One dispute, step by step (each journaled, :mod:`oracle.validator.dispute_journal`):

1. **Notice.** ``JobDisputed`` events are read from the escrow from a journaled cursor (the block
   after the last one scanned; from the deployment block the first time, and again when the chain
   went back). A dispute found already closed is marked settled without judging.
2. **Judge.** The dispute must name the result the provider submitted (else no verdict can be
   right: refused, governance decides). The manifest (by ``specHash``, from the provider's node
   endpoint or the configured sources), the model and the inputs are fetched through the bounded,
   hash-checking :class:`~oracle.work.blobs.Fetcher`; the disputed items' openings come from the
   provider (``GET /jobs/<id>/open``, through :mod:`oracle.wire`). The items are re-run as one batch
   and compared (:func:`oracle.work.dispute.judge`). A dispute naming items the job does not have
   is a false claim. A provider that does not open its items is given ``open_grace_s`` from the
   dispute; after that the unopened items count against it. A validator that cannot judge (a blob
   unreachable or wrong, the provider not answering within its grace) logs why and signs nothing;
   it tries again on the next poll.
3. **Sign.** ``DisputeVerdict(jobId, resultHash, evidenceHash, providerAtFault, expiry)`` with
   ``expiry`` = the dispute's ``resolveBy``: a pure function of the chain and the judgement, so
   validators that agree sign byte-identical typed data. The signature is journaled before it is
   served, and never replaced.
4. **Exchange and submit.** Each validator serves its signed verdict at ``GET /verdicts/<jobId>``
   (:mod:`oracle.validator.peers`) and reads the others'. With k signatures on the same verdict
   (signers ascending, :func:`oracle.attest.aggregate`), the lowest-addressed of the agreeing
   signers submits at once; the others submit only if the dispute is still open ``failover_s``
   after they saw the quorum. The transaction's hash is journaled before it is sent; a restart
   waits for it rather than sending again, and a verdict that loses the race (the job is no longer
   disputed) just marks the dispute settled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from oracle import wire
from oracle.attest import AttestError, Signature, aggregate, recover_signer
from oracle.chain import ChainClient, ChainError, ContractRevert
from oracle.challenge_auth import parse_endpoint
from oracle.journal import Journal
from oracle.validator.config import DEFAULT_OPEN_GRACE_S
from oracle.validator.dispute_journal import DisputeJournal, DisputeRecord
from oracle.validator.observability import Metrics
from oracle.validator.verdicts import (
    DisputeVerdict,
    escrow_domain,
    openings_from_provider,
    sign_verdict,
    verdict_for,
)
from oracle.work.blobs import BlobRef, BlobStore, Fetcher
from oracle.work.content import cid_of_digest, hex32, parse_digest
from oracle.work.dispute import DisputeError, Judgement, judge
from oracle.work.errors import WorkError
from oracle.work.escrow import Escrow, Status
from oracle.work.items import Opening
from oracle.work.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest
from oracle.work.runtime import OnnxModel

PEER_TIMEOUT_S = 2.0

Log = Callable[..., None]


class CannotJudge(DisputeError):
    """This validator cannot judge the dispute now (the message says why); it signs nothing."""


class DisputeRefused(DisputeError):
    """No verdict can settle this dispute (the message says why); governance decides it."""


class Disputes:
    """The dispute side of one validator (see the module doc)."""

    def __init__(
        self,
        journal: Journal,
        chain: ChainClient,
        account: LocalAccount,
        log: Log,
        is_oracle: Callable[[str], bool],
        blob_dir: str | Path,
        *,
        peers: Sequence[str] = (),
        manifest_sources: Sequence[str] = (),
        ipfs_gateway: str | None = None,
        device: str = "auto",
        open_grace_s: float = DEFAULT_OPEN_GRACE_S,
        failover_s: float = 30.0,
        timeout_s: float = 30.0,
        metrics: Metrics | None = None,
    ):
        self.chain = chain
        self.escrow = Escrow(chain)
        self.account = account
        self.address = account.address
        self.records = DisputeJournal(journal, self.escrow.address)
        self.domain = escrow_domain(chain.deployment.chain_id, self.escrow.address)
        self.fetcher = Fetcher(BlobStore(blob_dir), gateway=ipfs_gateway, timeout_s=timeout_s)
        self._log = log
        self.is_oracle = is_oracle
        self.peers = list(peers)
        self.manifest_sources = [s.rstrip("/") for s in manifest_sources]
        self.ipfs_gateway = ipfs_gateway
        self.device = device
        self.open_grace_s = open_grace_s
        self.failover_s = failover_s
        self.timeout_s = timeout_s
        self.metrics = metrics or Metrics()
        self._models: dict[bytes, OnnxModel] = {}
        self._quorum_seen: dict[int, float] = {}

    # -- what this validator serves -----------------------------------------------------------

    def document(self, job_id: int) -> dict[str, Any]:
        """``GET /verdicts/<jobId>``: the verdict this validator signed (``verdict`` null if none)."""
        rec = self.records.get(job_id)
        doc: dict[str, Any] = {"validator": self.address, "job_id": job_id, "verdict": None}
        if rec is not None and rec.signature is not None:
            doc.update(verdict=rec.verdict, signer=self.address, signature=rec.signature)
        return doc

    # -- the loop -----------------------------------------------------------------------------

    def poll(self, threshold: int) -> list[DisputeRecord]:
        """Notice new disputes, then take every open one as far as it goes now."""
        self.discover()
        out = []
        for rec in self.records.open():
            try:
                out.append(self.advance(rec, threshold))
            except (ChainError, WorkError) as exc:
                self._log("dispute_failed", logging.ERROR, job=rec.job_id, error=str(exc)[:500])
        return out

    def discover(self) -> list[DisputeRecord]:
        """Record every ``JobDisputed`` event since the journaled cursor."""
        head = int(self.chain.retry(lambda: self.chain.w3.eth.block_number, "eth_blockNumber"))
        start = self.records.cursor()
        if start is None or start > head + 1:  # first scan, or the chain went back
            start = self.chain.deployment.deploy_block
        new = []
        if start <= head:
            for event in self.chain.events("JobEscrow", "JobDisputed", from_block=start, to_block=head):
                args = event["args"]
                job_id = int(args["jobId"])
                if self.records.get(job_id) is not None:
                    continue
                rec = DisputeRecord(
                    job_id,
                    hex32(bytes(args["resultHash"])),
                    hex32(bytes(args["evidenceHash"])),
                    [int(i) for i in args["items"]],
                    int(args["resolveBy"]),
                    self.chain.block_timestamp(int(event["blockNumber"])),
                )
                new.append(self.records.put(rec))
                self._log("dispute_seen", job=job_id, items=rec.items[:16], resolve_by=rec.expiry)
        self.records.set_cursor(head + 1)
        return new

    def advance(self, rec: DisputeRecord, threshold: int) -> DisputeRecord:
        if rec.step == "submitting" and rec.tx_hash:
            receipt = self.chain.receipt(rec.tx_hash)  # sent before a restart: wait for it
            if receipt is not None and receipt["status"] == 1:
                return self._closed(rec, f"settled by this validator in {rec.tx_hash}")
        job = self.escrow.job(rec.job_id)
        if job.status != Status.DISPUTED:
            return self._closed(rec, self._how_closed(rec.job_id, job.status))
        if rec.step == "seen":
            rec = self.judge_and_sign(rec)
        if rec.step in ("signed", "submitting"):
            rec = self._gather_and_submit(rec, threshold)
        return rec

    # -- judging ------------------------------------------------------------------------------

    def judge_one(self, job_id: int) -> DisputeRecord:
        """``oracle dispute judge``: judge and sign the dispute of ``job_id`` now (or return what
        was signed before); nothing is submitted."""
        self.discover()
        rec = self.records.get(job_id)
        if rec is None:
            raise DisputeError(
                f"job {job_id} has no JobDisputed event on the escrow at {self.escrow.address}: "
                "check the job id and --deployment"
            )
        return self.judge_and_sign(rec) if rec.step == "seen" else rec

    def judge_and_sign(self, rec: DisputeRecord) -> DisputeRecord:
        """Judge ``rec`` and journal the signed verdict; a validator that cannot judge journals
        and logs the reason and signs nothing."""
        try:
            judgement, verdict = self.judge(rec)
        except DisputeRefused as exc:
            self._log("dispute_refused", logging.WARNING, job=rec.job_id, reason=str(exc))
            self.metrics.disputes.labels("refused").inc()
            return self.records.put(rec, step="refused", reason=str(exc))
        except (CannotJudge, WorkError) as exc:
            self._log("cannot_judge", logging.WARNING, job=rec.job_id, reason=str(exc)[:500])
            self.metrics.disputes.labels("cannot_judge").inc()
            return self.records.put(rec, reason=str(exc)[:500], attempts=rec.attempts + 1)
        sig = sign_verdict(self.account.key, self.domain, verdict)
        rec = self.records.put(
            rec,
            step="signed",
            verdict=verdict.to_json(),
            signature="0x" + sig.signature.hex(),
            judgement=judgement.to_json(),
            reason=None,
        )
        self.metrics.disputes.labels("at_fault" if judgement.provider_at_fault else "false_claim").inc()
        self._log(
            "dispute_judged",
            job=rec.job_id,
            provider_at_fault=judgement.provider_at_fault,
            wrong=list(judgement.wrong)[:16],
            unopened=list(judgement.unopened)[:16],
            rerun_s=round(judgement.rerun_seconds, 4),
        )
        return rec

    def judge(self, rec: DisputeRecord) -> tuple[Judgement, DisputeVerdict]:
        """What re-running the disputed items shows, and the verdict to sign (module doc, step 2)."""
        result_hash = parse_digest(rec.result_hash)
        submitted = self.escrow.result_hash(rec.job_id)
        if submitted != result_hash:
            raise DisputeRefused(
                f"the dispute names result {rec.result_hash}, the provider submitted "
                f"{hex32(submitted) if submitted else 'nothing'}: no verdict over it can be right"
            )
        base = self._provider_url(rec.job_id)
        try:
            manifest = self._manifest(bytes(self.escrow.posted(rec.job_id)["specHash"]), base)
            model = self._model(manifest, base)
            assert manifest.inputs.blob is not None
            inputs = self.fetcher.fetch(
                manifest.inputs.blob, extra_urls=[_blob_url(base, manifest.inputs.blob)]
            )
        except WorkError as exc:
            raise CannotJudge(f"cannot fetch what job {rec.job_id} needs: {exc}") from None
        if any(i >= manifest.inputs.count for i in rec.items):  # items the job does not have
            judgement = Judgement(tuple(rec.items), (), (), 0.0, 0.0)
        else:
            openings = self._openings(rec, base)
            try:
                judgement = judge(manifest, model, inputs, result_hash, rec.items, openings)
            except WorkError as exc:
                raise CannotJudge(f"cannot re-run the items of job {rec.job_id}: {exc}") from None
        verdict = verdict_for(rec.job_id, result_hash, rec.items, judgement, rec.expiry)
        if hex32(verdict.evidence_hash) != rec.evidence_hash:
            raise DisputeRefused(
                f"the dispute's evidenceHash {rec.evidence_hash} does not commit to its items"
            )
        return judgement, verdict

    def _openings(self, rec: DisputeRecord, base: str) -> list[Opening]:
        try:
            return openings_from_provider(base, rec.job_id, rec.items, timeout=self.timeout_s)
        except DisputeError as exc:
            until = rec.disputed_at + int(self.open_grace_s)
            if self.chain.block_timestamp() < until:
                raise CannotJudge(f"{exc} (its items count against it from unix time {until})") from None
            self._log("unopened", logging.WARNING, job=rec.job_id, reason=str(exc)[:300])
            return []  # past its grace: every disputed item it does not open counts against it

    def _provider_url(self, job_id: int) -> str:
        node = self.escrow.accepted_node(job_id)
        if node is None:
            raise CannotJudge(f"job {job_id} has no JobAccepted event: no provider to ask")
        url = parse_endpoint(self.escrow.node_endpoint(node))[0].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CannotJudge(f"the provider's node endpoint {url!r} is not an http(s) URL")
        return url

    def _manifest(self, spec_hash: bytes, base: str) -> Manifest:
        urls = [f"{s}/blobs/{spec_hash.hex()}" for s in [base, *self.manifest_sources]]
        if self.ipfs_gateway:
            urls.append(f"ipfs://{cid_of_digest(spec_hash)}")
        return parse_manifest(
            self.fetcher.fetch(BlobRef(spec_hash, 0, tuple(urls)), max_size=MAX_MANIFEST_BYTES)
        )

    def _model(self, manifest: Manifest, base: str) -> OnnxModel:
        digest = manifest.model.digest
        if digest not in self._models:
            data = self.fetcher.fetch(manifest.model, extra_urls=[_blob_url(base, manifest.model)])
            self._models = {digest: OnnxModel(data, device=self.device)}  # the last model only
        return self._models[digest]

    # -- exchanging and submitting ------------------------------------------------------------

    def _peer_documents(self, job_id: int) -> list[dict[str, Any]]:
        docs = []
        for peer in self.peers:
            try:
                status, doc = wire.call_json(peer, "GET", f"/verdicts/{job_id}", timeout_s=PEER_TIMEOUT_S)
            except wire.WireError as exc:  # a peer being down is normal
                self._log("peer_unreachable", logging.DEBUG, peer=peer, error=str(exc))
                continue
            if status == 200 and isinstance(doc, dict):
                docs.append(doc)
        return docs

    def agreeing(self, rec: DisputeRecord) -> list[Signature]:
        """This validator's signature and every peer's on the same verdict, from oracles, verified."""
        digest = DisputeVerdict.from_json(rec.verdict).digest(self.domain)
        assert rec.signature is not None
        sigs = [Signature(self.address, bytes.fromhex(rec.signature[2:]))]
        for doc in self._peer_documents(rec.job_id):
            if doc.get("verdict") != rec.verdict:  # another judgement, or not signed yet
                continue
            try:
                sig = Signature.from_json(doc)
                if recover_signer(digest, sig.signature) == sig.signer and self.is_oracle(sig.signer):
                    sigs.append(sig)
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
        return sigs

    def _gather_and_submit(self, rec: DisputeRecord, threshold: int) -> DisputeRecord:
        verdict = DisputeVerdict.from_json(rec.verdict)
        sigs = self.agreeing(rec)
        try:
            ordered = aggregate(sigs, threshold, digest=verdict.digest(self.domain))
        except AttestError:
            return rec  # waiting for more validators to agree
        leader = min((to_checksum_address(s.signer) for s in sigs), key=lambda a: int(a, 16))
        first = self._quorum_seen.setdefault(rec.job_id, time.monotonic())
        if leader != self.address and time.monotonic() - first < self.failover_s:
            return rec  # the leader submits; fail over only if it has not within failover_s

        def journal_hash(tx_hash: str) -> None:
            nonlocal rec
            rec = self.records.put(rec, step="submitting", tx_hash=tx_hash)

        try:
            res = self.escrow.settle_dispute(
                rec.job_id,
                verdict.result_hash,
                verdict.evidence_hash,
                verdict.provider_at_fault,
                verdict.expiry,
                ordered,
                on_signed=journal_hash,
            )
        except ContractRevert as exc:
            if exc.error == "JobEscrowWrongStatus":  # a peer's settlement got there first
                return self._closed(rec, self._how_closed(rec.job_id, self.escrow.job(rec.job_id).status))
            self._log("verdict_submit_failed", logging.ERROR, job=rec.job_id, error=str(exc)[:500])
            return rec
        self.metrics.disputes.labels("submitted").inc()
        self.metrics.tx_gas.observe(res.gas_used)
        self._log(
            "dispute_settled",
            job=rec.job_id,
            provider_at_fault=verdict.provider_at_fault,
            tx=res.tx_hash,
            gas=res.gas_used,
            signers=len(ordered),
        )
        return self._closed(rec, f"settled by this validator in {res.tx_hash} (gas {res.gas_used})")

    def _closed(self, rec: DisputeRecord, reason: str) -> DisputeRecord:
        self._quorum_seen.pop(rec.job_id, None)
        if rec.verdict is not None:  # what this validator signed against what was settled
            settled = self.escrow.events("DisputeSettled", rec.job_id)
            if settled and bool(settled[-1]["args"]["providerAtFault"]) != rec.verdict["providerAtFault"]:
                self._log("dispute_outcome_differs", logging.WARNING, job=rec.job_id, signed=rec.verdict)
        self._log("dispute_closed", job=rec.job_id, reason=reason)
        return self.records.put(rec, step="settled", reason=reason)

    def _how_closed(self, job_id: int, status: Status) -> str:
        for event, how in (
            ("DisputeSettled", "settled by the validators' verdict"),
            ("DisputeResolved", "resolved by governance or an arbiter"),
            ("DisputeExpired", "expired (split half and half)"),
        ):
            found = self.escrow.events(event, job_id)
            if found:
                args = found[-1]["args"]
                who = args.get("caller") or args.get("arbiter")
                return f"{how} (submitted by {who})"
        return f"the job is {status.name.lower()}, no longer disputed"


def _blob_url(base: str, ref: BlobRef) -> str:
    return f"{base}/blobs/{ref.digest.hex()}"
