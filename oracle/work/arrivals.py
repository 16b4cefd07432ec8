"""A file of known size read by several checks while it arrives.

A job's input file is checked twice before the job is accepted: its SHA-256 (its address) and its
item tree (the manifest's ``inputs.root``). Done one after the other after the download, the three
passes over the bytes add up (~0.5 us per KiB each here); with :class:`Arrivals` the download
writes into one buffer and each check reads the pieces that have arrived, on its own thread
(``recv_into`` and ``hashlib`` on large buffers both release the GIL), so the wall time is about the
slowest of the three instead of their sum.

The receive buffer of the last large file is kept (:class:`SpareBuffer`) and taken again by the
next file of that size once nothing refers to it any more: memory the process has not
touched costs ~0.4 us per KiB to fault in and zero on the machines measured (a 100 MB input: ~40
ms, as much as hashing it), so a provider's next job does not pay it again. The cost: a process
keeps one buffer of the largest file it fetched lately (at most the fetch limit) while idle, as
the agent keeps its last job's inputs anyway.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

MIN_PIECE = 1 << 18
"""Bytes a reader waits for before it takes a piece (fewer, larger hashlib calls), unless the file ended."""


class SpareBuffer:
    """The largest recent receive buffer, for the next file of its size (module doc). Free means that
    nothing but this object refers to it: every view of a bytearray (a memoryview, a NumPy array
    over it) holds a reference to it, so a buffer still read anywhere is never taken again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: bytearray | None = None

    def take(self, size: int) -> bytearray:
        """A bytearray of ``size`` bytes: the held one when it is free and of that size (its old
        bytes left in it: a reader only ever sees bytes that arrived), else a new one, which is held
        from then on unless the held one is larger and free (the largest is kept: jobs of one size
        reuse it, a small file between them does not take its place)."""
        with self._lock:
            held = self._held
            free = held is not None and sys.getrefcount(held) <= _FREE_REFS
            if free and len(held) == size:  # type: ignore[arg-type]
                return held  # type: ignore[return-value]
            new = bytearray(size)
            if not free or held is None or size >= len(held):
                self._held = new
            return new


def _free_refs() -> int:
    """What ``sys.getrefcount`` says of a held buffer nothing else refers to, taken as ``take``
    takes it (self._held, the local, the call's argument: 3 on CPython 3.11; measured, not assumed)."""
    spare = SpareBuffer()
    spare._held = bytearray(1)
    held = spare._held
    return sys.getrefcount(held)


_FREE_REFS = _free_refs()

SPARE = SpareBuffer()
"""The process's spare receive buffer (one: a provider fetches one job's inputs at a time)."""


class Arrivals:
    """The bytes of a file as they arrive: a writer appends with :meth:`arrived` and ends with
    :meth:`close`; readers take consecutive pieces with :meth:`pieces`."""

    def __init__(self, size: int, data: bytes | None = None):
        self.size = size
        self._buf = SPARE.take(size) if data is None else None
        self._view = memoryview(self._buf if data is None else data).cast("B")
        self._got = 0 if data is None else len(data)
        self._closed = data is not None
        self._cond = threading.Condition()

    @classmethod
    def complete(cls, data: bytes) -> Arrivals:
        """A file that is already whole (read from a store): readers get it without waiting."""
        return cls(len(data), data)

    @property
    def buffer(self) -> memoryview:
        """Where the writer puts the bytes (the whole file's buffer)."""
        return self._view

    @property
    def received(self) -> int:
        return self._got

    def arrived(self, n: int) -> None:
        """``n`` more bytes are in the buffer, after those before."""
        with self._cond:
            self._got += n
            self._cond.notify_all()

    def close(self) -> None:
        """No more bytes will come (the file is whole, or its download failed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def data(self, copy: bool = True) -> bytes:
        """The bytes received; ``copy=False``: the receive buffer itself when the file is whole
        (a bytearray the caller must not change; copying 100 MB into fresh memory costs ~40 ms
        here, more than hashing it)."""
        if not copy and self._buf is not None and self._got == self.size:
            return self._buf  # type: ignore[return-value]
        return bytes(self._view[: self._got])

    def pieces(self, unit: int = 1) -> Iterator[memoryview]:
        """Consecutive views of the bytes, each a whole number of ``unit`` bytes except the last
        piece before the end, as they arrive; ends when the writer closes."""
        pos, want = 0, max(unit, MIN_PIECE // unit * unit)
        while True:
            with self._cond:
                while self._got - pos < want and not self._closed:
                    self._cond.wait()
                got, closed = self._got, self._closed
            ready = (got - pos) // unit * unit
            if ready:
                yield self._view[pos : pos + ready]
                pos += ready
            elif closed:
                if got > pos:
                    yield self._view[pos:got]
                return


def read_alongside(
    arrivals: Arrivals, readers: list[Callable[[Arrivals], object]], fill: Callable[[Arrivals], None]
) -> list[Future]:
    """Run each reader on its own thread while ``fill`` writes the file (on this thread), then
    wait for all of them; returns their futures (results or exceptions) in order. ``fill`` raising
    still closes the file, so no reader is left waiting."""
    with ThreadPoolExecutor(len(readers), thread_name_prefix="arrivals") as pool:
        futures = [pool.submit(r, arrivals) for r in readers]
        try:
            fill(arrivals)
        finally:
            arrivals.close()
    return futures
