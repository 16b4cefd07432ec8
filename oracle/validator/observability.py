"""What a validator shows its operator: Prometheus metrics, and JSON log lines on stderr
(:mod:`oracle.logs`, re-exported here)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from oracle.logs import JsonFormatter, setup_json_logging

__all__ = ["JsonFormatter", "Metrics", "setup_json_logging"]


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
        self.disputes = Counter(
            "oracle_disputes",
            "disputes by outcome: at_fault, false_claim, cannot_judge, refused, submitted",
            ["outcome"],
            registry=self.registry,
        )
        self.anomalies = Counter(
            "oracle_anomalies", "anomaly signals raised on attested nodes", ["kind"], registry=self.registry
        )
