"""The validator daemon's epoch loop (``oracle run``): challenge every registered node each epoch, sign
attestations (or faults), gather k signatures from the other validators, post them on chain.

Design
------
* **Epochs** are wall-clock windows: ``epoch = (now - genesis) // epoch_seconds + 1`` (1-based,
  because the registry wants strictly increasing epochs from 0). ``--epoch`` forces one.
* **Discovery** (:mod:`oracle.validator.nodes`): the active nodes registered in ComputeStaking;
  a node's ``metadataURI`` is its challenge endpoint.
* **Deterministic attestations** (:mod:`oracle.validator.attesting`): k validators aggregate
  signatures over byte-identical typed data, so what is signed is a pure function of the chain and
  of what the provider reports; ``expiry = genesis + epoch * epoch_seconds + validity_seconds``.
* **Gathering and leader.** Every validator serves what it signed at ``GET /signatures/<epoch>``
  (JSON, :mod:`oracle.validator.peers`). The *leader* of an epoch is the validator with the lowest
  address among those whose endpoint answered within the last ``failover_s`` seconds (itself
  included; sticky, so a crashed leader that restarts quickly keeps the role): it polls the
  others, aggregates k signatures per node (sorted by signer) and posts one ``submit`` (or
  ``reportFault``) per node (:mod:`oracle.validator.posting`), or in ``--mode batch`` one
  ``submitBatch`` root per epoch (:mod:`oracle.validator.batch`). The others watch the chain; if the leader has not posted
  everything within ``failover_s`` they post what is missing themselves. Posting twice is
  impossible by construction: before any post the poster checks the chain
  (``recordOf(node).epoch`` / ``faultReported``) and a second post of the same epoch would revert
  as stale anyway.
* **Latency flags** (:mod:`oracle.validator.latency_flags`): after its challenges, each validator
  classifies its own timings of the nodes it attested and signs a zero-slash fault for those that
  do not fit; it is gathered and posted like any fault, so it reaches the chain only from k.
* **Disputes** (:mod:`oracle.validator.disputes`): between epochs the daemon also judges every
  disputed job, signs its verdict, serves it at ``GET /verdicts/<jobId>`` and submits
  ``settleDispute`` once k validators agree.
* **Crash safety** (:mod:`oracle.journal`): every step is journaled (fsynced) before the next; a
  transaction's hash is journaled *before* it is sent, so a restarted validator waits for that
  transaction instead of posting again. A validator never signs two different messages for the
  same (epoch, node).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from prometheus_client import start_http_server

from oracle.attest import (
    Domain,
    sign_attestation,
    sign_fault,
)
from oracle.chain import ChainClient, ChainError
from oracle.deployment import Deployment, load_deployment
from oracle.errors import OracleError
from oracle.journal import Journal
from oracle.logs import unexpected
from oracle.validator.anomaly_view import AnomalyView
from oracle.validator.attesting import attestation_of, fault_json, fault_of
from oracle.validator.batch import REGISTRY, BatchRounds
from oracle.validator.config import ValidatorConfig
from oracle.validator.dispute_journal import DisputeRecord
from oracle.validator.latency_flags import EpochTimings, flag_fault
from oracle.validator.nodes import NodeInfo, discover_nodes
from oracle.validator.observability import Metrics
from oracle.validator.peers import PeerServer, fetch_signatures
from oracle.validator.posting import Posts
from oracle.validator.prober import ChallengeProber, Prober, ProbeResult, node_groups
from oracle.work.errors import WorkError

if TYPE_CHECKING:
    from oracle.validator.disputes import Disputes


class ValidatorSetupError(OracleError):
    """The validator cannot do useful work as configured (the message says what to change)."""


class Validator:
    def __init__(self, cfg: ValidatorConfig, prober: Prober | None = None):
        self.cfg = cfg
        self.account = cfg.account
        self.address = cfg.account.address
        self.log = logging.getLogger(f"oracle.validator.{self.address[:10]}")
        deployment = load_deployment(cfg.deployment_path)
        self.chain = ChainClient(cfg.rpc, deployment, cfg.account)
        registry = deployment.get(REGISTRY)
        self.domain = Domain(deployment.chain_id, registry.address)
        self.journal = Journal(cfg.journal_path)
        self.prober = (
            prober
            if prober is not None
            else ChallengeProber(
                cfg.challenge_n,
                cfg.samples,
                target_s=cfg.challenge_target_s,
                allowance_s=cfg.challenge_allowance_s,
            )
        )
        self.prober.bind(cfg.account, self.domain, self.is_oracle)
        self.metrics = Metrics()
        self.batch = BatchRounds(
            self.journal, self.chain, self.domain, self.account, self.metrics, self._log, self.is_oracle
        )
        self.posts = Posts(
            self.journal,
            self.chain,
            self.domain,
            self.address,
            self.metrics,
            self._log,
            self.is_oracle,
            self.batch,
            mode=cfg.mode,
            submit_delay=cfg.submit_delay,
        )
        self.disputes = self._disputes(cfg, deployment)
        self.anomaly = AnomalyView(self.chain, cfg.genesis, cfg.epoch_seconds)
        self.timings = EpochTimings()
        self.threshold = 0
        self._oracle_cache: dict[str, bool] = {}
        self._last_seen: dict[str, float] = {}
        self._server: PeerServer | None = None
        self._metrics_server = None
        self.finder = to_checksum_address(cfg.finder) if cfg.finder else "0x" + "00" * 20

    def _disputes(self, cfg: ValidatorConfig, deployment: Deployment) -> Disputes | None:
        if "JobEscrow" not in deployment.contracts:
            return None
        from oracle.validator.disputes import Disputes  # ONNX Runtime loads only where disputes are judged

        return Disputes(
            self.journal,
            self.chain,
            cfg.account,
            self._log,
            self.is_oracle,
            cfg.blob_dir or Path(cfg.journal_path).with_suffix(".blobs"),
            manifest_sources=cfg.manifest_sources,
            ipfs_gateway=cfg.ipfs_gateway,
            device=cfg.dispute_device,
            open_grace_s=cfg.open_grace_s,
            failover_s=cfg.failover_s,
            metrics=self.metrics,
        )

    def _log(self, event: str, level: int = logging.INFO, **fields: Any) -> None:
        self.log.log(level, {"event": event, "validator": self.address, **fields})

    # -- serving: signatures, proofs, metrics -------------------------------------------------

    def start(self) -> str:
        """Start the signature server (and metrics); returns the server's base URL."""
        self._server = PeerServer(
            self.cfg.listen_host,
            self.cfg.listen_port,
            self.address,
            self.signatures_document,
            self.batch.proofs_document,
            self.anomaly.document,
            self.verdicts_document,
        )
        if self.cfg.metrics_port is not None:
            self._metrics_server, _ = start_http_server(
                self.cfg.metrics_port, addr=self.cfg.listen_host, registry=self.metrics.registry
            )
        self.url = self._server.url
        self._log("listening", url=self.url, metrics_port=self.cfg.metrics_port)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self.journal.close()

    def signatures_document(self, epoch: int) -> dict[str, Any]:
        atts, faults = [], []
        for e in self.journal.entries(epoch, min_state="signed"):
            if e.kind == "attest":
                atts.append({"signer": self.address, "signature": e.signature, "attestation": e.payload})
            else:
                faults.append({"signer": self.address, "signature": e.signature, "fault": e.payload})
        doc: dict[str, Any] = {
            "validator": self.address,
            "epoch": epoch,
            "attestations": atts,
            "faults": faults,
        }
        batch = self.batch.public(epoch)
        if batch is not None:
            doc["batch"] = batch
        return doc

    def proofs_document(self, epoch: int) -> dict[str, Any]:
        return self.batch.proofs_document(epoch)

    def verdicts_document(self, job_id: int) -> dict[str, Any] | None:
        return None if self.disputes is None else self.disputes.document(job_id)

    # -- epochs -------------------------------------------------------------------------------

    def current_epoch(self) -> int:
        now = self.chain.block_timestamp()
        return max(1, (now - self.cfg.genesis) // self.cfg.epoch_seconds + 1)

    def expiry_of(self, epoch: int) -> int:
        return self.cfg.genesis + epoch * self.cfg.epoch_seconds + self.cfg.validity_seconds

    def discover(self) -> list[NodeInfo]:
        return discover_nodes(self.chain)

    def check_membership(self) -> None:
        """Refuse to start with a key that is not in the oracle set: such a validator signs what
        no contract accepts, and would otherwise run silently and report nothing done."""
        if not self.is_oracle(self.address):
            count = self.chain.call(REGISTRY, "oracleCount")
            raise ValidatorSetupError(
                f"{self.address} is not in the AttestationRegistry's oracle set ({count} oracles): its signatures would "
                "count for nothing. Use a key that governance added (oracle keys list), or ask governance "
                "for a proposal that adds this address to the oracle set"
            )

    def is_oracle(self, address: str) -> bool:
        if address not in self._oracle_cache:
            self._oracle_cache[address] = bool(self.chain.call(REGISTRY, "isOracle", address))
        return self._oracle_cache[address]

    # -- step 1: challenge and sign ---------------------------------------------------------------

    def _sign_group(self, epoch: int, nodes: list[NodeInfo]) -> None:
        """Challenge the nodes of one group at the same moment (:func:`node_groups`), then sign."""
        todo = []
        for node in nodes:
            if any(
                (e := self.journal.get(epoch, node.key, kind)) is not None and e.signature is not None
                for kind in ("attest", "fault")
            ):
                continue  # signed before a restart: never sign again
            if self.journal.get(epoch, node.key, "attest") is None:
                self.journal.advance(epoch, node.key, "challenged")
            todo.append(node)
        if not todo:
            return
        try:
            results = self.prober.probe_group(todo, epoch)
        except Exception as exc:  # noqa: BLE001 - a broken provider must not stop the epoch
            results = {n.key: ProbeResult(False, f"probe crashed: {exc}", reachable=False) for n in todo}
        for node in todo:
            missing = ProbeResult(False, "probe gave no result", reachable=False)
            self._sign_node(epoch, node, results.get(node.key, missing))

    def _sign_node(self, epoch: int, node: NodeInfo, result: ProbeResult) -> None:
        label = "ok" if result.ok else ("failed" if result.reachable else "unreachable")
        self.metrics.challenges.labels(label).inc()
        self.journal.advance(epoch, node.key, "verdict", note=f"{label}: {result.reason}"[:500])
        self._log("challenge", epoch=epoch, node=node.key, result=label, reason=result.reason)
        if result.ok and result.figures is not None:
            anomaly = self.anomaly.judge(epoch, node, result.figures)
            for kind in sorted(anomaly.kinds()):
                self.metrics.anomalies.labels(kind).inc()
            if anomaly.flagged:
                self._log("anomaly", epoch=epoch, node=node.key, multiplier_ppm=anomaly.multiplier_ppm)
            self.timings.record(epoch, node, result.timings)
            att = attestation_of(node, epoch, result.figures, self.expiry_of(epoch), anomaly)
            sig = sign_attestation(self.account.key, self.domain, att)
            self.journal.advance(
                epoch, node.key, "signed", payload=att.to_json(), signature="0x" + sig.signature.hex()
            )
        elif result.reachable:
            fault = fault_of(node, epoch, self.cfg.slash_amount, self.finder)
            sig = sign_fault(self.account.key, self.domain, fault)
            self.journal.advance(
                epoch,
                node.key,
                "signed",
                kind="fault",
                payload=fault_json(fault),
                signature="0x" + sig.signature.hex(),
            )

    def _sign_latency_flags(self, epoch: int) -> None:
        """A zero-slash fault for each node whose timings this epoch do not fit (its own view,
        :mod:`oracle.validator.latency_flags`); on chain only once k validators signed the same."""
        for node, kind in self.timings.flags(epoch, self.address):
            if self.journal.get(epoch, node.key, "fault") is None:
                flag = flag_fault(node, epoch, kind)
                sig = "0x" + sign_fault(self.account.key, self.domain, flag).signature.hex()
                self.journal.advance(
                    epoch, node.key, "signed", kind="fault", payload=fault_json(flag), signature=sig
                )
                self.metrics.anomalies.labels(f"{kind}_flag").inc()
                self._log("latency_flag", epoch=epoch, node=node.key, kind=kind)

    # -- step 2: gather and post ---------------------------------------------------------------

    def _peer_documents(self, epoch: int) -> list[dict[str, Any]]:
        docs = []
        for peer in self.cfg.peers:
            try:
                docs.append(fetch_signatures(peer, epoch))
            except Exception as exc:  # noqa: BLE001 - a peer being down is normal
                self._log("peer_unreachable", logging.DEBUG, peer=peer, error=str(exc))
        return docs

    def _is_leader(self, docs: list[dict[str, Any]]) -> bool:
        """Lowest address among the validators seen up within the last ``failover_s`` seconds
        (sticky: a leader that crashes keeps the role for ``failover_s``, time to restart)."""
        now = time.monotonic()
        for d in docs:
            if "validator" in d:
                self._last_seen[to_checksum_address(d["validator"])] = now
        up = {a for a, t in self._last_seen.items() if now - t < self.cfg.failover_s and self.is_oracle(a)}
        up.add(self.address)
        return min(up, key=lambda a: int(a, 16)) == self.address

    # -- one epoch --------------------------------------------------------------------------------

    def run_epoch(self, epoch: int | None = None) -> dict[str, Any]:
        """Challenge, sign, gather, post; returns a summary."""
        t0 = time.monotonic()
        epoch = self.current_epoch() if epoch is None else epoch
        self.threshold = int(self.chain.call(REGISTRY, "threshold"))
        self.posts.reopen_rolled_back(epoch)
        nodes = self.discover()
        self.anomaly.model(epoch)  # learned once, before the workers judge
        self._log("epoch_start", epoch=epoch, nodes=len(nodes), threshold=self.threshold)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.workers)) as pool:
            list(pool.map(lambda group: self._sign_group(epoch, group), node_groups(nodes)))
        self._sign_latency_flags(epoch)
        batch_mode = self.cfg.mode == "batch"
        if batch_mode:
            self.batch.sign(epoch, self.expiry_of(epoch))
        start = time.monotonic()
        deadline = start + self.cfg.collect_timeout
        failover_at = start + self.cfg.failover_s
        batch_fallback_at = start + self.cfg.collect_timeout / 2
        while True:
            docs = self._peer_documents(epoch)
            if self._is_leader(docs) or time.monotonic() >= failover_at:
                batch_done = self.batch.gather(epoch, docs, self.threshold) if batch_mode else True
                # Without a quorum on the root in time, post attestations one by one instead.
                single = not batch_mode or (not batch_done and time.monotonic() >= batch_fallback_at)
                remaining = self.posts.gather_and_post(
                    epoch, docs, self.threshold, single_attestations=single
                )
                remaining += 0 if batch_done else 1
            else:
                remaining = 0 if self.posts.all_on_chain(epoch) else 1
            if remaining == 0 or time.monotonic() >= deadline:
                break
            time.sleep(self.cfg.poll_s)
        entries = self.journal.entries(epoch)
        summary = {
            "epoch": epoch,
            "nodes": len(nodes),
            "signed": sum(1 for e in entries if e.signature),
            # What this validator signed that is now on chain (posted by it or by a peer).
            "confirmed": sum(1 for e in entries if e.state == "confirmed" and e.signature),
            "faults": sum(1 for e in entries if e.kind == "fault" and e.signature),  # latency flags too
            "seconds": round(time.monotonic() - t0, 3),
        }
        self.metrics.epochs.inc()
        self.metrics.last_epoch.set(epoch)
        self._log("epoch_done", **summary)
        return summary

    def settle_disputes(self) -> list[DisputeRecord]:
        """One pass over the escrow's disputes: judge, sign, exchange, submit (see the module)."""
        if self.disputes is None:
            return []
        self.disputes.peers = list(self.cfg.peers)
        return self.disputes.poll(int(self.chain.call(REGISTRY, "threshold")))

    def run(self, once: bool = False, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        last = None
        while not stop.is_set():
            epoch = last
            try:
                epoch = self.current_epoch()  # inside the try: an RPC outage must not end the daemon
                if epoch != last:
                    self.run_epoch(epoch)
                    last = epoch
                elif self.posts.reopen_rolled_back(epoch):  # a reorg undid posts of this epoch
                    self.run_epoch(epoch)
            except Exception as exc:  # noqa: BLE001 - an RPC outage or a surprise: the journal resumes it
                self.metrics.errors.labels("epoch").inc()
                error = str(exc) if isinstance(exc, ChainError) else unexpected(exc)
                self._log("epoch_failed", logging.ERROR, epoch=epoch, error=error)
            try:
                self.settle_disputes()
            except Exception as exc:  # noqa: BLE001 - as above: the dispute journal resumes it next round
                self.metrics.errors.labels("dispute").inc()
                error = str(exc) if isinstance(exc, (ChainError, WorkError)) else unexpected(exc)
                self._log("disputes_failed", logging.ERROR, error=error)
            if once:
                return
            stop.wait(min(30.0, self.cfg.epoch_seconds / 10))
