"""Content-addressed files: a local store (files named by their SHA-256), fetching with a check on
every fetch, and a small HTTP server that serves a store at ``GET /blobs/<64 hex digits>``.

A :class:`BlobRef` names a file by its SHA-256 digest (and size), with the places it may be fetched
from: ``http(s)://.../blobs/<hex>`` endpoints (the provider agent's, the requester's client's) and
``ipfs://<cid>`` through a gateway the user configures. :meth:`Fetcher.fetch` tries the store, then
each place in turn, and keeps the first body whose size and SHA-256 match; a body that does not
match is an error about that source, never a file (no file is trusted because of where it came
from). Stored files are re-hashed on every read as well, so a corrupted disk is caught too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oracle.work.content import cid_of_digest, hex32, parse_digest, sha256
from oracle.work.errors import BlobError, BlobMismatch

DEFAULT_MAX_BLOB_BYTES = 256 << 20
"""Largest file the fetcher accepts (256 MiB); a manifest may name less."""
DEFAULT_TIMEOUT_S = 30.0
_BLOB_PATH = re.compile(r"^/blobs/(0x)?([0-9a-f]{64})$")


@dataclass(frozen=True)
class BlobRef:
    """A file by content: its SHA-256 ``digest``, ``size`` in bytes and the ``urls`` it may come from."""

    digest: bytes
    size: int
    urls: tuple[str, ...] = ()

    @property
    def hex(self) -> str:
        return hex32(self.digest)

    @property
    def cid(self) -> str:
        return cid_of_digest(self.digest)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.hex, "cid": self.cid, "size": self.size, "urls": list(self.urls)}

    @classmethod
    def from_json(cls, data: Any, what: str = "blob") -> BlobRef:
        """Parse :meth:`to_json`; the CID, when given, must name the same digest."""
        if not isinstance(data, Mapping):
            raise BlobError(f"{what} must be an object with sha256, size and urls")
        digest = parse_digest(data.get("sha256"), f"{what}.sha256")
        if "cid" in data and parse_digest(data["cid"], f"{what}.cid") != digest:
            raise BlobError(f"{what}.cid names another file than {what}.sha256")
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BlobError(f"{what}.size must be a non-negative integer, got {size!r}")
        urls = data.get("urls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise BlobError(f"{what}.urls must be a list of strings")
        return cls(digest, size, tuple(urls))

    @classmethod
    def of(cls, data: bytes, urls: Sequence[str] = ()) -> BlobRef:
        return cls(sha256(data), len(data), tuple(urls))


class BlobStore:
    """Files named by the hex SHA-256 of their bytes under ``root`` (written atomically)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: bytes) -> Path:
        return self.root / digest.hex()

    def put(self, data: bytes, digest: bytes | None = None) -> bytes:
        """Store ``data``; returns its digest (storing the same bytes twice is a no-op).
        ``digest``: its SHA-256 when the caller has just checked it (not hashed again)."""
        digest = sha256(data) if digest is None else digest
        path = self.path_of(digest)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return digest

    def put_from(self, read: Callable[[int], bytes], length: int, digest: bytes) -> bool:
        """Store ``length`` bytes read in chunks by ``read(n)`` under ``digest``, streamed to a
        temporary file while hashing (bounded memory); kept only when they hash to ``digest``.
        Returns whether the file is new. :class:`BlobMismatch` (another digest) or
        :class:`BlobError` (the body ended early); nothing half-written stays either way."""
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".up-")
        try:
            with os.fdopen(fd, "wb") as f:
                left = length
                while left:
                    chunk = read(min(left, 1 << 16))
                    if not chunk:
                        raise BlobError(
                            f"the body ended after {length - left} of {length} bytes: send it whole"
                        )
                    h.update(chunk)
                    f.write(chunk)
                    left -= len(chunk)
                f.flush()
                os.fsync(f.fileno())
            got = h.digest()
            if got != digest:
                raise BlobMismatch(
                    f"the body hashes to {hex32(got)}, not to its name {hex32(digest)}: "
                    "PUT it at /blobs/<the SHA-256 of its bytes>"
                )
            path = self.path_of(digest)
            new = not path.exists()
            os.replace(tmp, path)
            return new
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def has(self, digest: bytes) -> bool:
        return self.path_of(digest).is_file()

    def get(self, digest: bytes) -> bytes:
        """The stored bytes of ``digest``, re-hashed; :class:`BlobError` if absent or corrupted."""
        path = self.path_of(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {hex32(digest)} is not in the store at {self.root}") from None
        if sha256(data) != digest:
            raise BlobError(f"stored blob {path} does not hash to its name: delete it and fetch it again")
        return data


def gateway_url(gateway: str, cid: str) -> str:
    """``{gateway}/ipfs/{cid}`` (a path gateway such as a local Kubo node's ``http://127.0.0.1:8080``)."""
    return f"{gateway.rstrip('/')}/ipfs/{cid}"


@dataclass
class Fetcher:
    """Fetches :class:`BlobRef` files into a store, checking size and SHA-256 on every fetch.

    ``gateway``: base URL of an IPFS path gateway for ``ipfs://`` addresses (none: those are
    skipped with a reason). ``max_bytes`` bounds any single download."""

    store: BlobStore
    gateway: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BLOB_BYTES
    fetched_bytes: int = field(default=0, init=False)

    def _download(self, url: str, limit: int) -> bytes:
        req = urllib.request.Request(url, headers={"Accept": "application/octet-stream"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                data = resp.read(limit + 1)
        except urllib.error.HTTPError as exc:
            raise BlobError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BlobError(f"unreachable ({reason})") from None
        if len(data) > limit:
            raise BlobError(f"served more than {limit} bytes")
        return data

    def _source_url(self, url: str, ref: BlobRef) -> str:
        if url.startswith("ipfs://"):
            if self.gateway is None:
                raise BlobError("no IPFS gateway configured (--ipfs-gateway URL)")
            cid = url[len("ipfs://") :].split("/", 1)[0]
            if parse_digest(cid, url) != ref.digest:
                raise BlobError("its CID names another file")
            return gateway_url(self.gateway, cid)
        if url.startswith(("http://", "https://")):
            return url
        raise BlobError("unsupported scheme (use http://, https:// or ipfs://)")

    def fetch(self, ref: BlobRef, extra_urls: Sequence[str] = (), max_size: int | None = None) -> bytes:
        """The bytes of ``ref``: from the store if present, else the first source whose body has
        the right size and SHA-256 (stored on success). :class:`BlobError` lists why each failed.
        ``max_size`` instead of a known size: any size up to it (``ref.size`` is then ignored)."""
        if self.store.has(ref.digest):
            return self.store.get(ref.digest)
        limit = ref.size if max_size is None else max_size
        if limit > self.max_bytes:
            raise BlobError(f"blob {ref.hex} is {limit} bytes, above the fetch limit of {self.max_bytes}")
        failures: list[str] = []
        for url in [*ref.urls, *extra_urls]:
            try:
                data = self._download(self._source_url(url, ref), limit)
                if max_size is None and len(data) != ref.size:
                    raise BlobError(f"served {len(data)} bytes, expected {ref.size}")
                got = sha256(data)
                if got != ref.digest:
                    raise BlobError(f"served bytes hashing to {hex32(got)}, not to the address")
            except BlobError as exc:
                failures.append(f"{url}: {exc}")
                continue
            self.store.put(data, got)
            self.fetched_bytes += len(data)
            return data
        if not failures:
            raise BlobError(f"blob {ref.hex} is not in the store and has no URL to fetch it from")
        raise BlobError(f"no source served blob {ref.hex} ({ref.cid}) correctly: " + "; ".join(failures))


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
        match = _BLOB_PATH.match(path)
        if match:
            digest = bytes.fromhex(match.group(2))
            try:
                return 200, "application/octet-stream", self.store.get(digest)
            except BlobError as exc:
                return _json_reply(404, {"error": str(exc)})
        return _json_reply(404, {"error": f"unknown path {path}: use /blobs/<sha256 hex>"})

    def receive(self, path: str, length: int | None, read: Callable[[int], bytes]) -> tuple[int, str, bytes]:
        """``PUT path`` with a body of ``length`` bytes (None: not given) read by ``read(n)``."""
        if self.max_put_bytes <= 0:
            return _json_reply(
                405, {"error": "this endpoint only serves blobs (GET); PUT them to the provider's job agent"}
            )
        match = _BLOB_PATH.match(path)
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

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
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
