"""The paid-endpoint benchmark's CPU accounting (:mod:`oracle.benchmarks.paid`): what a request
costs the provider's CPU, far less noisy on a shared machine than requests per second.

- **thread CPU**: each request's connection thread's ``time.thread_time()`` from the start of
  ``handle_one_request`` (read the request line and headers, parse, handle, answer) to its end,
  summed over the requests of a run. The handler class of a running server is wrapped for the
  benchmark (no cost, no change to the endpoint itself).
- **process CPU**: ``time.process_time()`` of the whole benchmark process over a run (the server's
  threads, its accept loop, the journal's background fsync thread, the chain-cache poller; the
  clients run in other processes, the benchmark's own thread only waits), per request.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

from oracle.provider.paid import PaidInferenceServer


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
