"""The energy of each paid request: the model's run inside an :class:`oracle.energy.EnergyMeter`
(NVML's energy counter when the model runs on CUDA, else the CPU estimate, labelled
``estimate: true``), answered in the response as ``"energy": {"mj", "estimate", "source"}`` and
added to the endpoint's totals, which the journal keeps (``oracle paid status``).

Cost: NVML is opened once per endpoint (not per request); a request reads the counter (or the
process's CPU time) before and after the model. The totals go to the journal's SQLite at most once
a second or every :data:`FLUSH_EVERY` requests (and when the endpoint stops), never once per
request, so ``oracle paid status`` may lag the live endpoint by that much.

Requests served at the same time overlap: the CPU estimate is the process's CPU time over the
request, and NVML's counter is the whole board's, so under concurrency each request's figure (and
the total) counts its neighbours' work too -- an upper bound (the CPU one labelled an estimate
like every CPU reading). A board without the energy counter (before Volta) samples its power in
a thread per request (:class:`oracle.energy.PowerSampler`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from oracle.energy import EnergyMeter

log = logging.getLogger("oracle.provider.paid")
T = TypeVar("T")
FLUSH_EVERY = 256
FLUSH_S = 1.0


@dataclass
class EnergyTotals:
    requests: int = 0
    mj: float = 0.0
    estimated: int = 0
    """How many of the requests were metered by the CPU estimate."""

    def add(self, other: EnergyTotals) -> None:
        self.requests += other.requests
        self.mj += other.mj
        self.estimated += other.estimated

    def to_json(self) -> dict[str, Any]:
        per = self.mj / self.requests if self.requests else None
        return {
            "requests": self.requests,
            "mj": round(self.mj, 3),
            "mj_per_request": round(per, 3) if per is not None else None,
            "estimated_requests": self.estimated,
            "estimate": self.estimated > 0,
        }


class _OpenNvml:
    """pynvml opened once: ``nvmlInit`` is a no-op and the device handle is the cached one."""

    def __init__(self, nvml: Any, handle: Any):
        self._nvml, self._handle = nvml, handle

    def nvmlInit(self) -> None:
        return None

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        return self._handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nvml, name)


def meter_args_for_device(device: str) -> dict[str, Any]:
    """NVML for a model on CUDA; the labelled CPU estimate otherwise."""
    return {} if device == "cuda" else {"nvml": False}


class RequestMeter:
    """Meters each request's model run; ``sink`` receives the totals not yet flushed."""

    def __init__(
        self,
        meter_args: dict[str, Any] | None = None,
        sink: Callable[[EnergyTotals], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        args = dict(meter_args or {})
        probe = EnergyMeter(**args)
        if probe.handle is not None:  # opened once: each request's meter reuses the handle
            args["nvml"] = _OpenNvml(probe.nvml, probe.handle)
        elif args.get("nvml") is not False:
            args["nvml"] = False  # no NVML here: do not try again on every request
        self.args, self.sink, self.clock = args, sink, clock
        self.totals = EnergyTotals()
        self._pending = EnergyTotals()
        self._lock = threading.Lock()
        self._flushed_at = float("-inf")

    def measure(self, work: Callable[[], T]) -> tuple[T, dict[str, Any]]:
        with EnergyMeter(**self.args) as meter:
            result = work()
        reading = meter.reading(1)
        mj = reading.joules * 1000.0
        one = EnergyTotals(1, mj, 1 if reading.estimate else 0)
        with self._lock:
            self.totals.add(one)
            self._pending.add(one)
            due = self._pending.requests >= FLUSH_EVERY or self.clock() - self._flushed_at >= FLUSH_S
        if due:
            self.flush()
        return result, {"mj": round(mj, 3), "estimate": reading.estimate, "source": reading.source}

    def flush(self) -> None:
        """Hand the totals not yet flushed to the sink (the journal). A sink that fails (disk
        full, journal closed) never fails the request that was paid and answered: the totals
        stay pending for the next flush and the failure is logged."""
        with self._lock:
            pending, self._pending = self._pending, EnergyTotals()
            self._flushed_at = self.clock()
        if self.sink is None or not pending.requests:
            return
        try:
            self.sink(pending)
        except Exception as exc:  # noqa: BLE001 - totals are bookkeeping; the answer goes out
            log.warning("energy totals not journaled (kept for the next flush): %s", exc)
            with self._lock:
                self._pending.add(pending)
