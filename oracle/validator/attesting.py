"""What a validator signs for a probed node: the attestation of its figures, or a fault.

k validators can only aggregate signatures over byte-identical typed data, so an attestation
holds nothing validator-specific: provider, node, GPU model and VRAM as registered on chain;
TFLOPS / bandwidth / power as the provider reports them (its benchmark, which the challenge
deadline holds it to); ``score`` the protocol's :func:`oracle.score.score_of` over those figures;
``reportHash`` the keccak of the canonical JSON of the reported benchmark; ``expiry`` given by the
epoch schedule. A failed challenge gives a :class:`~oracle.attest.Fault` instead, with a fixed
reason hash, the configured slash amount and finder.

The network watches itself (:mod:`oracle.validator.anomaly`): the node's anomaly, computed by
every validator from the same chain logs, multiplies the score (floor; so ``minScore`` and job
matching feel it), and the report hash commits to the multiplier and the signals behind it. The
figures stay as reported: the score is what the network trusts them to be worth.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from eth_utils import keccak

from oracle.attest import UINT32_MAX, Attestation, Fault, gpu_model_bytes32, tflops_fixed
from oracle.score import score_of
from oracle.validator.anomaly import NodeAnomaly
from oracle.validator.evidence import Observation
from oracle.validator.figures import Figures
from oracle.validator.nodes import NodeInfo

FAULT_REASON = keccak(text="oracle.challenge.failed")


def report_hash(node: NodeInfo, epoch: int, figures: Figures, anomaly: NodeAnomaly | None = None) -> bytes:
    doc: dict[str, Any] = {
        "epoch": epoch,
        "nodeId": node.key,
        "provider": node.provider,
        "benchmark": figures.to_json(),
    }
    if anomaly is not None:
        doc["anomaly"] = {
            "multiplier_ppm": anomaly.multiplier_ppm,
            "signals": [[r.kind, r.severity_ppm] for r in anomaly.reasons if r.severity_ppm > 0],
        }
    return keccak(text=json.dumps(doc, sort_keys=True, separators=(",", ":")))


def _fixed(figures: Figures) -> dict[str, int]:
    """The figures in the registry's integers (TFLOPS x 100, GB/s, W)."""
    return {
        "fp32": tflops_fixed(figures.fp32),
        "tf32": tflops_fixed(figures.tf32),
        "fp16": tflops_fixed(figures.fp16),
        "bf16": tflops_fixed(figures.bf16),
        "memBandwidth": max(0, min(UINT32_MAX, round(figures.mem_bandwidth_gbps))),
        "powerW": max(0, min(UINT32_MAX, round(figures.power_w))),
    }


def candidate_of(node: NodeInfo, epoch: int, figures: Figures) -> Observation:
    """The figures about to be attested, as the anomaly check reads them (registry integers)."""
    f = _fixed(figures)
    return Observation(
        node.node_id, epoch, f["fp32"], f["tf32"], f["fp16"], f["bf16"], f["memBandwidth"], f["powerW"]
    )


def attestation_of(
    node: NodeInfo, epoch: int, figures: Figures, expiry: int, anomaly: NodeAnomaly | None = None
) -> Attestation:
    """The one attestation every honest validator builds for ``node`` at ``epoch`` from ``figures``
    (and, where given, the node's ``anomaly``: its multiplier lowers the score)."""
    att = Attestation(
        provider=node.provider,
        nodeId=node.node_id,
        gpuModel=gpu_model_bytes32(node.gpu_model),
        vramMiB=node.vram_mib,
        **_fixed(figures),
        score=score_of(figures.gflops(), figures.mem_bandwidth_gbps),
        epoch=epoch,
        reportHash=report_hash(node, epoch, figures, anomaly),
        expiry=expiry,
    )
    return att if anomaly is None else replace(att, score=anomaly.apply(att.score))


def fault_of(node: NodeInfo, epoch: int, slash_amount: int, finder: str) -> Fault:
    """The fault every honest validator builds for a node that failed its challenge."""
    return Fault(node.provider, node.node_id, epoch, FAULT_REASON, slash_amount, finder)


def fault_json(f: Fault) -> dict[str, Any]:
    return {
        "provider": f.provider,
        "nodeId": "0x" + f.nodeId.hex(),
        "epoch": f.epoch,
        "reasonHash": "0x" + f.reasonHash.hex(),
        "slashAmount": str(f.slashAmount),
        "finder": f.finder,
    }


def fault_from_json(d: dict[str, Any]) -> Fault:
    return Fault(
        d["provider"], d["nodeId"], int(d["epoch"]), d["reasonHash"], int(d["slashAmount"]), d["finder"]
    )
