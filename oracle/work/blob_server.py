"""The HTTP server of a :class:`~oracle.work.blobs.BlobStore`: ``GET /blobs/<64 hex digits>``
serves a stored file, ``PUT /blobs/<hex>`` takes one whose SHA-256 is its name (bounded: body
limit, upload slots, free disk, idle timeout), extra GET routes serve the job agent's JSON, and
every reply carries CORS headers (the page uploads from another origin)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oracle.work.blobs import DEFAULT_TIMEOUT_S, BlobStore
from oracle.work.content import hex32
from oracle.work.errors import BlobError, BlobMismatch

BLOB_PATH = re.compile(r"^/blobs/(0x)?([0-9a-f]{64})$")


Route = Callable[[str, dict[str, list[str]]], tuple[int, str, bytes]]
"""An extra GET route: ``(path, query) -> (status, content type, body)``."""
MAX_UPLOADS = 4
"""Uploads received at once; more are answered 503 with Retry-After."""
MIN_FREE_BYTES = 1 << 30
"""Disk space an upload must leave free on the store's file system (else 507)."""


class BlobServer:
    """HTTP server for a :class:`BlobStore`: ``GET /blobs/<hex>`` (also ``0x<hex>``) returns the
    bytes; GET routes by path prefix (``routes``, tried first) serve the job agent's JSON.

    ``max_put_bytes > 0`` also takes ``PUT /blobs/<hex>`` (a page or client handing over the files
    of a job): the body needs a Content-Length of at most ``max_put_bytes`` (else 411/413, nothing
    read) and must hash to its name (else 422); it is streamed to disk while hashed, at most
    :data:`MAX_UPLOADS` at once (else 503), and only while :data:`MIN_FREE_BYTES` stay free on
    the disk after it (else 507). Every answer carries ``Access-Control-Allow-Origin: *``
    and ``OPTIONS`` answers the browser's preflight, so a page on another origin can use it. A
    connection idle for ``timeout_s`` is dropped. Runs in a thread."""

    def __init__(
        self,
        store: BlobStore,
        host: str = "127.0.0.1",
        port: int = 0,
        routes: Mapping[str, Route] | None = None,
        *,
        max_put_bytes: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        self.store = store
        self.routes = dict(routes or {})
        self.max_put_bytes = max_put_bytes
        self.uploads = threading.BoundedSemaphore(MAX_UPLOADS)
        self._verified: set[tuple[bytes, int, int]] = set()
        self._verified_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self, timeout_s))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def blob_url(self, digest: bytes) -> str:
        return f"{self.url}/blobs/{digest.hex()}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="blob-server", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def serve(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        for prefix, route in self.routes.items():
            if path.startswith(prefix):
                return route(path, query)
        match = BLOB_PATH.match(path)
        if match:
            digest = bytes.fromhex(match.group(2))
            try:
                return 200, "application/octet-stream", self.store.get(digest)
            except BlobError as exc:
                return _json_reply(404, {"error": str(exc)})
        return _json_reply(404, {"error": f"unknown path {path}: use /blobs/<sha256 hex>"})

    def blob_file(self, path: str) -> Path | None:
        """The stored file ``GET path`` sends as it is (no route takes the path, it names a blob
        that is here and hashes to its name), or None (:meth:`serve` answers instead). Each file
        is hashed once per (size, modification time) -- the first time it is asked for -- and then
        sent from disk with ``sendfile``: a 10 MB input file is served without being read into
        Python or hashed again per request (every reader checks it anyway: :class:`Fetcher`)."""
        if any(path.startswith(prefix) for prefix in self.routes):
            return None
        match = BLOB_PATH.match(path)
        if not match:
            return None
        digest = bytes.fromhex(match.group(2))
        file = self.store.path_of(digest)
        try:
            st = file.stat()
        except OSError:
            return None
        key = (digest, st.st_size, st.st_mtime_ns)
        with self._verified_lock:
            known = key in self._verified
        if not known:
            try:
                self.store.get(digest)
            except BlobError:
                return None
            with self._verified_lock:
                self._verified.add(key)
        return file

    def receive(self, path: str, length: int | None, read: Callable[[int], bytes]) -> tuple[int, str, bytes]:
        """``PUT path`` with a body of ``length`` bytes (None: not given) read by ``read(n)``."""
        if self.max_put_bytes <= 0:
            return _json_reply(
                405, {"error": "this endpoint only serves blobs (GET); PUT them to the provider's job agent"}
            )
        match = BLOB_PATH.match(path)
        if not match:
            return _json_reply(
                400, {"error": f"cannot PUT {path}: PUT a file at /blobs/<the SHA-256 of its bytes, 64 hex>"}
            )
        if length is None or length < 0:
            return _json_reply(
                411, {"error": "send the file with a Content-Length header (no chunked bodies)"}
            )
        if length > self.max_put_bytes:
            return _json_reply(
                413,
                {
                    "error": f"the file is {length} bytes, this endpoint takes at most {self.max_put_bytes}: "
                    "serve it yourself (an http(s) or ipfs:// URL in the manifest)"
                },
            )
        free = shutil.disk_usage(self.store.root).free
        if free - length < MIN_FREE_BYTES:
            return _json_reply(
                507, {"error": f"the endpoint's disk has {free} bytes free, too little to take {length}"}
            )
        if not self.uploads.acquire(blocking=False):
            return _json_reply(
                503, {"error": f"{MAX_UPLOADS} uploads are running: retry in a second", "retry_after_s": 1}
            )
        digest = bytes.fromhex(match.group(2))
        try:
            new = self.store.put_from(read, length, digest)
        except BlobMismatch as exc:
            return _json_reply(422, {"error": str(exc)})
        except BlobError as exc:
            return _json_reply(400, {"error": str(exc)})
        finally:
            self.uploads.release()
        reply = {"sha256": hex32(digest), "size": length, "url": self.blob_url(digest)}
        return _json_reply(201 if new else 200, reply)


def _json_reply(status: int, payload: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()


def json_reply(status: int, payload: Any) -> tuple[int, str, bytes]:
    """A JSON answer for a :data:`Route`."""
    return _json_reply(status, payload)


def _handler_for(server: BlobServer, timeout_s: float) -> type[BaseHTTPRequestHandler]:
    from urllib.parse import parse_qs, urlsplit

    methods = "GET, PUT, OPTIONS" if server.max_put_bytes > 0 else "GET, OPTIONS"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = timeout_s  # a silent client is dropped (the socket's timeout)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(
            self, status: int, ctype: str, body: bytes, headers: Mapping[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            self._reply(
                204,
                "text/plain",
                b"",
                {
                    "Access-Control-Allow-Methods": methods,
                    "Access-Control-Allow-Headers": "content-type",
                    "Access-Control-Max-Age": "600",
                },
            )

        def _send_file(self, file: Path) -> bool:
            try:
                f = file.open("rb")
            except OSError:
                return False
            with f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                try:
                    self.connection.sendfile(f)
                except OSError:  # the reader went away mid-file
                    self.close_connection = True
            return True

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            file = server.blob_file(parts.path)
            if file is not None and self._send_file(file):
                return
            try:
                status, ctype, body = server.serve(parts.path, parse_qs(parts.query))
            except Exception as exc:  # noqa: BLE001 - a route's bug must not kill the server thread
                status, ctype, body = _json_reply(500, {"error": f"internal error: {exc}"})
            self._reply(status, ctype, body)

        def do_PUT(self) -> None:
            raw = self.headers.get("Content-Length")
            length = int(raw) if raw is not None and raw.strip().isdigit() else None
            try:
                status, ctype, body = server.receive(urlsplit(self.path).path, length, self.rfile.read)
            except OSError:  # the client went silent or away mid-body: nothing was stored
                self.close_connection = True
                return
            if status >= 400:
                self.close_connection = True  # an unread or partly read body: do not reuse the socket
            self._reply(status, ctype, body, {"Retry-After": "1"} if status == 503 else {})

    return Handler
