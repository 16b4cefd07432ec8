"""Content-addressed files: fetching into the local store (:mod:`oracle.work.store`, files named by
their SHA-256) with a check on every fetch (a store's HTTP server is :mod:`oracle.work.blob_server`).

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
import http.client
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from oracle.work.arrivals import Arrivals, read_alongside
from oracle.work.content import cid_of_digest, hex32, parse_digest, sha256
from oracle.work.errors import BlobError
from oracle.work.store import BlobStore

DEFAULT_MAX_BLOB_BYTES = 256 << 20
"""Largest file the fetcher accepts (256 MiB); a manifest may name less."""
DEFAULT_TIMEOUT_S = 30.0


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


def gateway_url(gateway: str, cid: str) -> str:
    """``{gateway}/ipfs/{cid}`` (a path gateway such as a local Kubo node's ``http://127.0.0.1:8080``)."""
    return f"{gateway.rstrip('/')}/ipfs/{cid}"


_WRITER: ThreadPoolExecutor | None = None
_WRITER_LOCK = threading.Lock()
BACKGROUND_BYTES = 1 << 20
"""A fetched file at least this large is written to the store by a writer thread (module doc)."""
_PIECE = 1 << 20


def _writer() -> ThreadPoolExecutor:
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            _WRITER = ThreadPoolExecutor(1, thread_name_prefix="blob-writer", initializer=_lowest_priority)
        return _WRITER


def _lowest_priority() -> None:
    """The writer thread runs at nice 19 (Linux sets it per thread): a copy being kept never
    takes a core from inference; where a core is idle (a GPU node) it runs at once."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _sha256_of(arrivals: Arrivals) -> bytes:
    h = hashlib.sha256()
    for piece in arrivals.pieces():
        h.update(piece)
    return h.digest()


@dataclass
class Fetcher:
    """Fetches :class:`BlobRef` files into a store, checking size and SHA-256 on every fetch.

    ``gateway``: base URL of an IPFS path gateway for ``ipfs://`` addresses (none: those are
    skipped with a reason). ``max_bytes`` bounds any single download.

    A file of known size is hashed while it downloads (:mod:`oracle.work.arrivals`), and a
    checked file of :data:`BACKGROUND_BYTES` or more is written to the store by a writer thread
    (no fsync: the copy can be fetched again) while the caller goes on with the bytes; until it is
    written, this fetcher answers a fetch of it from memory. :meth:`flush` waits for the writes."""

    store: BlobStore
    gateway: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BLOB_BYTES
    fetched_bytes: int = field(default=0, init=False)
    _pending: dict[bytes, tuple[bytes, Future]] = field(default_factory=dict, init=False, repr=False)
    _later: dict[bytes, bytes] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _open(self, url: str) -> Any:
        req = urllib.request.Request(url, headers={"Accept": "application/octet-stream"})
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise BlobError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BlobError(f"unreachable ({reason})") from None

    def _download(self, url: str, limit: int) -> bytes:
        try:
            with self._open(url) as resp:
                data = resp.read(limit + 1)
        except (OSError, TimeoutError, http.client.HTTPException) as exc:
            raise BlobError(f"unreachable ({exc!r})") from None
        if len(data) > limit:
            raise BlobError(f"served more than {limit} bytes")
        return data

    def _download_into(self, url: str, arrivals: Arrivals) -> None:
        """The body of ``url`` into ``arrivals`` (at most its size; more is an error)."""
        view, size = arrivals.buffer, arrivals.size
        try:
            with self._open(url) as resp:
                got = 0
                while got < size:
                    n = resp.readinto(view[got : min(size, got + _PIECE)])
                    if not n:
                        break
                    got += n
                    arrivals.arrived(n)
                if got == size and resp.read(1):
                    raise BlobError(f"served more than {size} bytes")
        except (OSError, TimeoutError, http.client.HTTPException) as exc:
            raise BlobError(f"unreachable ({exc!r})") from None

    def _keep(self, data: bytes, digest: bytes, later: bool = False) -> None:
        """Store a checked copy (module doc: in the background when it is large; ``later``: held
        in memory until :meth:`keep_later` hands it to the writer)."""
        if later and len(data) >= BACKGROUND_BYTES:
            with self._lock:
                self._later[digest] = data
            return
        if len(data) < BACKGROUND_BYTES:
            self.store.put(data, digest, durable=False)
            return
        with self._lock:
            if digest in self._pending:
                return
            future = _writer().submit(self.store.put, data, digest, False)
            self._pending[digest] = (data, future)

        def written(_: Future) -> None:
            with self._lock:
                self._pending.pop(digest, None)

        future.add_done_callback(written)

    def keep_later(self) -> None:
        """Hand the copies held by ``fetch(..., keep_later=True)`` to the writer thread (the job
        agent calls it once a poll's jobs are submitted: a job's inputs never wait for their copy)."""
        with self._lock:
            held, self._later = self._later, {}
        for digest, data in held.items():
            self._keep(data, digest)

    def flush(self) -> None:
        """Wait until every fetched file is in the store (a failed write raises here)."""
        with self._lock:
            futures = [f for _, f in self._pending.values()]
        for f in futures:
            f.result()

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

    def _local(self, ref: BlobRef) -> bytes | None:
        """The bytes of ``ref`` if this node has them (being written, or in the store and intact)."""
        with self._lock:
            pending = self._pending.get(ref.digest)
            held = self._later.get(ref.digest)
        if pending is not None:
            return pending[0]
        if held is not None:
            return held
        if self.store.has(ref.digest):
            try:
                return self.store.get(ref.digest)
            except BlobError:  # torn or altered on disk (module doc of BlobStore.put): fetch again
                with contextlib.suppress(OSError):
                    self.store.path_of(ref.digest).unlink()
        return None

    def fetch(
        self,
        ref: BlobRef,
        extra_urls: Sequence[str] = (),
        max_size: int | None = None,
        alongside: Callable[[Arrivals], object] | None = None,
        buffer: bool = False,
        keep_later: bool = False,
    ) -> bytes:
        """The bytes of ``ref``: from the store if present, else the first source whose body has
        the right size and SHA-256 (stored on success). :class:`BlobError` lists why each failed.
        ``max_size`` instead of a known size: any size up to it (``ref.size`` is then ignored).
        ``alongside(arrivals)``: another check of the bytes (a job's input item tree), run on its
        own thread while the file downloads and is hashed; its exception is raised once the
        bytes are known to be the address's. ``buffer``: a downloaded file may come back as the
        bytearray it was received in, not copied into a bytes object (the caller must not change
        it; a large job input file, read by NumPy). ``keep_later``: a large file's copy waits in
        memory for :meth:`keep_later` instead of being written while the caller works with it."""
        data = self._local(ref)
        if data is not None:
            if alongside is not None:
                alongside(Arrivals.complete(data))
            return data
        limit = ref.size if max_size is None else max_size
        if limit > self.max_bytes:
            raise BlobError(f"blob {ref.hex} is {limit} bytes, above the fetch limit of {self.max_bytes}")
        failures: list[str] = []
        for url in [*ref.urls, *extra_urls]:
            try:
                source = self._source_url(url, ref)
                side: Future | None = None
                if max_size is None:
                    arrivals = Arrivals(ref.size)
                    readers: list[Callable[[Arrivals], object]] = [_sha256_of]
                    if alongside is not None:
                        readers.append(alongside)
                    futures = read_alongside(arrivals, readers, lambda a, u=source: self._download_into(u, a))
                    if arrivals.received != ref.size:
                        raise BlobError(f"served {arrivals.received} bytes, expected {ref.size}")
                    got, side = futures[0].result(), futures[-1] if alongside is not None else None
                    data = arrivals.data(copy=not buffer)
                else:
                    data = self._download(source, limit)
                    got = sha256(data)
                if got != ref.digest:
                    raise BlobError(f"served bytes hashing to {hex32(got)}, not to the address")
            except BlobError as exc:
                failures.append(f"{url}: {exc}")
                continue
            self._keep(data, got, keep_later)
            self.fetched_bytes += len(data)
            if side is not None:
                side.result()
            elif alongside is not None:  # fetched without a known size: checked after the fact
                alongside(Arrivals.complete(data))
            return data
        if not failures:
            raise BlobError(f"blob {ref.hex} is not in the store and has no URL to fetch it from")
        raise BlobError(f"no source served blob {ref.hex} ({ref.cid}) correctly: " + "; ".join(failures))
