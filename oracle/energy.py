"""Energy, measured and used: joules per piece of work from NVML, performance per watt, and the
energy terms a job manifest may set.

Measuring (:class:`EnergyMeter`, a ``with`` block around the work):

1. ``nvml-energy-counter`` -- NVML's total-energy counter
   (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded; Volta and newer)
   read before and after: exact for the board, but it counts every process on that GPU.
2. ``nvml-power-samples`` -- where the counter is not supported, board power sampled every 10 ms
   (:class:`PowerSampler`) times the wall time.
3. ``cpu-estimate`` -- no NVML (a CPU node): the process's CPU seconds times
   :data:`CPU_WATTS_PER_CORE`. An ESTIMATE, and every reading says so (``estimate: true``):
   it ignores idle power, memory and the package's real draw.

NVML is injectable (``nvml=`` any object with pynvml's functions), so tests run without a GPU.

Performance per watt: GFLOP/s per W, which is GFLOP per joule. :func:`gflops_per_watt` from a
measurement; :func:`attested_gflops_per_watt` from an attestation's integers (``fp32`` is TFLOPS x
100, so GFLOP/s = ``fp32 * 10``; ``powerW`` in W) -- the typed data has no perf/W field, and needs
none: anyone derives it from ``fp32`` (or another precision) and ``powerW``.

Using it (:class:`EnergyPolicy`, a manifest's optional ``energy`` object, integers only like the
rest of the manifest)::

    "energy": {"max_mj_per_item": 1500, "min_gflops_per_watt": 200, "prefer_efficient": true}

:func:`energy_ok` is the provider's acceptance check (and a matcher's filter);
:func:`rank_by_efficiency` the order in which a matcher offers a job to nodes when
``prefer_efficient`` is set (most GFLOP/s per W first).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from oracle.errors import EXIT_USAGE, OracleError

CPU_WATTS_PER_CORE = 15.0
"""Assumed draw of one busy CPU core (W) for the CPU estimate: typical server cores draw 5-20 W."""

SOURCES = ("nvml-energy-counter", "nvml-power-samples", "cpu-estimate")
POLICY_KEYS = {"max_mj_per_item", "min_gflops_per_watt", "prefer_efficient"}
POLICY_MAX = 10**12


class EnergyError(OracleError, ValueError):
    """Energy terms that cannot be used (the message names the field and what to write)."""

    exit_code = EXIT_USAGE


class PowerSampler:
    """Samples NVML board power (W) in a background thread while active (``with`` block).

    ``nvml`` is the pynvml module (or a stand-in in tests); ``handle`` a device handle."""

    def __init__(self, nvml: Any, handle: Any, interval_s: float = 0.01):
        self.nvml, self.handle, self.interval_s = nvml, handle, interval_s
        self.samples_w: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples_w.append(self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0)
            except self.nvml.NVMLError:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PowerSampler:
        self.samples_w.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)

    @property
    def mean_w(self) -> float | None:
        return statistics.fmean(self.samples_w) if self.samples_w else None


@dataclass(frozen=True)
class EnergyReading:
    joules: float
    seconds: float
    items: int
    source: str
    """One of :data:`SOURCES`."""
    estimate: bool
    note: str = ""

    @property
    def joules_per_item(self) -> float | None:
        return self.joules / self.items if self.items > 0 else None

    @property
    def mean_watts(self) -> float | None:
        return self.joules / self.seconds if self.seconds > 0 else None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["joules_per_item"] = self.joules_per_item
        d["mean_watts"] = self.mean_watts
        return d


class EnergyMeter:
    """``with EnergyMeter() as meter: work()`` then ``meter.reading(items)``; see the module doc
    for the three sources. ``nvml``: the pynvml module or a stand-in; ``nvml=False`` forces the
    CPU estimate."""

    def __init__(
        self,
        device_index: int = 0,
        nvml: Any = None,
        cpu_watts_per_core: float = CPU_WATTS_PER_CORE,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.process_time,
    ):
        self.device_index = device_index
        self.cpu_watts_per_core = cpu_watts_per_core
        self.clock, self.cpu_clock = clock, cpu_clock
        self.nvml, self.handle, self.note = self._open(nvml)
        self.source = "cpu-estimate" if self.handle is None else "nvml-energy-counter"
        self._sampler: Any = None
        self._start: tuple[float, float, int | None] | None = None
        self._end: tuple[float, float, int | None] | None = None

    def _open(self, nvml: Any) -> tuple[Any, Any, str]:
        if nvml is False:
            return None, None, "NVML not used"
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
            return nvml, nvml.nvmlDeviceGetHandleByIndex(self.device_index), ""
        except Exception as exc:  # noqa: BLE001 - no driver, no library, no device: estimate instead
            return None, None, f"no NVML ({type(exc).__name__}): CPU estimate"

    def _counter(self) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception:  # noqa: BLE001 - counter not supported on this board: sample power
            return None

    def __enter__(self) -> EnergyMeter:
        counter = None
        if self.handle is not None:
            counter = self._counter()
            if counter is None:
                self.source = "nvml-power-samples"
                self.note = "energy counter not supported: board power sampled every 10 ms"
                self._sampler = PowerSampler(self.nvml, self.handle).__enter__()
        self._start = (self.clock(), self.cpu_clock(), counter)
        return self

    def __exit__(self, *exc: object) -> None:
        counter = self._counter() if self.source == "nvml-energy-counter" else None
        self._end = (self.clock(), self.cpu_clock(), counter)
        if self._sampler is not None:
            self._sampler.__exit__(None, None, None)

    def reading(self, items: int = 1) -> EnergyReading:
        """The energy of the ``with`` block, over ``items`` items of work."""
        if self._start is None or self._end is None:
            raise EnergyError("EnergyMeter.reading() needs a finished `with` block around the work")
        seconds = max(0.0, self._end[0] - self._start[0])
        if self.source == "nvml-energy-counter":
            start_mj, end_mj = self._start[2], self._end[2]
            if start_mj is not None and end_mj is not None and end_mj >= start_mj:
                return EnergyReading(
                    (end_mj - start_mj) / 1000.0, seconds, items, self.source, False, self.note
                )
            self.note = "energy counter went backwards (driver reload?): CPU estimate"
        elif self.source == "nvml-power-samples" and self._sampler is not None and self._sampler.mean_w:
            return EnergyReading(
                self._sampler.mean_w * seconds, seconds, items, self.source, False, self.note
            )
        cpu_s = max(0.0, self._end[1] - self._start[1])
        note = self.note or "CPU estimate"
        note += f": {cpu_s:.3f} CPU s x {self.cpu_watts_per_core:g} W per busy core"
        return EnergyReading(cpu_s * self.cpu_watts_per_core, seconds, items, "cpu-estimate", True, note)


def measure(work: Callable[[], Any], items: int = 1, **meter_args: Any) -> tuple[Any, EnergyReading]:
    """Run ``work()`` inside an :class:`EnergyMeter`; its result and the reading."""
    with EnergyMeter(**meter_args) as meter:
        result = work()
    return result, meter.reading(items)


def gflops_per_watt(tflops: float, watts: float | None) -> float | None:
    """GFLOP/s per W (= GFLOP per joule); ``None`` without a positive power figure."""
    if not watts or watts <= 0 or tflops < 0:
        return None
    return tflops * 1000.0 / watts


def attested_gflops_per_watt(tflops_centi: int, power_w: int) -> int | None:
    """Integer GFLOP/s per W from an attestation (``fp32`` etc. are TFLOPS x 100): ``x * 10 //
    power_w``, ``None`` when the attestation carries no power."""
    if power_w <= 0 or tflops_centi < 0:
        return None
    return tflops_centi * 10 // power_w


@dataclass(frozen=True)
class EnergyPolicy:
    """A manifest's ``energy`` terms (all optional; see the module doc)."""

    max_mj_per_item: int | None = None
    min_gflops_per_watt: int | None = None
    prefer_efficient: bool = False

    @classmethod
    def from_json(cls, obj: Any, what: str = "manifest.energy") -> EnergyPolicy:
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise EnergyError(f"{what} must be an object with keys from {sorted(POLICY_KEYS)}")
        unknown = set(obj) - POLICY_KEYS
        if unknown:
            raise EnergyError(f"{what} has unknown keys {sorted(unknown)}: use {sorted(POLICY_KEYS)}")
        out: dict[str, Any] = {}
        for key in ("max_mj_per_item", "min_gflops_per_watt"):
            v = obj.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= POLICY_MAX:
                raise EnergyError(f"{what}.{key} must be an integer from 1 to {POLICY_MAX}, got {v!r}")
            out[key] = v
        prefer = obj.get("prefer_efficient", False)
        if not isinstance(prefer, bool):
            raise EnergyError(f"{what}.prefer_efficient must be true or false, got {prefer!r}")
        return cls(out.get("max_mj_per_item"), out.get("min_gflops_per_watt"), prefer)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"prefer_efficient": self.prefer_efficient}
        if self.max_mj_per_item is not None:
            d["max_mj_per_item"] = self.max_mj_per_item
        if self.min_gflops_per_watt is not None:
            d["min_gflops_per_watt"] = self.min_gflops_per_watt
        return d


@dataclass(frozen=True)
class NodeEnergy:
    """What a node knows of its own efficiency: attested GFLOP/s per W, and (where it ran this
    model before) the measured millijoules per item with the reading's ``estimate`` flag."""

    gflops_per_watt: float | None = None
    mj_per_item: float | None = None
    mj_is_estimate: bool = False

    @classmethod
    def from_attestation(cls, tflops_centi: int, power_w: int) -> NodeEnergy:
        """From a node's on-chain attestation (``fp32`` or the job's precision, and ``powerW``)."""
        perf = attested_gflops_per_watt(tflops_centi, power_w)
        return cls(float(perf) if perf is not None else None)


def energy_ok(
    policy: EnergyPolicy | Mapping[str, Any] | None, node: NodeEnergy, flops_per_item: int | None = None
) -> tuple[bool, str]:
    """May this node take the job under the manifest's energy terms? ``(ok, reason)``.

    Joules per item: the node's measured figure if it has one, else the manifest's
    ``flops_per_item`` over the node's perf/W (an estimate, and the reason says so)."""
    p = policy if isinstance(policy, EnergyPolicy) else EnergyPolicy.from_json(policy)
    perf = node.gflops_per_watt if node.gflops_per_watt and node.gflops_per_watt > 0 else None
    said = []
    if p.min_gflops_per_watt is not None:
        if perf is None:
            return False, (
                f"the job needs >= {p.min_gflops_per_watt} GFLOP/s per W and this node has no perf/W figure: "
                "benchmark it with NVML power"
            )
        if perf < p.min_gflops_per_watt:
            return False, f"{perf:.1f} GFLOP/s per W is below the job's minimum {p.min_gflops_per_watt}"
        said.append(f"{perf:.1f} GFLOP/s per W >= {p.min_gflops_per_watt}")
    if p.max_mj_per_item is not None:
        if node.mj_per_item is not None:
            mj = node.mj_per_item
            basis = "estimated on CPU" if node.mj_is_estimate else "measured"
        elif perf is not None and flops_per_item:
            mj = flops_per_item / (perf * 1e9) * 1000.0
            basis = "estimated from perf/W"
        else:
            return False, (
                f"the job caps energy at {p.max_mj_per_item} mJ per item and this node can tell neither its "
                "measured energy per item nor its perf/W"
            )
        if mj > p.max_mj_per_item:
            return False, f"{mj:.3g} mJ per item ({basis}) is above the job's cap of {p.max_mj_per_item}"
        said.append(f"{mj:.3g} mJ per item ({basis}) <= {p.max_mj_per_item}")
    return True, "; ".join(said) if said else "no energy terms"


def rank_by_efficiency(nodes: Sequence[tuple[str, NodeEnergy]]) -> list[str]:
    """Node keys, most GFLOP/s per W first; nodes without a figure last; ties by key."""

    def key(item: tuple[str, NodeEnergy]) -> tuple[int, float, str]:
        perf = item[1].gflops_per_watt
        return (0, -perf, item[0]) if perf and perf > 0 else (1, 0.0, item[0])

    return [k for k, _ in sorted(nodes, key=key)]
