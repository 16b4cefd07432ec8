"""The provider server's HTTP side: routes, bounded request bodies, the reply (with CORS where the
page reads it), one log line and metric per request (:mod:`oracle.provider.observability`), and
the misbehaviour modes that answer before any route (:mod:`oracle.provider.behaviours`).
:class:`oracle.provider.server.ProviderServer` holds the request logic it calls."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from oracle import __version__
from oracle.provider.behaviours import GARBAGE_REPLY
from oracle.provider.observability import CONTENT_TYPE as METRICS_CONTENT_TYPE

MAX_BODY_BYTES = 1 << 20


class BadRequest(Exception):
    def __init__(self, status: int, message: str, payload: dict | None = None):
        super().__init__(message)
        self.status, self.payload = status, payload


ROUTES = ("/health", "/inventory", "/services", "/metrics", "/challenge", "/open", "/product")


def make_handler(server: Any) -> type[BaseHTTPRequestHandler]:
    routes_get = {
        "/health": server.health,
        "/inventory": server.inventory,
        "/services": server.services_doc,
    }
    cross_origin = {"/services"}  # read by the page from another origin
    routes_post = {
        "/challenge": server.handle_challenge,
        "/open": server.handle_open,
        "/product": server.handle_product,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"oracle-provider/{__version__}"

        def log_message(self, format: str, *args: Any) -> None:  # requests go to server.observer
            pass

        def parse_request(self) -> bool:
            self._t0 = time.perf_counter()
            return super().parse_request()

        def _send(
            self,
            status: int,
            payload: dict | bytes,
            content_type: str = "application/json",
            cors: bool = False,
        ) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            client = self.client_address[0]
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if cors:
                    self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError) as exc:  # the validator gave up waiting
                self.close_connection = True
                server.observer.dropped(self.command, self.path, client, type(exc).__name__)
                return
            server.observer.request(
                self.command, self.path, status, time.perf_counter() - self._t0, len(data), client
            )

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
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, server.observer.exposition(), METRICS_CONTENT_TYPE)
                return
            route = routes_get.get(path)
            if route is None:
                self._send(
                    404,
                    {"error": f"unknown path {self.path}: use /health, /inventory, /services or /metrics"},
                )
                return
            self._send(200, route(), cors=path in cross_origin)

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
            except BadRequest as exc:
                self._send(exc.status, exc.payload or {"error": str(exc)})

    return Handler
