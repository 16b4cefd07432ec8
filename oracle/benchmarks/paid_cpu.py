"""The paid-endpoint benchmark's CPU accounting (:mod:`oracle.benchmarks.paid`): what a request
costs the provider's CPU, far less noisy on a shared machine than requests per second.

- **thread CPU**: each request's connection thread's ``time.thread_time()`` from the start of
  ``handle_one_request`` (read the request line and headers, parse, handle, answer) to its end,
  summed over the requests of a run. The handler class of a running server is wrapped for the
  benchmark (no cost, no change to the endpoint itself).
- **process CPU**: ``time.process_time()`` of the whole benchmark process over a run (the server's
  threads, its accept loop, the journal's background fsync thread, the chain-cache poller; the
  clients run in other processes, the benchmark's own thread only waits), per request.

Both are taken during the throughput runs (the unpaid and the paid endpoint one after the other)
and, the steadier comparison, by :func:`alternating_cpu_us`: one client sending to the two
endpoints in turn, request by request; once more with :func:`constant_receipts`, which splits the
payment's cost into its HTTP side and its check.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing as mp
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

from oracle.benchmarks.paid_parts import Header
from oracle.provider.paid import PaidInferenceServer
from oracle.provider.paid_check import Receipt, VoucherChecker


class ThreadCpu:
    """Connection-thread CPU seconds and the requests they served, since the last `take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.requests = 0

    def add(self, seconds: float, request: bool) -> None:
        with self._lock:
            self.seconds += seconds
            self.requests += request

    def take(self, expected: int, timeout: float = 10.0) -> float:
        """CPU seconds of the `expected` requests served since the last take (waits the moment
        it takes a last answered request's thread to count itself), and start again at zero."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self.requests >= expected:
                    seconds, self.seconds, self.requests = self.seconds, 0.0, 0
                    return seconds
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server counted {self.requests} requests of {expected}")
            time.sleep(0.001)


def count_thread_cpu(server: PaidInferenceServer) -> ThreadCpu:
    """Count `server`'s connection threads' CPU per request from now on (new connections)."""
    count = ThreadCpu()
    base: type[BaseHTTPRequestHandler] = server.httpd.RequestHandlerClass  # type: ignore[assignment]

    class Counted(base):  # type: ignore[valid-type, misc]
        def handle_one_request(self) -> None:
            start = time.thread_time()
            self.raw_requestline = b""
            try:
                super().handle_one_request()
            finally:
                count.add(time.thread_time() - start, bool(self.raw_requestline))

    server.httpd.RequestHandlerClass = Counted
    return count


@contextlib.contextmanager
def constant_receipts(checker: VoucherChecker) -> Iterator[None]:
    """An ablation: while inside, ``checker`` answers every credit request with the first receipt
    it gave (no token check, no journal record; a window's voucher is checked as ever). The
    payment's cost then is its header in and its receipt out; with the check, the difference is
    the check and its record."""
    real, first = checker.accept_credit, []

    def constant(header: str) -> Receipt:
        if not first:
            first.append(real(header))
        return first[0]

    checker.accept_credit = constant  # type: ignore[method-assign]
    try:
        yield
    finally:
        del checker.accept_credit  # the class's method again


def _alternating_client(
    urls: list[str], plan: list[tuple[int, Header]], body: bytes, ready: Any, out: Any
) -> None:
    conns = []
    for url in urls:
        host, port = url.removeprefix("http://").split(":")
        conns.append(http.client.HTTPConnection(host, int(port), timeout=30))
    ready.set()
    statuses = []
    for i, h in plan:
        conns[i].request(
            "POST", "/infer", body, {"Content-Type": "application/json", **(dict([h]) if h else {})}
        )
        resp = conns[i].getresponse()
        resp.read()
        statuses.append(resp.status)
    out.put(statuses)


def alternating_cpu_us(
    free: tuple[str, ThreadCpu], paid: tuple[str, ThreadCpu], headers: list[Header], body: bytes
) -> tuple[float, float]:
    """Connection-thread CPU per request (us) of the unpaid and the paid endpoint, measured by one
    client process that sends one request to each in turn (an unpaid one, then one with the next
    of `headers`): both see the same moment of a shared machine, so the difference is the payment's
    even while the machine's load moves the absolute figures."""
    ctx = mp.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    plan = [step for h in headers for step in ((0, None), (1, h))]
    proc = ctx.Process(target=_alternating_client, args=([free[0], paid[0]], plan, body, ready, out))
    proc.start()
    ready.wait(60)
    statuses = out.get(timeout=600)
    proc.join()
    if statuses.count(200) != len(plan):
        raise RuntimeError(f"alternating CPU run: {statuses.count(200)} of {len(plan)} answered 200")
    n = len(headers)
    return free[1].take(n) / n * 1e6, paid[1].take(n) / n * 1e6
