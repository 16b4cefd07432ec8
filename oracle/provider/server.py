"""The provider's HTTP server: what validators challenge (client side: :mod:`oracle.validator.client`).

HTTP API (JSON in, JSON out; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /health`` -> ``{"status": "ok", "version", "backend", "cached"}``
- ``GET /inventory`` -> :meth:`oracle.inventory.Inventory.to_json`
- ``POST /challenge`` ``{seed, b_seed, n, precision, deadline_s}`` -> ``{root, elapsed_s, n, precision, backend}``
  The provider computes ``C = A @ B`` (see :mod:`oracle.challenge`) and keeps ``C`` and its Merkle
  tree for ``cache_ttl_s`` seconds, keyed by seed.
- ``POST /open`` ``{seed, rows: [i, ...]}`` -> ``{rows: [{index, values_b64, proof: ["0x..", ...]}]}``
  (``values_b64``: the row as int32 little-endian, base64 -- the bytes its Merkle leaf hashes)
- ``POST /product`` ``{seed}`` -> ``{n, dtype: "<i4", c_b64}`` the full ``C`` (int32 little-endian,
  base64) for Freivalds' check; only for ``n <= max_product_n``.

Misbehaviour modes (``behaviour``): see :mod:`oracle.provider.behaviours`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from oracle import __version__
from oracle import challenge as ch
from oracle.provider.backends import select_backend
from oracle.provider.behaviours import GARBAGE_REPLY, SLOW_EXTRA_S, check_behaviour, corrupt_product

MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_N = 8192
DEFAULT_MAX_PRODUCT_N = 1024
DEFAULT_CACHE_TTL_S = 120.0
DEFAULT_MAX_CACHED = 4


@dataclass
class _Entry:
    expires: float
    c: np.ndarray
    tree: ch.MerkleTree


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ProviderServer:
    """A provider node's challenge server. ``port=0`` picks a free port (see :attr:`url`).

    Use as a context manager (starts a background thread, stops on exit) or call
    :meth:`serve_forever` in the foreground."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        behaviour: str = "honest",
        backend: str = "numpy",
        max_n: int = DEFAULT_MAX_N,
        max_product_n: int = DEFAULT_MAX_PRODUCT_N,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        max_cached: int = DEFAULT_MAX_CACHED,
        inventory_fn: Callable[[], dict] | None = None,
        silent_s: float = 3600.0,
    ):
        self.behaviour = check_behaviour(behaviour)
        self.backend_name, self.product_fn = select_backend(backend)
        self.max_n = max_n
        self.max_product_n = max_product_n
        self.cache_ttl_s = cache_ttl_s
        self.max_cached = max_cached
        self.silent_s = silent_s
        self._inventory_fn = inventory_fn
        self._inventory: dict | None = None
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="provider-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self._stopping.set()
            self.httpd.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call on a server that was never started)."""
        self._stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()  # only valid while serve_forever runs: it waits for the loop to end
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request logic (called from handler threads) --------------------------------------

    def health(self) -> dict:
        with self._lock:
            cached = len(self._cache)
        return {"status": "ok", "version": __version__, "backend": self.backend_name, "cached": cached}

    def inventory(self) -> dict:
        if self._inventory is None:
            if self._inventory_fn is not None:
                self._inventory = self._inventory_fn()
            else:
                from oracle.inventory import collect

                self._inventory = collect().to_json()
        return self._inventory

    def handle_challenge(self, body: Any) -> dict:
        try:
            challenge = ch.Challenge.from_json(body)
        except ch.ChallengeError as exc:
            raise _BadRequest(400, str(exc)) from None
        if challenge.n > self.max_n:
            raise _BadRequest(413, f"n={challenge.n} exceeds this provider's max_n={self.max_n}")
        started = time.perf_counter()
        c = self.product_fn(challenge)
        c = corrupt_product(self.behaviour, c)
        tree = ch.MerkleTree.from_matrix(c)
        elapsed = time.perf_counter() - started
        with self._lock:
            now = time.monotonic()
            for key in [k for k, e in self._cache.items() if e.expires < now]:
                del self._cache[key]
            self._cache[challenge.seed] = _Entry(now + self.cache_ttl_s, c, tree)
            self._cache.move_to_end(challenge.seed)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        if self.behaviour == "slow":
            self._stopping.wait(max(0.0, challenge.deadline_s - elapsed) + SLOW_EXTRA_S)
        return {
            "root": "0x" + tree.root.hex(),
            "elapsed_s": elapsed,
            "n": challenge.n,
            "precision": challenge.precision,
            "backend": self.backend_name,
        }

    def _entry(self, body: Any) -> _Entry:
        if not isinstance(body, dict) or "seed" not in body:
            raise _BadRequest(400, "body must be a JSON object with a seed")
        try:
            seed = ch.parse_bytes32(body["seed"], "seed")
        except ch.ChallengeError as exc:
            raise _BadRequest(400, str(exc)) from None
        with self._lock:
            entry = self._cache.get(seed)
        if entry is None or entry.expires < time.monotonic():
            raise _BadRequest(
                404, "no product for this seed (never challenged, or expired): POST /challenge first"
            )
        return entry

    def handle_open(self, body: Any) -> dict:
        entry = self._entry(body)
        rows = body.get("rows")
        n = entry.c.shape[0]
        if not isinstance(rows, list) or not all(isinstance(i, int) and 0 <= i < n for i in rows):
            raise _BadRequest(400, f"rows must be a list of row indices in [0, {n})")
        if len(rows) > 1024:
            raise _BadRequest(413, "at most 1024 rows per request")
        return {
            "rows": [
                {
                    "index": i,
                    "values_b64": base64.b64encode(
                        np.ascontiguousarray(entry.c[i], dtype="<i4").tobytes()
                    ).decode(),
                    "proof": ["0x" + h.hex() for h in entry.tree.proof(i)],
                }
                for i in rows
            ]
        }

    def handle_product(self, body: Any) -> dict:
        entry = self._entry(body)
        n = entry.c.shape[0]
        if n > self.max_product_n:
            raise _BadRequest(413, f"n={n} exceeds max_product_n={self.max_product_n}: use sampled rows")
        raw = np.ascontiguousarray(entry.c, dtype="<i4").tobytes()
        return {"n": n, "dtype": "<i4", "c_b64": base64.b64encode(raw).decode("ascii")}


def _make_handler(server: ProviderServer) -> type[BaseHTTPRequestHandler]:
    routes_get = {"/health": server.health, "/inventory": server.inventory}
    routes_post = {
        "/challenge": server.handle_challenge,
        "/open": server.handle_open,
        "/product": server.handle_product,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"oracle-provider/{__version__}"

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

        def _send(self, status: int, payload: dict | bytes) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _misbehaving_reply(self) -> bool:
            if server.behaviour == "silent":
                server._stopping.wait(server.silent_s)
                self.close_connection = True
                return True
            if server.behaviour == "garbage":
                self._send(200, GARBAGE_REPLY)
                return True
            return False

        def do_GET(self) -> None:
            route = routes_get.get(self.path.split("?", 1)[0])
            if route is None:
                self._send(404, {"error": f"unknown path {self.path}: use /health or /inventory"})
                return
            self._send(200, route())

        def do_POST(self) -> None:
            route = routes_post.get(self.path.split("?", 1)[0])
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self._send(
                    413,
                    {"error": f"request body must have a Content-Length of at most {MAX_BODY_BYTES} bytes"},
                )
                self.close_connection = True
                return
            raw = self.rfile.read(length)
            if route is None:
                self._send(404, {"error": f"unknown path {self.path}: use /challenge, /open or /product"})
                return
            if self._misbehaving_reply():
                return
            try:
                body = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._send(400, {"error": "request body is not JSON"})
                return
            try:
                self._send(200, route(body))
            except _BadRequest as exc:
                self._send(exc.status, {"error": str(exc)})

    return Handler
