"""What a validator shows its operator: Prometheus metrics and JSON log lines on stderr."""

from __future__ import annotations

import json
import logging
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.anomalies = Counter(
            "oracle_anomalies", "anomaly signals raised on attested nodes", ["kind"], registry=self.registry
        )


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
