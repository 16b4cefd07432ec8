"""``prefer_efficient`` at acceptance: a job agent that sees a job whose manifest prefers
efficient nodes gives the more efficient nodes the first chance to take it, deterministically
from the chain.

Every agent ranks the same set -- the active attested nodes (the registry's record of each node
that has an ``AttestationRecorded`` event, unexpired at the latest block) by GFLOP/s per W of
that record's ``fp32`` and ``powerW`` (:func:`oracle.energy.rank_by_efficiency`: most efficient
first, nodes without a power figure last, ties by node id) -- and waits ``rank x
jobs.prefer_efficient_step_s`` seconds, at most ``jobs.prefer_efficient_max_wait_s``, before it
accepts. A node that is not among them (never attested, or expired) ranks after all of them. If
another node accepted meanwhile, the agent moves on (the job is no longer open).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from oracle.chain import ChainClient
from oracle.energy import NodeEnergy, rank_by_efficiency
from oracle.provider.jobs_energy import REGISTRY


@dataclass(frozen=True)
class EfficiencyWait:
    seconds: float
    rank: int
    """0 = the most efficient active attested node."""
    of: int
    """How many active attested nodes were ranked."""
    reason: str


class AttestedFigures:
    """Every node's attested ``(fp32, powerW)`` by epoch, from ``AttestationRecorded``: scanned
    once, then only the blocks since the last scan (from the deployment block again when the
    chain went back: a reorg, a devnet reset)."""

    def __init__(self) -> None:
        self.by_node: dict[bytes, dict[int, tuple[int, int]]] = {}
        self.next_block: int | None = None

    def refresh(self, chain: ChainClient) -> None:
        head = chain.w3.eth.block_number
        start = self.next_block
        if start is None or start > head + 1:
            self.by_node, start = {}, chain.deployment.deploy_block
        if start <= head:
            for log in chain.events(REGISTRY, "AttestationRecorded", from_block=start, to_block=head):
                att = log["args"]["attestation"]
                figures = (int(att["fp32"]), int(att["powerW"]))
                self.by_node.setdefault(bytes(att["nodeId"]), {})[int(att["epoch"])] = figures
        self.next_block = head + 1


def active_attested(chain: ChainClient, seen: AttestedFigures | None = None) -> list[tuple[str, NodeEnergy]]:
    """``(node id hex, NodeEnergy)`` of each active attested node, from its current record's
    ``AttestationRecorded`` figures (empty without a registry). ``seen``: the scan kept between
    calls (None: scan everything now)."""
    if REGISTRY not in chain.deployment.contracts:
        return []
    seen = seen if seen is not None else AttestedFigures()
    seen.refresh(chain)
    now = chain.block_timestamp()
    out = []
    for node, by_epoch in sorted(seen.by_node.items()):
        record = chain.call(REGISTRY, "recordOf", node)
        epoch, expiry = int(record[1]), int(record[2])
        if expiry > now and epoch in by_epoch:
            out.append(("0x" + node.hex(), NodeEnergy.from_attestation(*by_epoch[epoch])))
    return out


def efficiency_wait(
    chain: ChainClient,
    node_id: bytes,
    step_s: float,
    max_wait_s: float,
    seen: AttestedFigures | None = None,
) -> EfficiencyWait:
    """How long this node waits before accepting a ``prefer_efficient`` job, and why."""
    nodes = active_attested(chain, seen)
    order = rank_by_efficiency(nodes)
    me = "0x" + node_id.hex()
    rank = order.index(me) if me in order else len(order)
    seconds = min(max(rank * step_s, 0.0), max(max_wait_s, 0.0))
    perf = dict(nodes).get(me)
    mine = f"{perf.gflops_per_watt:g} GFLOP/s per W" if perf and perf.gflops_per_watt else "no perf/W figure"
    where = (
        f"rank {rank} of {len(order)} active attested nodes"
        if me in order
        else (f"not among the {len(order)} active attested nodes")
    )
    reason = f"the job prefers efficient nodes; this node ({mine}) is {where}: waits {seconds:g} s"
    return EfficiencyWait(seconds, rank, len(order), reason)


@dataclass
class Holds:
    """The jobs an agent holds back: job id -> the ``time.monotonic()`` at which it may accept."""

    due: dict[int, float] = field(default_factory=dict)
    network: AttestedFigures = field(default_factory=AttestedFigures)
    clock: Callable[[], float] = time.monotonic

    def __contains__(self, job_id: int) -> bool:
        return job_id in self.due

    def held(
        self,
        job_id: int,
        chain: ChainClient,
        node_id: bytes,
        step_s: float,
        max_wait_s: float,
        said: Callable[[EfficiencyWait], None],
    ) -> bool:
        """True while job ``job_id`` still waits; the first call ranks this node and calls
        ``said`` with the wait (the log line); the call after the wait releases the job."""
        due = self.due.get(job_id)
        if due is None:
            wait = efficiency_wait(chain, node_id, step_s, max_wait_s, self.network)
            due = self.due[job_id] = self.clock() + wait.seconds
            said(wait)
        if self.clock() < due:
            return True
        del self.due[job_id]
        return False
