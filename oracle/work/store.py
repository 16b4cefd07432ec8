"""The local store of content-addressed files: each named by the hex SHA-256 of its bytes,
written atomically, re-hashed on every read (fetching into it: :mod:`oracle.work.blobs`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from oracle.work.content import hex32, sha256
from oracle.work.errors import BlobError, BlobMismatch


class BlobStore:
    """Files named by the hex SHA-256 of their bytes under ``root`` (written atomically)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: bytes) -> Path:
        return self.root / digest.hex()

    def put(self, data: bytes, digest: bytes | None = None, durable: bool = True) -> bytes:
        """Store ``data``; returns its digest (storing the same bytes twice is a no-op).
        ``digest``: its SHA-256 when the caller has just checked it (not hashed again).
        ``durable=False``: no fsync, for a copy of a file that can be fetched again (a power
        loss can then leave it torn, which :meth:`get` detects by its hash and
        :meth:`Fetcher.fetch` answers by fetching it again); what only this node has (the outputs
        it computed) is always fsynced before it is reported."""
        digest = sha256(data) if digest is None else digest
        path = self.path_of(digest)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    if durable:
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
