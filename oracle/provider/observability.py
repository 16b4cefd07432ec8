"""What ``oracle serve`` shows its operator: one JSON log line per request (logger
``oracle.serve``, :mod:`oracle.logs`), and Prometheus metrics at ``GET /metrics`` -- requests by
route and status, their latency, challenges computed, and each GPU's temperature and health.

Route labels are the server's known paths (anything else counts as ``other``), so a scanner
probing random URLs cannot grow the metrics without bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("oracle.serve")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerObserver:
    def __init__(self, routes: Iterable[str], gpu_report: Callable[[], dict[str, Any]] | None = None):
        self.routes = frozenset(routes)
        self.gpu_report = gpu_report
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "oracle_provider_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "oracle_provider_request_seconds",
            "time from request line to last byte sent",
            ["route"],
            buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.gpu_temperature = Gauge(
            "oracle_provider_gpu_temperature_celsius", "GPU temperature", ["gpu"], registry=self.registry
        )
        self.gpu_degraded = Gauge(
            "oracle_provider_gpu_degraded",
            "1 when the GPU has a health problem (see /health)",
            ["gpu"],
            registry=self.registry,
        )
        self.gpu_ecc_uncorrected = Gauge(
            "oracle_provider_gpu_ecc_uncorrected", "uncorrected ECC errors", ["gpu"], registry=self.registry
        )

    def route_of(self, path: str) -> str:
        route = path.split("?", 1)[0]
        return route if route in self.routes else "other"

    def request(self, method: str, path: str, status: int, seconds: float, size: int, client: str) -> None:
        """Count one answered request and log it."""
        route = self.route_of(path)
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        log.info(
            {
                "event": "request",
                "method": method,
                "path": path.split("?", 1)[0][:200],
                "status": status,
                "ms": round(seconds * 1000, 2),
                "bytes": size,
                "client": client,
            }
        )

    def dropped(self, method: str, path: str, client: str, reason: str) -> None:
        """A client that went away before its answer was sent (a validator that gave up)."""
        log.info(
            {
                "event": "client_gone",
                "method": method,
                "path": path.split("?", 1)[0][:200],
                "client": client,
                "reason": reason,
            }
        )

    def exposition(self) -> bytes:
        if self.gpu_report is not None:
            for gpu in self.gpu_report().get("gpus", []):
                label = str(gpu["index"])
                if gpu.get("temperature_c") is not None:
                    self.gpu_temperature.labels(label).set(gpu["temperature_c"])
                self.gpu_degraded.labels(label).set(0 if gpu["status"] == "ok" else 1)
                if gpu.get("ecc_uncorrected") is not None:
                    self.gpu_ecc_uncorrected.labels(label).set(gpu["ecc_uncorrected"])
        return generate_latest(self.registry)
