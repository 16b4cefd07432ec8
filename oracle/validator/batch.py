"""Batch rounds (``oracle run --mode batch``): one quorum-signed Merkle root per epoch.

Every validator signs one root over every attestation it signed in the epoch (leaves sorted by
node id, so validators that agree on the attestations agree on the root), serves the root with
its signatures at ``GET /signatures/<epoch>`` and the proofs at ``GET /proofs/<epoch>``
(``scoreProof`` is what JobEscrow's ``acceptJob`` passes to ``checkScore``). Whoever posts
gathers k signatures on the same root and sends one ``submitBatch``. The root is signed once per
epoch, journaled (meta ``batch:<epoch>``), never re-signed; the post's state is journaled under
``batch-state:<epoch>`` (its hash before it is sent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from oracle.attest import (
    Attestation,
    AttestError,
    Batch,
    Domain,
    Signature,
    aggregate,
    attestation_struct_hash,
    batch_digest,
    sign_batch,
)
from oracle.attest_batch import MerkleTree, encode_score_proof
from oracle.chain import ChainClient, ContractRevert
from oracle.journal import Journal
from oracle.validator.observability import Metrics

REGISTRY = "AttestationRegistry"
PUBLIC_FIELDS = ("root", "epoch", "expiry", "signer", "signature")
"""The batch fields a validator publishes in its signatures document."""


class BatchRounds:
    """The batch side of one validator: sign the epoch's root, serve its proofs, post it."""

    def __init__(
        self,
        journal: Journal,
        chain: ChainClient,
        domain: Domain,
        account: LocalAccount,
        metrics: Metrics,
        log: Callable[..., None],
        is_oracle: Callable[[str], bool],
    ):
        self.journal = journal
        self.chain = chain
        self.domain = domain
        self.account = account
        self.address = account.address
        self.metrics = metrics
        self._log = log
        self._is_oracle = is_oracle

    def meta(self, epoch: int) -> dict[str, Any] | None:
        """What this validator signed for ``epoch``'s batch, or None (not signed)."""
        raw = self.journal.meta(f"batch:{epoch}")
        return json.loads(raw) if raw else None

    def public(self, epoch: int) -> dict[str, Any] | None:
        """The batch entry of this validator's signatures document."""
        meta = self.meta(epoch)
        return None if meta is None else {k: meta[k] for k in PUBLIC_FIELDS}

    def _state(self, epoch: int) -> dict[str, Any]:
        return json.loads(self.journal.meta(f"batch-state:{epoch}") or "{}")

    def _tree(self, epoch: int) -> tuple[dict[str, Any], list[Attestation], MerkleTree] | None:
        meta = self.meta(epoch)
        if meta is None:
            return None
        by_node = {e.node: e.payload for e in self.journal.entries(epoch, kind="attest", min_state="signed")}
        atts = [Attestation.from_json(by_node[n]) for n in meta["nodes"]]
        return meta, atts, MerkleTree.build([attestation_struct_hash(a) for a in atts])

    def sign(self, epoch: int, expiry: int) -> None:
        """Sign the epoch's root over every attestation signed so far (once; journaled)."""
        if self.meta(epoch) is not None:
            return
        entries = sorted(self.journal.entries(epoch, kind="attest", min_state="signed"), key=lambda e: e.node)
        if not entries:
            return
        atts = [Attestation.from_json(e.payload) for e in entries]
        tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
        batch = Batch(tree.root, epoch, expiry)
        sig = sign_batch(self.account.key, self.domain, batch)
        meta = {
            "root": "0x" + tree.root.hex(),
            "epoch": epoch,
            "expiry": batch.expiry,
            "signer": self.address,
            "signature": "0x" + sig.signature.hex(),
            "nodes": [e.node for e in entries],
        }
        self.journal.set_meta(f"batch:{epoch}", json.dumps(meta))

    def proofs_document(self, epoch: int) -> dict[str, Any]:
        """Merkle proofs of this validator's batch (``GET /proofs/<epoch>``)."""
        built = self._tree(epoch)
        if built is None:
            return {"epoch": epoch, "root": None, "proofs": []}
        meta, atts, tree = built
        proofs = []
        for i, a in enumerate(atts):
            proof = tree.proof(i)
            proofs.append(
                {
                    "nodeId": "0x" + a.nodeId.hex(),
                    "attestation": a.to_json(),
                    "proof": ["0x" + p.hex() for p in proof],
                    "scoreProof": "0x" + encode_score_proof(a, tree.root, proof).hex(),
                }
            )
        return {
            "epoch": epoch,
            "root": meta["root"],
            "onChain": self._state(epoch).get("state") == "confirmed",
            "proofs": proofs,
        }

    def on_chain(self, root_hex: str) -> bool:
        info = self.chain.call(REGISTRY, "batchOf", bytes.fromhex(root_hex[2:]))
        return int(info[1]) != 0

    def confirm(self, epoch: int, meta: dict[str, Any], tx_hash: str | None, note: str) -> None:
        """Journal the batch and every attestation in it as confirmed."""
        self.journal.set_meta(f"batch-state:{epoch}", json.dumps({"state": "confirmed", "tx": tx_hash}))
        for node in meta["nodes"]:
            e = self.journal.get(epoch, node, "attest")
            if e is not None and e.state != "confirmed":
                self.journal.advance(epoch, node, "confirmed", note=note)

    def confirm_if_posted(self, epoch: int, note: str) -> None:
        """Confirm the batch when someone else has posted it."""
        meta = self.meta(epoch)
        if meta is not None and self.on_chain(meta["root"]):
            self.confirm(epoch, meta, None, note)

    def gather(self, epoch: int, docs: list[dict[str, Any]], threshold: int) -> bool:
        """Post this epoch's batch root once it has k signatures; True when it is on chain."""
        meta = self.meta(epoch)
        if meta is None:
            return True
        state = self._state(epoch)
        if state.get("state") == "confirmed":
            return True
        if state.get("state") == "submitted" and state.get("tx"):
            receipt = self.chain.receipt(state["tx"])
            if receipt is not None and receipt["status"] == 1:
                self.confirm(epoch, meta, state["tx"], "in batch")
                return True
        if self.on_chain(meta["root"]):
            self.confirm(epoch, meta, None, "batch posted by another validator")
            return True
        sigs = [Signature(self.address, bytes.fromhex(meta["signature"][2:]))]
        for d in docs:
            b = d.get("batch")
            if (
                isinstance(b, dict)
                and b.get("root") == meta["root"]
                and self._is_oracle(to_checksum_address(b["signer"]))
            ):
                sigs.append(Signature.from_json(b))
        batch = Batch(bytes.fromhex(meta["root"][2:]), epoch, int(meta["expiry"]))
        try:
            agg = aggregate(sigs, threshold, digest=batch_digest(self.domain, batch))
        except AttestError:
            return False

        def journal_hash(tx_hash: str) -> None:
            self.journal.set_meta(f"batch-state:{epoch}", json.dumps({"state": "submitted", "tx": tx_hash}))

        try:
            res = self.chain.transact(
                REGISTRY, "submitBatch", batch.root, batch.epoch, batch.expiry, agg, on_signed=journal_hash
            )
        except ContractRevert as exc:
            if exc.error == "AttestationRegistryBatchExists":
                self.confirm(epoch, meta, None, "batch posted by another validator")
                return True
            self.metrics.errors.labels("post").inc()
            self._log("batch_failed", logging.ERROR, epoch=epoch, error=str(exc))
            return False
        self.confirm(epoch, meta, res.tx_hash, "in batch")
        self.metrics.submissions.labels("batch").inc()
        self.metrics.tx_gas.observe(res.gas_used)
        self._log(
            "posted",
            epoch=epoch,
            kind="batch",
            root=meta["root"],
            nodes=len(meta["nodes"]),
            tx=res.tx_hash,
            gas=res.gas_used,
        )
        return True
