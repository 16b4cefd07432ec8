"""Posting what a validator signed (single mode, and faults in either mode): gather the other
validators' signatures on the same attestation or fault, aggregate k of them (signers ascending)
and post one ``submit`` / ``reportFault``; find what is already on chain (posted by a peer, or
before a crash: the hash is journaled before the transaction is sent) and re-open posts that a
reorg rolled back. The daemon (:mod:`oracle.validator.daemon`) decides who posts and when.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address

from oracle.attest import (
    Attestation,
    AttestError,
    Domain,
    Signature,
    aggregate,
    attestation_digest,
    fault_digest,
    fault_struct_hash,
)
from oracle.chain import ChainClient, ChainError, ContractRevert
from oracle.journal import Entry, Journal
from oracle.validator.attesting import fault_from_json
from oracle.validator.batch import REGISTRY, BatchRounds
from oracle.validator.observability import Metrics


class Posts:
    """The single posts of one validator: attestations one by one, and faults."""

    def __init__(
        self,
        journal: Journal,
        chain: ChainClient,
        domain: Domain,
        address: str,
        metrics: Metrics,
        log: Callable[..., None],
        is_oracle: Callable[[str], bool],
        batch: BatchRounds,
        *,
        mode: str = "single",
        submit_delay: float = 0.0,
    ):
        self.journal = journal
        self.chain = chain
        self.domain = domain
        self.address = address
        self.metrics = metrics
        self._log = log
        self.is_oracle = is_oracle
        self.batch = batch
        self.mode = mode
        self.submit_delay = submit_delay

    def on_chain_done(self, epoch: int, kind: str, payload: dict[str, Any]) -> bool:
        if kind == "attest":
            rec = self.chain.call(REGISTRY, "recordOf", bytes.fromhex(payload["nodeId"][2:]))
            return int(rec[1]) >= epoch
        return bool(self.chain.call(REGISTRY, "faultReported", fault_struct_hash(fault_from_json(payload))))

    def post(self, epoch: int, entry: Entry, sigs: list[bytes]) -> None:
        kind = entry.kind
        # A hash journaled before a crash: wait for that transaction rather than sending again.
        if entry.state == "submitted" and entry.tx_hash:
            receipt = self.chain.receipt(entry.tx_hash)
            if receipt is not None and receipt["status"] == 1:
                self.journal.advance(epoch, entry.node, "confirmed", kind=kind)
                return
        if self.on_chain_done(epoch, kind, entry.payload):
            self.journal.advance(epoch, entry.node, "confirmed", kind=kind, note="already on chain")
            return

        def journal_hash(tx_hash: str) -> None:
            self.journal.advance(epoch, entry.node, "submitted", kind=kind, tx_hash=tx_hash)

        if kind == "attest":
            att = Attestation.from_json(entry.payload)
            res = self.chain.transact(REGISTRY, "submit", att.as_tuple(), sigs, on_signed=journal_hash)
        else:
            fault = fault_from_json(entry.payload)
            res = self.chain.transact(REGISTRY, "reportFault", fault.as_tuple(), sigs, on_signed=journal_hash)
        self.journal.advance(epoch, entry.node, "confirmed", kind=kind, tx_hash=res.tx_hash)
        self.metrics.submissions.labels(kind).inc()
        self.metrics.tx_gas.observe(res.gas_used)
        self._log("posted", epoch=epoch, node=entry.node, kind=kind, tx=res.tx_hash, gas=res.gas_used)
        if self.submit_delay:
            time.sleep(self.submit_delay)

    def gather_and_post(
        self, epoch: int, docs: list[dict[str, Any]], threshold: int, single_attestations: bool = True
    ) -> int:
        """Post every entry of this epoch that has ``threshold`` matching signatures; returns how many
        entries are still open. Attestations are skipped when ``single_attestations`` is False
        (batch mode: they go on chain in the batch)."""
        mine = [e for e in self.journal.entries(epoch, min_state="signed") if e.state != "confirmed"]
        if not single_attestations:
            mine = [e for e in mine if e.kind != "attest"]
        if not mine:
            return 0
        theirs: dict[tuple[str, str], list[Signature]] = {}
        for d in docs:
            for key, items in (("attestation", d.get("attestations", [])), ("fault", d.get("faults", []))):
                for it in items:
                    payload = it.get(key)
                    if not isinstance(payload, dict):
                        continue
                    kind = "attest" if key == "attestation" else "fault"
                    try:
                        theirs.setdefault((kind, json.dumps(payload, sort_keys=True)), []).append(
                            Signature.from_json(it)
                        )
                    except (KeyError, ValueError):
                        continue
        open_count = 0
        for e in mine:
            digest = (
                attestation_digest(self.domain, Attestation.from_json(e.payload))
                if e.kind == "attest"
                else fault_digest(self.domain, fault_from_json(e.payload))
            )
            own = Signature(self.address, bytes.fromhex(e.signature[2:]))
            candidates = [own] + theirs.get((e.kind, json.dumps(e.payload, sort_keys=True)), [])
            candidates = [s for s in candidates if self.is_oracle(to_checksum_address(s.signer))]
            try:
                sigs = aggregate(candidates, threshold, digest=digest)
            except AttestError:
                open_count += 1
                continue
            try:
                self.post(epoch, e, sigs)
            except ContractRevert as exc:
                if exc.error in ("AttestationRegistryStaleEpoch", "AttestationRegistryFaultAlreadyReported"):
                    self.journal.advance(
                        epoch, e.node, "confirmed", kind=e.kind, note="posted by another validator"
                    )
                else:
                    self.metrics.errors.labels("post").inc()
                    self._log("post_failed", logging.ERROR, epoch=epoch, node=e.node, error=str(exc))
            except ChainError as exc:
                self.metrics.errors.labels("post").inc()
                self._log("post_failed", logging.ERROR, epoch=epoch, node=e.node, error=str(exc))
                open_count += 1
        return open_count

    def all_on_chain(self, epoch: int) -> bool:
        if self.mode == "batch":
            self.batch.confirm_if_posted(epoch, "batch posted by the leader")
        done = True
        for e in self.journal.entries(epoch, min_state="signed"):
            if e.state == "confirmed":
                continue
            if self.on_chain_done(epoch, e.kind, e.payload):
                self.journal.advance(epoch, e.node, "confirmed", kind=e.kind, note="posted by the leader")
            else:
                done = False
        return done

    def reopen_rolled_back(self, epoch: int) -> int:
        """Posts journaled as submitted/confirmed that the chain no longer holds (a reorg, or a node
        restarted from older state) go back to ``signed`` so that they are posted again, once.
        Batched attestations are checked through their root, so only single posts are looked at."""
        reopened = 0
        for e in self.journal.entries(epoch, min_state="submitted"):
            if e.kind == "attest" and self.mode != "single":
                continue
            if e.state == "submitted" and e.tx_hash:
                continue  # _post waits for that transaction (or re-sends if the node lost it)
            if self.on_chain_done(epoch, e.kind, e.payload):
                continue
            self.journal.reopen(epoch, e.node, e.kind, note=f"rolled back (was {e.state} in {e.tx_hash})")
            self._log("rolled_back", logging.WARNING, epoch=epoch, node=e.node, kind=e.kind, tx=e.tx_hash)
            reopened += 1
        if reopened and self.chain.nonces is not None:
            self.chain.nonces.resync()
        return reopened
