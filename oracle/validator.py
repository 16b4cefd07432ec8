"""The validator daemon (``oracle run``): challenge every registered node each epoch, sign
attestations (or faults), gather k signatures from the other validators, post them on chain.

Design
------
* **Epochs** are wall-clock windows: ``epoch = (now - genesis) // epoch_seconds + 1`` (1-based,
  because the registry wants strictly increasing epochs from 0). ``--epoch`` forces one.
* **Discovery**: ``NodeRegistered`` events of ComputeStaking, filtered by ``nodeInfo(...).active``.
  A node's ``metadataURI`` is its challenge endpoint (``http://host:port``).
* **Deterministic attestations.** k validators can only aggregate signatures over byte-identical
  typed data, so an attestation holds nothing validator-specific: provider, node, GPU model and
  VRAM as registered on chain; TFLOPS / bandwidth / power as the provider reports them (its
  benchmark, which the challenge deadline holds it to); ``score`` a pure function of those
  figures (:func:`score_of`); ``reportHash`` the keccak of the canonical JSON of the reported
  benchmark; ``expiry = genesis + epoch * epoch_seconds + validity_seconds``. A failed challenge
  gives a :class:`~oracle.attest.Fault` instead, with fixed reason hash, slash amount and finder.
* **Gathering and leader.** Every validator serves what it signed at
  ``GET /signatures/<epoch>`` (JSON). The *leader* of an epoch is the validator with the lowest
  address among those whose endpoint answered within the last ``failover_s`` seconds (itself
  included; sticky, so a crashed leader that restarts quickly keeps the role): it polls the
  others, aggregates k signatures per node (sorted by signer) and posts one ``submit`` (or
  ``reportFault``) per node, or in ``--mode batch`` one ``submitBatch`` root per epoch (every
  validator signs the root over its attestations sorted by node id; proofs are served at
  ``GET /proofs/<epoch>``). The others watch the chain; if the leader has not posted everything
  within ``failover_s`` they post what is missing themselves. Posting twice is impossible by construction: before any post
  the poster checks the chain (``recordOf(node).epoch`` / ``faultReported``) and a second post of
  the same epoch would revert as stale anyway.
* **Crash safety** (:mod:`oracle.journal`): every step is journaled (fsynced) before the next; a
  transaction's hash is journaled *before* it is sent, so a restarted validator waits for that
  transaction instead of posting again. A validator never signs two different messages for the
  same (epoch, node).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from oracle.attest import (
    UINT32_MAX,
    Attestation,
    AttestError,
    Batch,
    Domain,
    Fault,
    MerkleTree,
    Signature,
    aggregate,
    attestation_digest,
    attestation_struct_hash,
    batch_digest,
    encode_score_proof,
    fault_digest,
    fault_struct_hash,
    gpu_model_bytes32,
    sign_attestation,
    sign_batch,
    sign_fault,
    tflops_fixed,
)
from oracle.chain import ChainClient, ChainError, ContractRevert, load_deployment
from oracle.journal import Journal

REGISTRY = "AttestationRegistry"
STAKING = "ComputeStaking"
FAULT_REASON = keccak(text="oracle.challenge.failed")


class ValidatorError(Exception):
    """The validator cannot run as configured (the message says what to change)."""


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    provider: str
    node_id: bytes
    gpu_model: str
    vram_mib: int
    endpoint: str

    @property
    def key(self) -> str:
        return "0x" + self.node_id.hex()


@dataclass(frozen=True)
class Figures:
    """What the provider reports from its benchmark (TFLOPS per precision, GB/s, W)."""

    fp32: float
    tf32: float
    fp16: float
    bf16: float
    mem_bandwidth_gbps: float
    power_w: float

    def to_json(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass
class ProbeResult:
    """Outcome of challenging one node: ``ok`` False with ``reachable`` True is a fault."""

    ok: bool
    reason: str
    figures: Figures | None = None
    reachable: bool = True
    report: dict[str, Any] = field(default_factory=dict)


class Prober(Protocol):
    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult: ...


def score_of(f: Figures) -> int:
    """The node's score: :func:`oracle.bench.score_from` (the protocol's benchmark score) over
    the attested figures only (fp32, tf32, fp16, bf16 and bandwidth; fp64 is not attested), so
    anyone can recompute it from the attestation. Pure, so every validator agrees."""
    from oracle.bench import score_from

    gflops = {"fp32": f.fp32 * 1000, "tf32": f.tf32 * 1000, "fp16": f.fp16 * 1000, "bf16": f.bf16 * 1000}
    return score_from(gflops, f.mem_bandwidth_gbps)


def report_hash(node: NodeInfo, epoch: int, figures: Figures) -> bytes:
    doc = {"epoch": epoch, "nodeId": node.key, "provider": node.provider, "benchmark": figures.to_json()}
    return keccak(text=json.dumps(doc, sort_keys=True, separators=(",", ":")))


# ------------------------------------------------------------------------------------------
# Configuration and metrics
# ------------------------------------------------------------------------------------------


@dataclass
class ValidatorConfig:
    deployment_path: str
    rpc: Any  # URL or a Web3 instance
    account: LocalAccount
    journal_path: str
    peers: Sequence[str] = ()
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    metrics_port: int | None = None
    genesis: int = 0
    epoch_seconds: int = 3600
    validity_seconds: int = 2 * 3600
    slash_amount: int = 100 * 10**18
    finder: str | None = None  # default: the fault is paid to no one in particular (treasury)
    challenge_n: int = 64
    samples: int = 8
    workers: int = 8
    collect_timeout: float = 60.0
    failover_s: float = 30.0
    poll_s: float = 0.2
    submit_delay: float = 0.0  # testing aid: pause between posts
    mode: str = "single"  # "single": one submit per node; "batch": one quorum-signed Merkle root per epoch


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.epochs = Counter("oracle_epochs", "epochs completed", registry=self.registry)
        self.challenges = Counter(
            "oracle_challenges", "challenges by result", ["result"], registry=self.registry
        )
        self.submissions = Counter(
            "oracle_submissions", "transactions posted", ["kind"], registry=self.registry
        )
        self.tx_gas = Histogram(
            "oracle_tx_gas",
            "gas used per posted transaction",
            buckets=(30_000, 60_000, 90_000, 120_000, 200_000, 400_000, 1_000_000),
            registry=self.registry,
        )
        self.errors = Counter("oracle_errors", "errors by stage", ["stage"], registry=self.registry)
        self.last_epoch = Gauge("oracle_last_epoch", "last epoch completed", registry=self.registry)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name}
        msg = record.msg
        if isinstance(msg, dict):
            doc.update(msg)
        else:
            doc["msg"] = record.getMessage()
        return json.dumps(doc, default=str)


def setup_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("oracle")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


# ------------------------------------------------------------------------------------------
# The validator
# ------------------------------------------------------------------------------------------


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
        self.prober = prober if prober is not None else ChallengeProber(cfg.challenge_n, cfg.samples)
        self.metrics = Metrics()
        self.threshold = 0
        self._oracle_cache: dict[str, bool] = {}
        self._last_seen: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None
        self._metrics_server = None
        self.finder = to_checksum_address(cfg.finder) if cfg.finder else "0x" + "00" * 20

    # -- logging ----------------------------------------------------------------------------

    def _log(self, event: str, level: int = logging.INFO, **fields: Any) -> None:
        self.log.log(level, {"event": event, "validator": self.address, **fields})

    # -- HTTP: /signatures/<epoch>, /health --------------------------------------------------

    def start(self) -> str:
        """Start the signature server (and metrics); returns the server's base URL."""
        validator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep stderr for JSON logs only
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = [p for p in self.path.split("/") if p]
                if parts == ["health"]:
                    body = {"validator": validator.address}
                elif len(parts) == 2 and parts[0] == "signatures" and parts[1].isdigit():
                    body = validator.signatures_document(int(parts[1]))
                elif len(parts) == 2 and parts[0] == "proofs" and parts[1].isdigit():
                    body = validator.proofs_document(int(parts[1]))
                else:
                    self.send_error(404, "use /health, /signatures/<epoch> or /proofs/<epoch>")
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.cfg.listen_host, self.cfg.listen_port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        if self.cfg.metrics_port is not None:
            self._metrics_server, _ = start_http_server(
                self.cfg.metrics_port, addr=self.cfg.listen_host, registry=self.metrics.registry
            )
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._log("listening", url=self.url, metrics_port=self.cfg.metrics_port)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
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
        batch = self._batch_meta(epoch)
        if batch is not None:
            doc["batch"] = {k: batch[k] for k in ("root", "epoch", "expiry", "signer", "signature")}
        return doc

    # -- batches ----------------------------------------------------------------------------

    def _batch_meta(self, epoch: int) -> dict[str, Any] | None:
        raw = self.journal.meta(f"batch:{epoch}")
        return json.loads(raw) if raw else None

    def _batch_tree(self, epoch: int) -> tuple[dict[str, Any], list[Attestation], MerkleTree] | None:
        meta = self._batch_meta(epoch)
        if meta is None:
            return None
        by_node = {e.node: e.payload for e in self.journal.entries(epoch, kind="attest", min_state="signed")}
        atts = [Attestation.from_json(by_node[n]) for n in meta["nodes"]]
        return meta, atts, MerkleTree.build([attestation_struct_hash(a) for a in atts])

    def _sign_batch(self, epoch: int) -> None:
        """Sign one Merkle root over every attestation this validator signed this epoch (leaves
        sorted by node id, so validators that agree on the attestations agree on the root).
        Signed once per epoch, journaled, never re-signed."""
        if self._batch_meta(epoch) is not None:
            return
        entries = sorted(self.journal.entries(epoch, kind="attest", min_state="signed"), key=lambda e: e.node)
        if not entries:
            return
        atts = [Attestation.from_json(e.payload) for e in entries]
        tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
        batch = Batch(tree.root, epoch, self.expiry_of(epoch))
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
        """Merkle proofs of this validator's batch (``scoreProof`` is what JobEscrow's acceptJob
        passes to ``checkScore``)."""
        built = self._batch_tree(epoch)
        if built is None:
            return {"epoch": epoch, "root": None, "proofs": []}
        meta, atts, tree = built
        state = json.loads(self.journal.meta(f"batch-state:{epoch}") or "{}")
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
            "onChain": state.get("state") == "confirmed",
            "proofs": proofs,
        }

    def _batch_on_chain(self, root_hex: str) -> bool:
        info = self.chain.call(REGISTRY, "batchOf", bytes.fromhex(root_hex[2:]))
        return int(info[1]) != 0

    def _confirm_batch(self, epoch: int, meta: dict[str, Any], tx_hash: str | None, note: str) -> None:
        self.journal.set_meta(f"batch-state:{epoch}", json.dumps({"state": "confirmed", "tx": tx_hash}))
        for node in meta["nodes"]:
            e = self.journal.get(epoch, node, "attest")
            if e is not None and e.state != "confirmed":
                self.journal.advance(epoch, node, "confirmed", note=note)

    def _gather_batch(self, epoch: int, docs: list[dict[str, Any]]) -> bool:
        """Post this epoch's batch root once it has k signatures; True when it is on chain."""
        meta = self._batch_meta(epoch)
        if meta is None:
            return True
        state = json.loads(self.journal.meta(f"batch-state:{epoch}") or "{}")
        if state.get("state") == "confirmed":
            return True
        if state.get("state") == "submitted" and state.get("tx"):
            receipt = self.chain.receipt(state["tx"])
            if receipt is not None and receipt["status"] == 1:
                self._confirm_batch(epoch, meta, state["tx"], "in batch")
                return True
        if self._batch_on_chain(meta["root"]):
            self._confirm_batch(epoch, meta, None, "batch posted by another validator")
            return True
        sigs = [Signature(self.address, bytes.fromhex(meta["signature"][2:]))]
        for d in docs:
            b = d.get("batch")
            if (
                isinstance(b, dict)
                and b.get("root") == meta["root"]
                and self.is_oracle(to_checksum_address(b["signer"]))
            ):
                sigs.append(Signature.from_json(b))
        batch = Batch(bytes.fromhex(meta["root"][2:]), epoch, int(meta["expiry"]))
        try:
            agg = aggregate(sigs, self.threshold, digest=batch_digest(self.domain, batch))
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
                self._confirm_batch(epoch, meta, None, "batch posted by another validator")
                return True
            self.metrics.errors.labels("post").inc()
            self._log("batch_failed", logging.ERROR, epoch=epoch, error=str(exc))
            return False
        self._confirm_batch(epoch, meta, res.tx_hash, "in batch")
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

    # -- epochs -------------------------------------------------------------------------------

    def current_epoch(self) -> int:
        now = self.chain.block_timestamp()
        return max(1, (now - self.cfg.genesis) // self.cfg.epoch_seconds + 1)

    def expiry_of(self, epoch: int) -> int:
        return self.cfg.genesis + epoch * self.cfg.epoch_seconds + self.cfg.validity_seconds

    def discover(self) -> list[NodeInfo]:
        """Active nodes from NodeRegistered events (current state from nodeInfo)."""
        seen: dict[bytes, NodeInfo] = {}
        for log in self.chain.events(STAKING, "NodeRegistered"):
            node_id = bytes(log["args"]["nodeId"])
            owner, gpu, vram, uri, active = self.chain.call(STAKING, "nodeInfo", node_id)
            if active:
                seen[node_id] = NodeInfo(to_checksum_address(owner), node_id, gpu, int(vram), uri)
            else:
                seen.pop(node_id, None)
        return list(seen.values())

    def is_oracle(self, address: str) -> bool:
        if address not in self._oracle_cache:
            self._oracle_cache[address] = bool(self.chain.call(REGISTRY, "isOracle", address))
        return self._oracle_cache[address]

    # -- step 1: challenge and sign ---------------------------------------------------------------

    def _sign_node(self, epoch: int, node: NodeInfo) -> None:
        for kind in ("attest", "fault"):
            e = self.journal.get(epoch, node.key, kind)
            if e is not None and e.signature is not None:
                return  # signed before a restart: never sign again
        if self.journal.get(epoch, node.key, "attest") is None:
            self.journal.advance(epoch, node.key, "challenged")
        try:
            result = self.prober.probe(node, epoch)
        except Exception as exc:  # noqa: BLE001 - a broken provider must not stop the epoch
            result = ProbeResult(False, f"probe crashed: {exc}", reachable=False)
        label = "ok" if result.ok else ("failed" if result.reachable else "unreachable")
        self.metrics.challenges.labels(label).inc()
        self.journal.advance(epoch, node.key, "verdict", note=f"{label}: {result.reason}"[:500])
        self._log("challenge", epoch=epoch, node=node.key, result=label, reason=result.reason)
        if result.ok and result.figures is not None:
            f = result.figures
            att = Attestation(
                provider=node.provider,
                nodeId=node.node_id,
                gpuModel=gpu_model_bytes32(node.gpu_model),
                vramMiB=node.vram_mib,
                fp32=tflops_fixed(f.fp32),
                tf32=tflops_fixed(f.tf32),
                fp16=tflops_fixed(f.fp16),
                bf16=tflops_fixed(f.bf16),
                memBandwidth=max(0, min(UINT32_MAX, round(f.mem_bandwidth_gbps))),
                powerW=max(0, min(UINT32_MAX, round(f.power_w))),
                score=score_of(f),
                epoch=epoch,
                reportHash=report_hash(node, epoch, f),
                expiry=self.expiry_of(epoch),
            )
            sig = sign_attestation(self.account.key, self.domain, att)
            self.journal.advance(
                epoch, node.key, "signed", payload=att.to_json(), signature="0x" + sig.signature.hex()
            )
        elif result.reachable:
            fault = Fault(
                node.provider, node.node_id, epoch, FAULT_REASON, self.cfg.slash_amount, self.finder
            )
            sig = sign_fault(self.account.key, self.domain, fault)
            self.journal.advance(
                epoch,
                node.key,
                "signed",
                kind="fault",
                payload=_fault_json(fault),
                signature="0x" + sig.signature.hex(),
            )

    # -- step 2: gather and post ---------------------------------------------------------------

    def _peer_documents(self, epoch: int) -> list[dict[str, Any]]:
        docs = []
        for peer in self.cfg.peers:
            try:
                with urllib.request.urlopen(f"{peer.rstrip('/')}/signatures/{epoch}", timeout=2) as r:
                    docs.append(json.loads(r.read()))
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

    def _on_chain_done(self, epoch: int, kind: str, payload: dict[str, Any]) -> bool:
        if kind == "attest":
            rec = self.chain.call(REGISTRY, "recordOf", bytes.fromhex(payload["nodeId"][2:]))
            return int(rec[1]) >= epoch
        return bool(self.chain.call(REGISTRY, "faultReported", fault_struct_hash(_fault_from_json(payload))))

    def _post(self, epoch: int, entry, sigs: list[bytes]) -> None:
        kind = entry.kind
        # A hash journaled before a crash: wait for that transaction rather than sending again.
        if entry.state == "submitted" and entry.tx_hash:
            receipt = self.chain.receipt(entry.tx_hash)
            if receipt is not None and receipt["status"] == 1:
                self.journal.advance(epoch, entry.node, "confirmed", kind=kind)
                return
        if self._on_chain_done(epoch, kind, entry.payload):
            self.journal.advance(epoch, entry.node, "confirmed", kind=kind, note="already on chain")
            return

        def journal_hash(tx_hash: str) -> None:
            self.journal.advance(epoch, entry.node, "submitted", kind=kind, tx_hash=tx_hash)

        if kind == "attest":
            att = Attestation.from_json(entry.payload)
            res = self.chain.transact(REGISTRY, "submit", att.as_tuple(), sigs, on_signed=journal_hash)
        else:
            fault = _fault_from_json(entry.payload)
            res = self.chain.transact(REGISTRY, "reportFault", fault.as_tuple(), sigs, on_signed=journal_hash)
        self.journal.advance(epoch, entry.node, "confirmed", kind=kind, tx_hash=res.tx_hash)
        self.metrics.submissions.labels(kind).inc()
        self.metrics.tx_gas.observe(res.gas_used)
        self._log("posted", epoch=epoch, node=entry.node, kind=kind, tx=res.tx_hash, gas=res.gas_used)
        if self.cfg.submit_delay:
            time.sleep(self.cfg.submit_delay)

    def _gather_and_post(
        self, epoch: int, docs: list[dict[str, Any]], single_attestations: bool = True
    ) -> int:
        """Post every entry of this epoch that has k matching signatures; returns how many
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
                else fault_digest(self.domain, _fault_from_json(e.payload))
            )
            own = Signature(self.address, bytes.fromhex(e.signature[2:]))
            candidates = [own] + theirs.get((e.kind, json.dumps(e.payload, sort_keys=True)), [])
            candidates = [s for s in candidates if self.is_oracle(to_checksum_address(s.signer))]
            try:
                sigs = aggregate(candidates, self.threshold, digest=digest)
            except AttestError:
                open_count += 1
                continue
            try:
                self._post(epoch, e, sigs)
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

    def _all_on_chain(self, epoch: int) -> bool:
        meta = self._batch_meta(epoch) if self.cfg.mode == "batch" else None
        if meta is not None and self._batch_on_chain(meta["root"]):
            self._confirm_batch(epoch, meta, None, "batch posted by the leader")
        done = True
        for e in self.journal.entries(epoch, min_state="signed"):
            if e.state == "confirmed":
                continue
            if self._on_chain_done(epoch, e.kind, e.payload):
                self.journal.advance(epoch, e.node, "confirmed", kind=e.kind, note="posted by the leader")
            else:
                done = False
        return done

    def _reopen_rolled_back(self, epoch: int) -> int:
        """Posts journaled as submitted/confirmed that the chain no longer holds (a reorg, or a node
        restarted from older state) go back to ``signed`` so that they are posted again, once.
        Batched attestations are checked through their root, so only single posts are looked at."""
        reopened = 0
        for e in self.journal.entries(epoch, min_state="submitted"):
            if e.kind == "attest" and self.cfg.mode != "single":
                continue
            if e.state == "submitted" and e.tx_hash:
                continue  # _post waits for that transaction (or re-sends if the node lost it)
            if self._on_chain_done(epoch, e.kind, e.payload):
                continue
            self.journal.reopen(epoch, e.node, e.kind, note=f"rolled back (was {e.state} in {e.tx_hash})")
            self._log("rolled_back", logging.WARNING, epoch=epoch, node=e.node, kind=e.kind, tx=e.tx_hash)
            reopened += 1
        if reopened and self.chain.nonces is not None:
            self.chain.nonces.resync()
        return reopened

    # -- one epoch --------------------------------------------------------------------------------

    def run_epoch(self, epoch: int | None = None) -> dict[str, Any]:
        """Challenge, sign, gather, post; returns a summary."""
        t0 = time.monotonic()
        epoch = self.current_epoch() if epoch is None else epoch
        self.threshold = int(self.chain.call(REGISTRY, "threshold"))
        self._reopen_rolled_back(epoch)
        nodes = self.discover()
        self._log("epoch_start", epoch=epoch, nodes=len(nodes), threshold=self.threshold)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.workers)) as pool:
            list(pool.map(lambda n: self._sign_node(epoch, n), nodes))
        batch_mode = self.cfg.mode == "batch"
        if batch_mode:
            self._sign_batch(epoch)
        start = time.monotonic()
        deadline = start + self.cfg.collect_timeout
        failover_at = start + self.cfg.failover_s
        batch_fallback_at = start + self.cfg.collect_timeout / 2
        while True:
            docs = self._peer_documents(epoch)
            if self._is_leader(docs) or time.monotonic() >= failover_at:
                batch_done = self._gather_batch(epoch, docs) if batch_mode else True
                # Without a quorum on the root in time, post attestations one by one instead.
                single = not batch_mode or (not batch_done and time.monotonic() >= batch_fallback_at)
                remaining = self._gather_and_post(epoch, docs, single_attestations=single)
                remaining += 0 if batch_done else 1
            else:
                remaining = 0 if self._all_on_chain(epoch) else 1
            if remaining == 0 or time.monotonic() >= deadline:
                break
            time.sleep(self.cfg.poll_s)
        entries = self.journal.entries(epoch)
        summary = {
            "epoch": epoch,
            "nodes": len(nodes),
            "signed": sum(1 for e in entries if e.signature),
            "confirmed": sum(1 for e in entries if e.state == "confirmed"),
            "faults": sum(1 for e in entries if e.kind == "fault" and e.signature),
            "seconds": round(time.monotonic() - t0, 3),
        }
        self.metrics.epochs.inc()
        self.metrics.last_epoch.set(epoch)
        self._log("epoch_done", **summary)
        return summary

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
                elif self._reopen_rolled_back(epoch):  # a reorg undid posts of this epoch
                    self.run_epoch(epoch)
            except ChainError as exc:
                self.metrics.errors.labels("epoch").inc()
                self._log("epoch_failed", logging.ERROR, epoch=epoch, error=str(exc))
            if once:
                return
            stop.wait(min(30.0, self.cfg.epoch_seconds / 10))


def _fault_json(f: Fault) -> dict[str, Any]:
    return {
        "provider": f.provider,
        "nodeId": "0x" + f.nodeId.hex(),
        "epoch": f.epoch,
        "reasonHash": "0x" + f.reasonHash.hex(),
        "slashAmount": str(f.slashAmount),
        "finder": f.finder,
    }


def _fault_from_json(d: dict[str, Any]) -> Fault:
    return Fault(
        d["provider"], d["nodeId"], int(d["epoch"]), d["reasonHash"], int(d["slashAmount"]), d["finder"]
    )


# ------------------------------------------------------------------------------------------
# The default prober: oraclepy's challenge protocol over HTTP
# ------------------------------------------------------------------------------------------


class ChallengeProber:
    """Challenges a provider through :mod:`oracle.server` (``ProviderClient`` + ``run_challenge``,
    the CPU/GPU protocol of :mod:`oracle.challenge`) and takes the benchmark figures the provider
    reports in its ``GET /inventory`` (key ``benchmark``, see :func:`figures_from_benchmark`).

    A provider that reports no benchmark is attested with the published peaks of its registered
    GPU model (:data:`oracle.bench.PEAKS`; zeros for an unknown model), which is still the same for
    every validator. Unreachable (no inventory answer) is not a fault; a wrong, late or missing
    challenge answer from a provider that is up is.

    Every challenge gets a fresh ``seed`` (its ``A``); all challenges of one epoch share a
    ``b_seed`` (their ``B``) drawn from OS entropy when the epoch is first probed, so the O(n^2)
    part of the check (:class:`oracle.challenge.ProjectionKey`) is paid once per epoch."""

    def __init__(self, n: int = 64, samples: int = 8, timeout: float = 10.0):
        from oracle.challenge import ProjectionKeys

        self.n = n
        self.samples = samples
        self.timeout = timeout
        self._keys = ProjectionKeys(keep=2)
        self._b_seeds: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def epoch_b_seed(self, epoch: int) -> bytes:
        """The ``b_seed`` of ``epoch`` (random, drawn once; the two newest epochs are kept)."""
        with self._lock:
            if epoch not in self._b_seeds:
                self._b_seeds[epoch] = secrets.token_bytes(32)
                for old in sorted(self._b_seeds)[:-2]:
                    del self._b_seeds[old]
            return self._b_seeds[epoch]

    def probe(self, node: NodeInfo, epoch: int) -> ProbeResult:
        from oracle import challenge as ch
        from oracle import server

        if not node.endpoint.startswith(("http://", "https://")):
            return ProbeResult(
                False, f"metadataURI {node.endpoint!r} is not an http(s) endpoint", reachable=False
            )
        client = server.ProviderClient(node.endpoint, timeout=self.timeout)
        try:
            inventory = client.inventory()
        except server.ProviderUnreachable as exc:
            return ProbeResult(False, f"unreachable: {exc}", reachable=False)
        except server.ProviderError as exc:  # it accepted the connection: a broken answer is a fault
            return ProbeResult(False, f"bad inventory answer: {exc}", reachable=True)
        bench = inventory.get("benchmark") if isinstance(inventory, dict) else None
        figures = figures_from_benchmark(bench) or published_figures(node.gpu_model)
        claimed = max(1e9, figures.fp32 * 1e12)
        challenge = ch.new_challenge(
            self.n,
            "fp32",
            claimed,
            rows=self.n,
            tolerance=3.0,
            allowance_s=2.0,
            b_seed=self.epoch_b_seed(epoch),
        )
        key = self._keys.for_challenge(challenge) if self.samples > 0 else None
        verdict = server.run_challenge(client, challenge, self.samples, key=key)
        report = verdict.to_json()
        return ProbeResult(bool(verdict.ok), verdict.reason, figures, not verdict.unreachable, report)


def published_figures(gpu_model: str) -> Figures:
    """The published dense peaks of a GPU model (oracle.bench.PEAKS), zeros when unknown."""
    from oracle.bench import lookup_peaks

    peaks = lookup_peaks(gpu_model)
    if peaks is None:
        return Figures(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t = peaks.tflops
    return Figures(
        t.get("fp32", 0.0),
        t.get("tf32", 0.0),
        t.get("fp16", 0.0),
        t.get("bf16", 0.0),
        peaks.bandwidth_gb_s or 0.0,
        0.0,
    )


def figures_from_benchmark(bench: Any) -> Figures | None:
    """Figures from a provider's benchmark report: an :class:`oracle.bench.BenchReport` dict
    (``gemm`` list, ``bandwidth.gb_s``, power = the highest mean GEMM power), or the compact
    ``{"tflops": {"fp32": .., "tf32": .., "fp16": .., "bf16": ..}, "mem_bandwidth_gbps": ..,
    "power_w": ..}`` (missing = 0; flat ``fp32_tflops``-style keys are accepted too)."""
    if not isinstance(bench, dict) or not bench:
        return None
    if isinstance(bench.get("gemm"), list):  # an oracle.bench BenchReport (to_dict)
        gemm = [g for g in bench["gemm"] if isinstance(g, dict)]
        powers = [g["mean_power_w"] for g in gemm if isinstance(g.get("mean_power_w"), int | float)]
        bw = bench.get("bandwidth") if isinstance(bench.get("bandwidth"), dict) else {}
        bench = {
            "tflops": {g.get("precision"): g.get("tflops") for g in gemm},
            "mem_bandwidth_gbps": bw.get("gb_s", 0),
            "power_w": max(powers) if powers else 0,
        }
    tf = dict(bench.get("tflops", {})) if isinstance(bench.get("tflops"), dict) else {}
    for prec in ("fp32", "tf32", "fp16", "bf16"):
        if prec not in tf and f"{prec}_tflops" in bench:
            tf[prec] = bench[f"{prec}_tflops"]

    def num(v: Any) -> float:
        try:
            return max(0.0, float(v))
        except (TypeError, ValueError):
            return 0.0

    return Figures(
        fp32=num(tf.get("fp32")),
        tf32=num(tf.get("tf32")),
        fp16=num(tf.get("fp16")),
        bf16=num(tf.get("bf16")),
        mem_bandwidth_gbps=num(bench.get("mem_bandwidth_gbps")),
        power_w=num(bench.get("power_w")),
    )


# ------------------------------------------------------------------------------------------
# CLI: oracle run
# ------------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, ui: Any = None) -> int:
    from oracle.keys import KeystoreError, load_signer

    setup_json_logging(logging.DEBUG if args.verbose else logging.INFO)
    deployment = load_deployment(args.deployment)
    try:
        account = load_signer(
            deployment.chain_id,
            keystore=args.keystore,
            keystore_dir=args.keystore_dir,
            password_file=args.password_file,
            private_key=args.private_key,
        )
    except KeystoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = ValidatorConfig(
        deployment_path=args.deployment,
        rpc=args.rpc,
        account=account,
        journal_path=args.journal or str(Path(".oracle") / f"journal-{account.address}.sqlite"),
        peers=[p for p in (args.peers or "").split(",") if p],
        listen_host=args.host,
        listen_port=args.port,
        metrics_port=args.metrics_port,
        genesis=args.genesis,
        epoch_seconds=args.epoch_seconds,
        validity_seconds=args.validity_seconds,
        slash_amount=args.slash_amount,
        finder=args.finder,
        challenge_n=args.n,
        samples=args.samples,
        collect_timeout=args.collect_timeout,
        failover_s=args.failover,
        submit_delay=args.submit_delay,
        mode=args.mode,
    )
    v = Validator(cfg)
    v.start()
    try:
        if args.epoch is not None:
            print(json.dumps(v.run_epoch(args.epoch)))
        else:
            v.run(once=args.once)
    except KeyboardInterrupt:
        pass
    finally:
        v.stop()
    return 0


def register(
    subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser] = (), wrap=lambda f: f
) -> None:
    """Add ``run`` (the validator daemon) to an argparse CLI (see :mod:`oracle.cli_run`)."""
    p = subparsers.add_parser(
        "run", parents=list(parents), help="run the validator: challenge, sign, gather k signatures, post"
    )
    p.add_argument("--deployment", default=".devnet/deployment.json", help="deployment file")
    p.add_argument("--rpc", default=os.environ.get("ORACLE_RPC_URL", "http://127.0.0.1:8545"))
    p.add_argument("--keystore", help="keystore path or address (see `oracle keys list`)")
    p.add_argument("--keystore-dir", default=str(Path("~/.oracle/keystore").expanduser()))
    p.add_argument("--password-file")
    p.add_argument("--private-key", help="plain key, dev chains (31337/1337) only")
    p.add_argument("--journal", help="SQLite journal path (default .oracle/journal-<address>.sqlite)")
    p.add_argument("--peers", help="comma-separated base URLs of the other validators")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="signature server port (0: any)")
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus metrics port")
    p.add_argument("--genesis", type=int, default=0, help="unix time of epoch 1's start")
    p.add_argument("--epoch-seconds", type=int, default=3600)
    p.add_argument("--validity-seconds", type=int, default=2 * 3600)
    p.add_argument("--slash-amount", type=int, default=100 * 10**18)
    p.add_argument("--finder", help="address paid the finder's share of fault slashes")
    p.add_argument("--n", type=int, default=64, help="challenge matrix size")
    p.add_argument("--samples", type=int, default=8, help="rows opened per challenge")
    p.add_argument("--collect-timeout", type=float, default=60.0)
    p.add_argument("--failover", type=float, default=30.0, help="seconds before a non-leader posts")
    p.add_argument("--submit-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument(
        "--mode",
        choices=("single", "batch"),
        default="single",
        help="single: one submit per node (records stored on chain); batch: one Merkle root per epoch",
    )
    p.add_argument("--epoch", type=int, default=None, help="run exactly this epoch once and exit")
    p.add_argument("--once", action="store_true", help="run the current epoch once and exit")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=wrap(_cmd_run))


def main(argv: list[str] | None = None) -> int:
    """``python -m oracle.validator run ...`` (the same as ``oracle run``)."""
    parser = argparse.ArgumentParser(prog="oracle")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())


__all__: list[str] = [
    "ChallengeProber",
    "Figures",
    "NodeInfo",
    "ProbeResult",
    "Validator",
    "ValidatorConfig",
    "figures_from_benchmark",
    "register",
    "score_of",
]
