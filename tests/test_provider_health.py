"""What `oracle serve` shows its operator: GPU health in GET /health (temperature, ECC, clocks held
down), Prometheus metrics at GET /metrics, one JSON log line per request and one at the stop, and
no traceback when a client hangs up."""

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from oracle.provider.health import GpuHealth, reason_names
from oracle.provider.server import ProviderServer
from tests.support.gpu import fake_nvml, no_gpu_nvml


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_a_healthy_gpu_a_throttling_one_and_no_gpu_read_as_such():
    healthy = GpuHealth(fake_nvml(count=1)).report()
    assert healthy["status"] == "ok" and healthy["gpus"][0]["problems"] == []
    assert healthy["gpus"][0]["clock_event_reasons"] == ["gpu_idle"]
    hot = GpuHealth(
        fake_nvml(count=2, temperature=91, slowdown=87, reasons=0x40 | 0x4, ecc_uncorrected=2)
    ).report()
    assert hot["status"] == "degraded"
    problems = hot["gpus"][1]["problems"]
    assert "2 uncorrected ECC error(s) since the driver loaded" in problems
    assert "91 C, at or above its slowdown temperature 87 C" in problems
    assert "clocks held down: hw_thermal_slowdown" in problems  # the power cap alone is normal
    assert hot["gpus"][1]["clock_event_reasons"] == ["sw_power_cap", "hw_thermal_slowdown"]
    none = GpuHealth(no_gpu_nvml()).report()
    assert none == {
        "status": "no GPU",
        "detail": "no GPU: NVML library not found (no NVIDIA driver installed)",
        "gpus": [],
    }
    assert reason_names(0x10000) == ["other_0x10000"]


def test_health_is_read_at_most_every_ttl_seconds():
    now = [0.0]
    nvml = fake_nvml(count=1)
    health = GpuHealth(nvml, ttl_s=5, clock=lambda: now[0])
    health.report(), health.report()
    assert nvml.shutdowns == 1
    now[0] = 5.0
    health.report()
    assert nvml.shutdowns == 2


@pytest.fixture(scope="module")
def hot_server():
    nvml = fake_nvml(count=1, temperature=90, slowdown=87, reasons=0x8)
    with ProviderServer(gpu_health=GpuHealth(nvml)) as server:
        yield server


def test_health_shows_the_gpus_and_turns_degraded_with_a_problem(hot_server):
    status, _, body = _get(hot_server.url + "/health")
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "degraded"
    assert doc["gpu"]["gpus"][0]["problems"] == [
        "90 C, at or above its slowdown temperature 87 C",
        "clocks held down: hw_slowdown",
    ]


class _Records(logging.Handler):
    """The log records of one logger, whatever handlers and propagation other tests set up."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _requests_logged(seen: _Records) -> list[dict]:
    return [r.msg for r in list(seen.records) if isinstance(r.msg, dict) and r.msg.get("event") == "request"]


def test_metrics_count_requests_by_route_and_status_and_show_gpu_gauges(hot_server):
    logger, seen = logging.getLogger("oracle.serve"), _Records()
    logger.addHandler(seen)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not `.level =`: it also clears the logger's enabled-for cache
    try:
        _get(hot_server.url + "/health")
        with pytest.raises(urllib.error.HTTPError):
            _get(hot_server.url + "/no-such-thing?x=1")
        deadline = time.monotonic() + 10  # a request is counted and logged once its answer is sent
        while time.monotonic() < deadline and len(_requests_logged(seen)) < 2:
            time.sleep(0.01)  # (the hot GPU's health warnings may reach the same logger meanwhile)
        status, ctype, body = _get(hot_server.url + "/metrics")
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    text = body.decode()
    assert status == 200 and ctype.startswith("text/plain")
    assert 'oracle_provider_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'oracle_provider_requests_total{method="GET",route="other",status="404"} 1.0' in text
    assert 'oracle_provider_gpu_temperature_celsius{gpu="0"} 90.0' in text
    assert 'oracle_provider_gpu_degraded{gpu="0"} 1.0' in text
    assert "oracle_provider_request_seconds_bucket" in text
    logged = _requests_logged(seen)
    assert {(m["method"], m["path"], m["status"]) for m in logged} >= {
        ("GET", "/health", 200),
        ("GET", "/no-such-thing", 404),
    }
    assert all(m["ms"] >= 0 and m["client"] == "127.0.0.1" for m in logged)


def test_oracle_serve_logs_each_request_and_its_stop_and_a_client_hanging_up_prints_no_traceback(tmp_path):
    log_file = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "oracle", "--json", "serve", "--port", "0", "--log-file", str(log_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = json.loads(proc.stdout.readline())["url"]
        _get(url + "/health")
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:  # asks for a big answer, then hangs up
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /inventory HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and log_file.read_text().count('"event": "request"') < 1:
            time.sleep(0.05)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    requests = [entry for entry in lines if entry.get("event") == "request"]
    assert requests[0]["path"] == "/health" and requests[0]["status"] == 200
    assert lines[-1]["event"] == "stopped"
    assert "Traceback" not in err and "BrokenPipe" not in err
