"""A stand-in for a provider's accelerators, for tests, drills and benchmarks on a CPU.

``Hardware(flops_per_s, devices)`` is a machine with ``devices`` devices, each doing at most
``flops_per_s``: a challenge takes a free device for its whole run (waiting for one when all are
busy) and its blocks are paced so the device never goes faster than its speed. The product is still
computed for real (:func:`oracle.challenge.compute_commitment`) and checked for real; only the speed
is set, and only ever lowered (a CPU slower than the stand-in's speed is slower still). This is how
the tests make "a provider that claims k times its real speed" and "one server answering for N
nodes with 2 devices" exact on a shared 2-core machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Hardware:
    """``devices`` devices of ``flops_per_s`` each, shared by every node a server answers for."""

    def __init__(self, flops_per_s: float, devices: int = 1):
        if not flops_per_s > 0 or devices < 1:
            raise ValueError("flops_per_s must be positive and devices at least 1")
        self.flops_per_s, self.devices = float(flops_per_s), devices
        self._free = threading.Semaphore(devices)

    @contextmanager
    def device(self) -> Iterator[Callable[[int], None]]:
        """Hold one device; yields ``pace(flops)``, to call after each block of work."""
        with self._free:
            started, done = time.monotonic(), 0.0

            def pace(flops: int) -> None:
                nonlocal done
                done += flops
                wait = started + done / self.flops_per_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)

            yield pace
