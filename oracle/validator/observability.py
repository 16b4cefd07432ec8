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
        self.disputes = Counter(
            "oracle_disputes",
            "disputes by outcome: at_fault, false_claim, cannot_judge, refused, submitted",
            ["outcome"],
            registry=self.registry,
        )
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


def setup_json_logging(level: int = logging.INFO, log_file: str | None = None) -> None:
    """JSON lines on stderr, and appended to ``log_file`` too when one is given (for logrotate:
    the file is reopened by path on each start)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger("oracle")
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = False
