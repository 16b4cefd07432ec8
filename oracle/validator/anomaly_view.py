"""One validator's anomaly view: each epoch's network model learned once from the chain
(:mod:`oracle.validator.history`), the node it judges as it signs (the multiplier goes into the
attestation, :func:`oracle.validator.attesting.attestation_of`), and the JSON it serves at
``GET /anomaly/<epoch>`` (``GET /anomaly``: the latest epoch) for operators and the page.

Every validator learns from the same logs (the cutoff block of the epoch), so every validator
serves the same ``evidence_digest`` and the same scores for the same candidates.
"""

from __future__ import annotations

import threading
from typing import Any

from oracle.chain import ChainClient
from oracle.validator.anomaly import NetworkModel, NodeAnomaly, assess, learn, network_report
from oracle.validator.attesting import candidate_of
from oracle.validator.evidence import Observation
from oracle.validator.figures import Figures
from oracle.validator.history import cutoff_block, epoch_start, evidence_from_chain
from oracle.validator.nodes import NodeInfo


class AnomalyView:
    def __init__(self, chain: ChainClient, genesis: int, epoch_seconds: int, keep: int = 2):
        self.chain, self.genesis, self.epoch_seconds, self.keep = chain, genesis, epoch_seconds, keep
        self._models: dict[int, NetworkModel] = {}
        self._judged: dict[int, dict[str, tuple[Observation, str]]] = {}
        self._lock = threading.Lock()

    def model(self, epoch: int) -> NetworkModel:
        """The network model of ``epoch`` (learned on first use, the newest ``keep`` kept)."""
        with self._lock:
            if epoch not in self._models:
                cutoff = cutoff_block(self.chain, epoch_start(self.genesis, self.epoch_seconds, epoch))
                self._models[epoch] = learn(evidence_from_chain(self.chain, epoch, cutoff))
                for old in sorted(self._models)[: -self.keep]:
                    self._models.pop(old)
                    self._judged.pop(old, None)
            return self._models[epoch]

    def judge(self, epoch: int, node: NodeInfo, figures: Figures) -> NodeAnomaly:
        """The anomaly of ``node``'s figures about to be attested at ``epoch``."""
        model = self.model(epoch)
        candidate = candidate_of(node, epoch, figures)
        with self._lock:
            self._judged.setdefault(epoch, {})[node.key] = (candidate, node.gpu_model)
        return assess(model, node.node_id, candidate, gpu_model=node.gpu_model)

    def latest(self) -> int | None:
        with self._lock:
            return max(self._models, default=None)

    def document(self, epoch: int | None = None) -> dict[str, Any] | None:
        """The served JSON: every node of the epoch's evidence and every node judged this epoch,
        with score, multiplier and reasons; ``None`` for an epoch this validator has not seen."""
        epoch = self.latest() if epoch is None else epoch
        with self._lock:
            model = self._models.get(epoch) if epoch is not None else None
            judged = dict(self._judged.get(epoch, {})) if epoch is not None else {}
        if model is None:
            return None
        report = network_report(
            model, {k: c for k, (c, _) in judged.items()}, {k: g for k, (_, g) in judged.items()}
        )
        return report.to_json()
