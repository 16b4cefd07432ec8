"""What hardware this node has: every NVIDIA GPU through NVML, or the CPU when there is none.

``collect()`` never raises for a missing GPU stack: with no NVML library, no driver or zero
devices, ``Inventory.nvml_status`` says so in one line and ``Inventory.cpu`` describes the CPU
(model from /proc/cpuinfo, cores, memory, NumPy's BLAS). Every optional GPU field is ``None`` when
the device or driver does not support it (``NVMLError_NotSupported`` and friends).

The NVML module is a parameter (``collect(nvml=...)``) so tests can drive the parsing code with a
stand-in for a GPU that this machine does not have.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from eth_utils import keccak


@dataclass
class GpuInfo:
    index: int
    name: str
    uuid: str
    node_id: str
    """``0x`` + hex of :func:`node_id` (keccak256 of the UUID): the node's on-chain id."""
    memory_total_bytes: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    compute_capability: str | None = None
    power_limit_w: float | None = None
    power_draw_w: float | None = None
    sm_clock_mhz: int | None = None
    sm_clock_max_mhz: int | None = None
    mem_clock_mhz: int | None = None
    mem_clock_max_mhz: int | None = None
    temperature_c: int | None = None
    ecc_corrected: int | None = None
    ecc_uncorrected: int | None = None
    temperature_slowdown_c: int | None = None
    """The temperature at which the GPU slows itself down (NVML's slowdown threshold)."""
    clock_event_reasons: int | None = None
    """NVML's bit mask of why clocks are held down now (throttle reasons; see :mod:`oracle.provider.health`)."""


@dataclass
class CpuInfo:
    model: str
    logical_cores: int
    physical_cores: int | None
    memory_total_bytes: int | None
    blas: str
    machine: str = field(default_factory=platform.machine)


@dataclass
class Inventory:
    gpus: list[GpuInfo]
    cpu: CpuInfo
    nvml_status: str
    """One line: ``"ok: 8 GPU(s), driver 550.54"`` or why there is no GPU (e.g. ``"no GPU: NVML
    library not found (no NVIDIA driver installed)"``)."""

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def to_json(self) -> dict:
        return asdict(self)


def node_id(uuid: str) -> bytes:
    """The on-chain node id: ``keccak256(utf8(uuid))`` (bytes32), e.g. for ``"GPU-5e7..."``; the
    contract derives it the same way from the UUID it is given (``ComputeStaking.registerNode``)."""
    return keccak(uuid.encode())


UUID_LENGTH = 40
_UUID_FORM = "PPPPhhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh"
_LOWER_HEX = frozenset("0123456789abcdef")


def uuid_index(uuid: str) -> int | None:
    """Where ``uuid`` departs from NVML's canonical form (``None`` if it does not): the ``index``
    of ``ComputeStaking``'s ``ComputeStakingInvalidGpuUuid``, computed by the same rule.

    The rule (the contract's NatSpec of ``registerNode``): exactly 40 characters, ``GPU-`` or
    ``MIG-``, then 32 lower-case hex digits grouped 8-4-4-4-12 by dashes. A correct beginning cut
    short departs at its length, a correct UUID followed by more at 40."""
    prefix = "MIG-" if uuid.startswith("M") else "GPU-"
    for i, c in enumerate(uuid[:UUID_LENGTH]):
        want = _UUID_FORM[i]
        if (
            (want == "P" and c != prefix[i])
            or (want == "-" and c != "-")
            or (want == "h" and c not in _LOWER_HEX)
        ):
            return i
    return None if len(uuid) == UUID_LENGTH else min(len(uuid), UUID_LENGTH)


def uuid_problem(uuid: str) -> str | None:
    """Why ``uuid`` is not a GPU UUID the contract accepts (one sentence), or ``None`` (see :func:`uuid_index`)."""
    i = uuid_index(uuid)
    if i is None:
        return None
    form = "GPU- or MIG- then 8-4-4-4-12 lower-case hex digits, as `oracle inventory` prints it"
    if i == len(uuid) or i == UUID_LENGTH:
        return f"GPU UUID {uuid!r} has {len(uuid)} characters; NVML's form has {UUID_LENGTH} ({form})"
    want = {"P": "its prefix GPU- or MIG-", "-": "a dash"}.get(_UUID_FORM[i], "a lower-case hex digit")
    return f"GPU UUID {uuid!r}: character {i + 1} is {uuid[i]!r} where NVML's form has {want} ({form})"


def inventory_uuid_problem(inventory: Any, node: bytes) -> str | None:
    """Why a provider's live ``GET /inventory`` does not fit node id ``node``, or ``None``: an
    inventory that lists GPUs must list the node's own, a UUID whose keccak256 is the node id. One
    that lists none (a CPU node) has nothing to compare and passes; its work is still challenged."""
    gpus = inventory.get("gpus") if isinstance(inventory, dict) else None
    if not isinstance(gpus, list) or not gpus:
        return None
    uuids = [g.get("uuid") for g in gpus if isinstance(g, dict)]
    if any(isinstance(u, str) and node_id(u) == bytes(node) for u in uuids):
        return None
    shown = ", ".join(str(u)[:48] for u in uuids[:4]) + (", ..." if len(uuids) > 4 else "")
    return (
        f"its inventory lists {len(gpus)} GPU(s) ({shown}) and none has a UUID whose keccak256 is the "
        f"node id 0x{bytes(node).hex()}: the GPU answering is not the one registered"
    )


def synthetic_uuid(label: str) -> str:
    """A canonical ``GPU-`` UUID derived from ``label`` (keccak256), for nodes with no NVIDIA GPU
    (devnet CPU nodes, tests, benchmarks): the same label always gives the same UUID."""
    h = keccak(text=label).hex()[:32]
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> tuple[str, int | None]:
    """Model name and physical core count (distinct (physical id, core id) pairs) from /proc/cpuinfo."""
    model = ""
    cores: set[tuple[str, str]] = set()
    physical = core = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if core is not None:
                cores.add((physical or "0", core))
            physical = core = None
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and not model:
            model = value
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
    return model or platform.processor() or "unknown CPU", (len(cores) or None)


def parse_meminfo(text: str) -> int | None:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def blas_description() -> str:
    """Which BLAS NumPy uses, from ``numpy.show_config`` (e.g. ``"openblas64 0.3.23.dev"``)."""
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        text = " ".join(str(blas.get(k, "")) for k in ("name", "version")).strip()
        return text or "unknown BLAS"
    except Exception:  # very old NumPy without mode="dicts"
        return "unknown BLAS"


def collect_cpu() -> CpuInfo:
    model, physical = parse_cpuinfo(_read("/proc/cpuinfo"))
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        logical = os.cpu_count() or 1
    return CpuInfo(
        model=model,
        logical_cores=logical,
        physical_cores=physical,
        memory_total_bytes=parse_meminfo(_read("/proc/meminfo")),
        blas=blas_description(),
    )


# --------------------------------------------------------------------------------------------
# GPU (NVML)
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _optional(nvml: Any, fn: Callable[[], Any]) -> Any:
    """``fn()`` or ``None`` when NVML says the field is not supported / not available."""
    try:
        return fn()
    except nvml.NVMLError:
        return None


def _cuda_version(raw: int | None) -> str | None:
    # NVML encodes the CUDA driver version as 1000 * major + 10 * minor (12040 -> "12.4").
    return None if raw is None else f"{raw // 1000}.{(raw % 1000) // 10}"


def _gpu(nvml: Any, index: int, driver: str | None, cuda: str | None) -> GpuInfo:
    h = nvml.nvmlDeviceGetHandleByIndex(index)
    uuid = _text(nvml.nvmlDeviceGetUUID(h))
    memory = _optional(nvml, lambda: nvml.nvmlDeviceGetMemoryInfo(h))
    cc = _optional(nvml, lambda: nvml.nvmlDeviceGetCudaComputeCapability(h))
    limit_mw = _optional(nvml, lambda: nvml.nvmlDeviceGetPowerManagementLimit(h))
    draw_mw = _optional(nvml, lambda: nvml.nvmlDeviceGetPowerUsage(h))

    def ecc(kind: int) -> int | None:
        return _optional(nvml, lambda: int(nvml.nvmlDeviceGetTotalEccErrors(h, kind, nvml.NVML_VOLATILE_ECC)))

    return GpuInfo(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(h)),
        uuid=uuid,
        node_id="0x" + node_id(uuid).hex(),
        memory_total_bytes=None if memory is None else int(memory.total),
        driver_version=driver,
        cuda_version=cuda,
        compute_capability=None if cc is None else f"{cc[0]}.{cc[1]}",
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        power_draw_w=None if draw_mw is None else draw_mw / 1000.0,
        sm_clock_mhz=_optional(nvml, lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)),
        sm_clock_max_mhz=_optional(nvml, lambda: nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM)),
        mem_clock_mhz=_optional(nvml, lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)),
        mem_clock_max_mhz=_optional(nvml, lambda: nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_MEM)),
        temperature_c=_optional(nvml, lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
        ecc_corrected=ecc(nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
        ecc_uncorrected=ecc(nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        temperature_slowdown_c=_optional(
            nvml, lambda: _binding(nvml, "nvmlDeviceGetTemperatureThreshold")(h, _SLOWDOWN_THRESHOLD)
        ),
        clock_event_reasons=_optional(nvml, lambda: _clock_event_reasons(nvml, h)),
    )


_SLOWDOWN_THRESHOLD = 1  # NVML_TEMPERATURE_THRESHOLD_SLOWDOWN


def _binding(nvml: Any, name: str) -> Callable[..., Any]:
    """An NVML function, or one raising NVMLError where these bindings lack it."""
    fn = getattr(nvml, name, None)
    if fn is None:

        def missing(*args: Any) -> Any:
            raise nvml.NVMLError(f"{name} is not in these NVML bindings")

        return missing
    return fn


def _clock_event_reasons(nvml: Any, handle: Any) -> int:
    # renamed from "throttle reasons" to "clocks event reasons" in newer drivers and bindings
    if getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) is not None:
        return int(nvml.nvmlDeviceGetCurrentClocksEventReasons(handle))
    return int(_binding(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons")(handle))


def _load_pynvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def collect_gpus(nvml: Any = None) -> tuple[list[GpuInfo], str]:
    """(GPUs, one-line NVML status). ``nvml`` defaults to the real ``pynvml`` module."""
    nvml = _load_pynvml() if nvml is None else nvml
    if nvml is None:
        return [], "no GPU: the nvidia-ml-py package (pynvml) is not installed"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError_LibraryNotFound:
        return [], "no GPU: NVML library not found (no NVIDIA driver installed)"
    except nvml.NVMLError_DriverNotLoaded:
        return [], "no GPU: the NVIDIA driver is not loaded"
    except nvml.NVMLError as exc:
        return [], f"no GPU: NVML failed to initialise ({exc})"
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return [], "no GPU: NVML found zero devices"
        driver = _optional(nvml, lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        cuda = _cuda_version(_optional(nvml, nvml.nvmlSystemGetCudaDriverVersion))
        gpus = [_gpu(nvml, i, driver, cuda) for i in range(count)]
        return gpus, f"ok: {count} GPU(s), driver {driver or 'unknown'}, CUDA {cuda or 'unknown'}"
    except nvml.NVMLError as exc:
        return [], f"no GPU: NVML error while reading devices ({exc})"
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def collect(nvml: Any = None) -> Inventory:
    """The node's inventory (GPUs through ``nvml``, default the real ``pynvml``; always the CPU)."""
    gpus, status = collect_gpus(nvml)
    return Inventory(gpus=gpus, cpu=collect_cpu(), nvml_status=status)
