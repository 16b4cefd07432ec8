"""The job agent's energy figures: how a job's compute is metered, what its record keeps of the
reading, and what the node knows of its own efficiency when it considers the next job
(:class:`oracle.energy.NodeEnergy`: perf/W from its latest on-chain attestation, ``fp32`` and
``powerW`` in the ``AttestationRecorded`` event, and the mJ per item last measured on the model).
"""

from __future__ import annotations

from typing import Any

from oracle.chain import ChainClient
from oracle.energy import EnergyReading, NodeEnergy
from oracle.work.runtime import OnnxModel

REGISTRY = "AttestationRegistry"
Attested = tuple[int, tuple[int, int] | None]
"""(the attestation epoch read, its (fp32, powerW) or None)."""


def meter_args_for(model: OnnxModel) -> dict[str, Any]:
    """NVML on a model that runs on CUDA; the labelled CPU estimate otherwise (never a GPU's
    reading for work its CPU did)."""
    return {} if model.device == "cuda" else {"nvml": False}


def energy_record(reading: EnergyReading) -> dict[str, Any] | None:
    """What a job's record keeps of its energy (None when no item was computed in this run)."""
    per_item = reading.joules_per_item
    if per_item is None:
        return None
    return {
        "mj_per_item": round(per_item * 1000.0, 6),
        "joules": round(reading.joules, 6),
        "items": reading.items,
        "seconds": round(reading.seconds, 6),
        "source": reading.source,
        "estimate": reading.estimate,
        "note": reading.note,
    }


def energy_info(energy: dict[str, Any] | None) -> dict[str, Any]:
    if energy is None:
        return {}
    label = " (estimate)" if energy["estimate"] else ""
    return {"mj_per_item": f"{energy['mj_per_item']:.4g}{label}", "energy_source": energy["source"]}


def attested_figures(chain: ChainClient, node_id: bytes, cached: Attested) -> Attested:
    """The node's latest attested ``(fp32, powerW)``: read from the registry's event once per
    attestation epoch (``cached`` is the last answer); ``(0, None)`` without a registry or record."""
    if REGISTRY not in chain.deployment.contracts:
        return 0, None
    epoch = int(chain.call(REGISTRY, "recordOf", node_id)[1])
    if not epoch:
        return 0, None
    if cached[0] == epoch:
        return cached
    figures = None
    for log in chain.events(REGISTRY, "AttestationRecorded"):
        att = log["args"]["attestation"]
        if bytes(att["nodeId"]) == node_id and int(att["epoch"]) == epoch:
            figures = (int(att["fp32"]), int(att["powerW"]))
    return epoch, figures


def node_energy(
    figures: tuple[int, int] | None, configured_gflops_per_watt: float, last: dict[str, Any] | None
) -> NodeEnergy:
    """What :func:`oracle.energy.energy_ok` is given: the attested perf/W (else the configured
    one, else none) and the last measured mJ per item (with its estimate flag)."""
    perf = configured_gflops_per_watt or None
    if figures is not None:
        attested = NodeEnergy.from_attestation(*figures).gflops_per_watt
        perf = attested if attested is not None else perf
    if last is None:
        return NodeEnergy(perf)
    return NodeEnergy(perf, float(last["mj_per_item"]), bool(last["estimate"]))
