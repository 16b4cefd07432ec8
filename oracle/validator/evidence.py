"""The evidence an anomaly assessment reads, and its cleaning into one canonical form.

:class:`Evidence` for epoch ``e`` holds only what every validator reads the same way (see
:mod:`oracle.validator.anomaly`, rule 1): registrations, the attested figures of epochs
``e - WINDOW .. e - 1``, the faults posted in those epochs, the latency flags k validators
posted in those epochs (zero-slash faults, :mod:`oracle.validator.latency_flags`), and signed
challenge latencies.
:func:`clean` normalises ids (lower-case hex), validates every number (an integer in range, or an
integral finite float; NaN, negatives, fractions, booleans and values above uint32 are dropped and
counted in a note), keeps one record per key (the smallest, so the choice does not depend on the
input order), sorts everything, and hashes the result (:func:`evidence_digest`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from oracle.peaks import lookup_peaks
from oracle.validator.robust import ratio_ppm

WINDOW = 12
FIGURES = ("fp32", "tf32", "fp16", "bf16", "mem_bandwidth")
UINT32_MAX = 2**32 - 1
_HEX64 = re.compile("[0-9a-f]{64}")


@dataclass(frozen=True)
class Registration:
    """A node as registered on chain; ``order`` sorts registrations (block * 2**32 + log index);
    ``gpu_uuid`` where the registration data carries it; ``endpoint`` its challenge URI
    (``metadataURI``)."""

    node_id: Any
    provider: str
    gpu_model: str
    gpu_uuid: str | None = None
    order: int = 0
    endpoint: str | None = None


@dataclass(frozen=True)
class Observation:
    """One node's attested figures for one epoch (registry units: TFLOPS x 100, GB/s, W)."""

    node_id: Any
    epoch: int
    fp32: Any = 0
    tf32: Any = 0
    fp16: Any = 0
    bf16: Any = 0
    mem_bandwidth: Any = 0
    power_w: Any = 0

    @classmethod
    def from_attestation(cls, att: Any) -> Observation:
        """From an :class:`oracle.attest.Attestation` (or anything with its field names)."""
        return cls(
            att.nodeId, att.epoch, att.fp32, att.tf32, att.fp16, att.bf16, att.memBandwidth, att.powerW
        )


@dataclass(frozen=True)
class FaultRecord:
    node_id: Any
    epoch: int


@dataclass(frozen=True)
class LatencyRecord:
    """A signed challenge verdict's timing: ``elapsed_us`` measured, ``expected_us`` the time the
    challenge's work takes at the node's claimed speed (the deadline's basis)."""

    node_id: Any
    epoch: int
    validator: str
    elapsed_us: Any
    expected_us: Any


@dataclass(frozen=True)
class LatencyFlag:
    """A latency flag on chain: a zero-slash fault k validators signed, each having found ``kind``
    (``latency_too_fast`` or ``latency_inconsistent``) in its own timings of ``node_id`` at ``epoch``."""

    node_id: Any
    epoch: int
    kind: str


LATENCY_KINDS = ("latency_inconsistent", "latency_too_fast")


@dataclass(frozen=True)
class Evidence:
    """Everything the assessment of ``epoch`` may read (see the module doc, rule 1)."""

    epoch: int
    registrations: tuple[Registration, ...] = ()
    observations: tuple[Observation, ...] = ()
    faults: tuple[FaultRecord, ...] = ()
    latencies: tuple[LatencyRecord, ...] = ()
    flags: tuple[LatencyFlag, ...] = ()


# ------------------------------------------------------------------------------------------
# Cleaning: normalise, validate, de-duplicate, sort
# ------------------------------------------------------------------------------------------


def node_key(value: Any) -> str | None:
    """``0x`` + 64 lower-case hex digits, from 32 bytes or a hex string; ``None`` if neither."""
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        h = value.lower().removeprefix("0x")
        if _HEX64.fullmatch(h):
            return "0x" + h
    return None


def as_uint(value: Any, limit: int = UINT32_MAX) -> int | None:
    """An integer in ``[0, limit]`` from an int or an integral finite float; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= limit:
        return value
    return None


def normalise_uuid(uuid: str) -> str:
    """Lower-case letters and digits only, without NVML's ``GPU-`` prefix."""
    u = uuid.strip().lower().removeprefix("gpu-")
    return "".join(c for c in u if c.isalnum())


@lru_cache(maxsize=1024)
def model_key(name: str) -> str:
    """A GPU model's grouping key: the published-peaks row it matches, else its trimmed name."""
    peaks = lookup_peaks(name)
    return peaks.name if peaks is not None else " ".join(name.split()).lower()


def peak_fixed(name: str) -> dict[str, int]:
    """Published peaks in registry units (TFLOPS x 100, GB/s); empty when the card is unknown.
    (The table's decimal constants are converted once with ``round``, exact on IEEE doubles.)"""
    return dict(_peak_items(name))


@lru_cache(maxsize=1024)
def _peak_items(name: str) -> tuple[tuple[str, int], ...]:
    peaks = lookup_peaks(name)
    if peaks is None:
        return ()
    out = [(p, round(peaks.tflops[p] * 100)) for p in FIGURES[:4] if p in peaks.tflops]
    return (*out, ("mem_bandwidth", round(peaks.bandwidth_gb_s)))


def figures_of(obs: Observation) -> tuple[dict[str, int], list[str]]:
    """The valid non-zero figures of ``obs``, and a ``name=value`` text for each invalid one."""
    good, bad = {}, []
    for f in FIGURES:
        v = as_uint(getattr(obs, f))
        if v is None:
            bad.append(f"{f}={str(getattr(obs, f))[:40]}")
        elif v > 0:
            good[f] = v
    return good, bad


@dataclass
class CleanEvidence:
    """The cleaned evidence: registrations by node, each node's (epoch, figures) in epoch order,
    faults as (node, epoch), each node's latency ratios (ppm, sorted by epoch then validator), each
    node's latency flags (kind -> sorted epochs)."""

    regs: dict[str, Registration] = field(default_factory=dict)
    history: dict[str, list[tuple[int, dict[str, int]]]] = field(default_factory=dict)
    faults: set[tuple[str, int]] = field(default_factory=set)
    latency: dict[str, list[int]] = field(default_factory=dict)
    flags: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    canonical: dict[str, list] = field(default_factory=dict)


def _reg_key(r: Registration) -> tuple[int, str, str, str, str]:
    return (r.order, r.provider, r.gpu_model, r.gpu_uuid or "", r.endpoint or "")


def normalise_endpoint(uri: str) -> str:
    """An endpoint compared as a place: lower case, no spaces, no trailing slash ("" if empty)."""
    return uri.strip().lower().rstrip("/")


def clean(ev: Evidence) -> CleanEvidence:
    """See the module doc."""
    c = CleanEvidence()
    epoch = as_uint(ev.epoch, 2**64 - 1)
    lo, hi = (epoch - WINDOW, epoch - 1) if epoch is not None else (1, 0)  # a bad epoch: an empty window
    dropped: dict[str, int] = defaultdict(int)
    regs: dict[str, Registration] = {}
    for r in ev.registrations:
        k = node_key(r.node_id)
        order = as_uint(r.order, 2**96)
        if k is None or order is None or not isinstance(r.gpu_model, str) or not isinstance(r.provider, str):
            dropped["registration"] += 1
            continue
        uuid = r.gpu_uuid if isinstance(r.gpu_uuid, str) else None
        endpoint = r.endpoint if isinstance(r.endpoint, str) else None
        r = Registration(k, r.provider.lower(), r.gpu_model, uuid, order, endpoint)
        if k not in regs or _reg_key(r) < _reg_key(regs[k]):
            regs[k] = r
    c.regs = dict(sorted(regs.items()))
    per_epoch: dict[tuple[str, int], tuple] = {}
    for o in ev.observations:
        k, e = node_key(o.node_id), as_uint(o.epoch, 2**64 - 1)
        if k is None or e is None or not lo <= e <= hi:
            dropped["observation"] += 1
            continue
        good, bad = figures_of(o)
        if bad:
            dropped["figure"] += len(bad)
        row = tuple(sorted(good.items()))
        if (k, e) in per_epoch and per_epoch[(k, e)] != row:
            dropped["conflicting observation"] += 1
            row = min(row, per_epoch[(k, e)])
        per_epoch[(k, e)] = row
    for (k, e), row in sorted(per_epoch.items()):
        c.history.setdefault(k, []).append((e, dict(row)))
    for f in ev.faults:
        k, e = node_key(f.node_id), as_uint(f.epoch, 2**64 - 1)
        if k is None or e is None or not lo <= e <= hi:
            dropped["fault"] += 1
            continue
        c.faults.add((k, e))
    lat: dict[tuple[str, int, str], int] = {}
    for r in ev.latencies:
        k, e = node_key(r.node_id), as_uint(r.epoch, 2**64 - 1)
        el, ex = as_uint(r.elapsed_us, 2**63), as_uint(r.expected_us, 2**63)
        if (
            k is None
            or e is None
            or not lo <= e <= hi
            or not el
            or not ex
            or not isinstance(r.validator, str)
        ):
            dropped["latency"] += 1
            continue
        key = (k, e, r.validator.lower())
        lat[key] = min(lat.get(key, 2**127), ratio_ppm(el, ex))
    for (k, _e, _v), ratio in sorted(lat.items()):
        c.latency.setdefault(k, []).append(ratio)
    flags: set[tuple[str, str, int]] = set()
    for fl in ev.flags:
        k, e = node_key(fl.node_id), as_uint(fl.epoch, 2**64 - 1)
        if k is None or e is None or not lo <= e <= hi or fl.kind not in LATENCY_KINDS:
            dropped["latency flag"] += 1
            continue
        flags.add((k, fl.kind, e))
    for k, kind, e in sorted(flags):
        c.flags.setdefault(k, {}).setdefault(kind, []).append(e)
    if epoch is None:
        dropped[f"evidence epoch {str(ev.epoch)[:20]} is not an integer: every"] += 1
    c.notes = [
        f"dropped {n} {what} record(s): malformed or outside epochs {lo}..{hi}"
        for what, n in sorted(dropped.items())
    ]
    c.canonical = {
        "registrations": [
            [r.node_id, r.provider, r.gpu_model, r.gpu_uuid, r.order, r.endpoint] for r in c.regs.values()
        ],
        "observations": [[k, e, sorted(f.items())] for k in sorted(c.history) for e, f in c.history[k]],
        "faults": sorted(c.faults),
        "latencies": [[k, e, v, r] for (k, e, v), r in sorted(lat.items())],
        "flags": [list(f) for f in sorted(flags)],
    }
    return c


def evidence_digest(canonical: Mapping[str, Any], epoch: int) -> str:
    """SHA-256 of the canonical JSON of the cleaned evidence (``0x`` hex)."""
    doc = json.dumps({"epoch": epoch, **canonical}, sort_keys=True, separators=(",", ":"))
    return "0x" + hashlib.sha256(doc.encode()).hexdigest()
