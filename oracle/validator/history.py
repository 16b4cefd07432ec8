"""The agreed evidence of an epoch, read from the chain (rule 1 of :mod:`oracle.validator.anomaly`).

For epoch ``e`` a validator reads only logs of blocks up to the *cutoff*: the last block whose
timestamp is before the epoch's start (``genesis + (e - 1) * epoch_seconds``). Every validator
finds the same cutoff block on the same chain, so every validator reads the same logs, whenever
in the epoch it runs and however many providers it reached:

* ``ComputeStaking.NodeRegistered`` -> :class:`~oracle.validator.evidence.Registration` (provider,
  node id, GPU model, GPU UUID, endpoint -- left out once ``NodeDeregistered``, so that a replaced
  card's endpoint can be reused; ``order`` = block * 2**32 + log index);
* ``AttestationRecorded`` -> :class:`~oracle.validator.evidence.Observation` (the figures live
  only in this event);
* ``FaultReported`` with a slash -> :class:`~oracle.validator.evidence.FaultRecord` (the
  fault-based signals count only these);
* ``FaultReported`` with ``slashAmount`` 0 and a latency reason hash ->
  :class:`~oracle.validator.evidence.LatencyFlag` (:mod:`oracle.validator.latency_flags`: k
  validators each found the node's challenge timings anomalous in their own view); other
  zero-slash faults are left out.

Challenge timings themselves are not on chain (each validator's are its own), so the signed
assessment reads the latency flags instead ("no_latency" in the reasons: no flag). The UUID
signals read the UUID each registration carries; against this contract they cannot fire (it derives
the node id from a UUID in NVML's one canonical spelling), and stay as defence in depth.
"""

from __future__ import annotations

from typing import Any

from oracle.chain import ChainClient
from oracle.validator.batch import REGISTRY
from oracle.validator.evidence import WINDOW, Evidence, FaultRecord, LatencyFlag, Observation, Registration
from oracle.validator.latency_flags import KIND_OF_HASH
from oracle.validator.nodes import STAKING


def epoch_start(genesis: int, epoch_seconds: int, epoch: int) -> int:
    """The first second of ``epoch`` (epochs are 1-based)."""
    return genesis + (epoch - 1) * epoch_seconds


def cutoff_block(chain: ChainClient, before: int) -> int | None:
    """The last block with a timestamp before ``before`` (binary search), or ``None`` when even
    the deployment block is not before it."""
    lo, hi = chain.deployment.deploy_block, chain.w3.eth.block_number
    if chain.block_timestamp(lo) >= before:
        return None
    if chain.block_timestamp(hi) < before:
        return hi
    while hi - lo > 1:  # invariant: timestamp(lo) < before <= timestamp(hi)
        mid = (lo + hi) // 2
        if chain.block_timestamp(mid) < before:
            lo = mid
        else:
            hi = mid
    return lo


def _order(log: Any) -> int:
    return int(log["blockNumber"]) * 2**32 + int(log["logIndex"])


def evidence_from_chain(chain: ChainClient, epoch: int, cutoff: int | None) -> Evidence:
    """The evidence of ``epoch``: the logs up to ``cutoff`` (none when ``cutoff`` is ``None``)."""
    if cutoff is None:
        return Evidence(epoch)
    gone = {
        bytes(log["args"]["nodeId"]): _order(log)
        for log in chain.events(STAKING, "NodeDeregistered", to_block=cutoff)
    }
    regs = []
    for log in chain.events(STAKING, "NodeRegistered", to_block=cutoff):
        node, order = bytes(log["args"]["nodeId"]), _order(log)
        live = gone.get(node, -1) < order  # a deregistered node's endpoint may be reused honestly
        endpoint = log["args"]["metadataURI"] if live else None
        regs.append(
            Registration(
                node,
                log["args"]["provider"],
                log["args"]["gpuModel"],
                log["args"]["gpuUuid"],
                order,
                endpoint,
            )
        )
    first = max(1, epoch - WINDOW)
    obs = []
    for log in chain.events(REGISTRY, "AttestationRecorded", to_block=cutoff):
        att = log["args"]["attestation"]
        if first <= int(att["epoch"]) < epoch:
            obs.append(
                Observation(
                    bytes(att["nodeId"]),
                    int(att["epoch"]),
                    int(att["fp32"]),
                    int(att["tf32"]),
                    int(att["fp16"]),
                    int(att["bf16"]),
                    int(att["memBandwidth"]),
                    int(att["powerW"]),
                )
            )
    faults, flags = [], []
    for log in chain.events(REGISTRY, "FaultReported", to_block=cutoff):
        args = log["args"]
        node, at = bytes(args["nodeId"]), int(args["epoch"])
        if not first <= at < epoch:
            continue
        if int(args["slashAmount"]) > 0:
            faults.append(FaultRecord(node, at))
        elif (kind := KIND_OF_HASH.get(bytes(args["reasonHash"]))) is not None:
            flags.append(LatencyFlag(node, at, kind))
    return Evidence(epoch, tuple(regs), tuple(obs), tuple(faults), flags=tuple(flags))
