"""Which jobs a provider's agent takes: the policy in its config file and the decision rule.

Config file (TOML, the ``[jobs]`` table)::

    [jobs]
    node_id = "0x..."                 # the registered GPU (ComputeStaking) that runs the jobs
    models = ["0x..."]                # model ids (sha256 of the ONNX files) it runs; ["*"] = any
    min_price_per_item = "0"          # least NET pay per item in token wei (after fee and royalty)
    max_items = 1000000
    max_active_jobs = 4               # jobs accepted and not yet closed; more wait for a free slot
    score = 0                         # this node's verified score (the AttestationRegistry's, if deployed, wins)
    flops_per_s = 0                   # throughput to plan with; 0 = measure each model on start
    gflops_per_watt = 0               # perf/W for energy terms when the node has no attestation (0 = none)
    prefer_efficient_step_s = 2.0     # prefer_efficient jobs: wait rank x this before accepting
    prefer_efficient_max_wait_s = 20.0  # ... but never longer than this (see jobs_rank.py)
    deadline_margin_s = 120           # time kept in hand before a job's deadline
    manifest_sources = ["http://127.0.0.1:8800"]   # blob endpoints asked for /blobs/<specHash>
    ipfs_gateway = ""                 # an IPFS path gateway for ipfs:// files ("" = none)
    batch_size = 4096
    max_upload_bytes = 268435456      # largest file a page may PUT at /blobs/<sha256> (0 = no uploads)
    device = "auto"                   # auto | cpu | cuda
    poll_s = 2.0

A job is accepted when every rule holds (:func:`decide`): the model is listed, the node's score
meets the job's minimum, the net price per item (budget minus protocol fee minus the model's
royalty, over the item count) meets the floor, the free stake covers the job's collateral, the item count is within ``max_items``, the
inference can finish ``deadline_margin_s`` before the deadline at the planned throughput, and the
manifest's energy terms (if any) hold for this node (:func:`oracle.energy.energy_ok`: its attested
perf/W, its last measured mJ per item on the model). A job whose manifest sets
``prefer_efficient`` is then held ``rank x prefer_efficient_step_s`` seconds (at most
``prefer_efficient_max_wait_s``) before it is accepted (:mod:`oracle.provider.jobs_rank`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle.energy import NodeEnergy, energy_ok
from oracle.errors import EXIT_USAGE
from oracle.work.blobs import DEFAULT_MAX_BLOB_BYTES
from oracle.work.content import parse_digest
from oracle.work.errors import BlobError, WorkError
from oracle.work.escrow import BPS, Job, Royalty
from oracle.work.manifest import Manifest

ANY_MODEL = "*"


class PolicyError(WorkError):
    """The agent's config file is missing or malformed."""

    exit_code = EXIT_USAGE


@dataclass
class JobPolicy:
    node_id: bytes
    models: tuple[str, ...] = (ANY_MODEL,)
    min_price_per_item: int = 0
    max_items: int = 1_000_000
    max_active_jobs: int = 4
    score: int = 0
    flops_per_s: float = 0.0
    gflops_per_watt: float = 0.0
    prefer_efficient_step_s: float = 2.0
    prefer_efficient_max_wait_s: float = 20.0
    deadline_margin_s: float = 120.0
    manifest_sources: tuple[str, ...] = ()
    ipfs_gateway: str | None = None
    batch_size: int = 4096
    max_upload_bytes: int = DEFAULT_MAX_BLOB_BYTES
    device: str = "auto"
    poll_s: float = 2.0
    model_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        for key in ("prefer_efficient_step_s", "prefer_efficient_max_wait_s"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 3600:
                raise PolicyError(f"jobs.{key} must be a number of seconds from 0 to 3600, got {v!r}")
        ids = set()
        for m in self.models:
            if m != ANY_MODEL:
                try:
                    ids.add(int.from_bytes(parse_digest(m, "jobs.models"), "big"))
                except BlobError as exc:
                    raise PolicyError(str(exc)) from None
        self.model_ids = frozenset(ids)

    def runs_model(self, model_id: int) -> bool:
        return ANY_MODEL in self.models or model_id in self.model_ids

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> JobPolicy:
        known = set(cls.__dataclass_fields__) - {"model_ids"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(
                f"[jobs] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "node_id" not in data:
            raise PolicyError(
                '[jobs] needs node_id = "0x<64 hex digits>" (the registered GPU that runs jobs)'
            )
        try:
            kw = dict(data)
            kw["node_id"] = parse_digest(data["node_id"], "jobs.node_id")
            kw["models"] = tuple(data.get("models", (ANY_MODEL,)))
            kw["manifest_sources"] = tuple(data.get("manifest_sources", ()))
            kw["min_price_per_item"] = int(data.get("min_price_per_item", 0))
            kw["ipfs_gateway"] = data.get("ipfs_gateway") or None
            return cls(**kw)
        except (BlobError, TypeError, ValueError) as exc:
            raise PolicyError(f"[jobs] is malformed: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> JobPolicy:
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise PolicyError(
                f"config file {p} not found (see oracle/provider/jobs_policy.py for its keys)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"config file {p} is not valid TOML: {exc}") from None
        if "jobs" not in doc:
            raise PolicyError(f"config file {p} has no [jobs] table")
        return cls.from_mapping(doc["jobs"])


@dataclass(frozen=True)
class Decision:
    accept: bool
    reasons: tuple[str, ...]
    net_per_item: int
    royalty: Royalty
    fee: int
    seconds_needed: float
    energy: str = ""
    """:func:`oracle.energy.energy_ok`'s reason when the manifest has energy terms ("" otherwise)."""


def net_pay(budget: int, fee_bps: int, royalty: Royalty) -> tuple[int, int]:
    """(fee, provider's share) of a settled budget, as JobEscrow computes them."""
    fee = budget * fee_bps // BPS
    return fee, budget - fee - royalty.amount


def decide(
    policy: JobPolicy,
    job: Job,
    manifest: Manifest,
    *,
    fee_bps: int,
    royalty: Royalty,
    score: int,
    flops_per_s: float,
    now: int,
    free_stake: int,
    energy: NodeEnergy | None = None,
) -> Decision:
    """Apply the policy (module doc) to one open job; every failing rule is named."""
    reasons = []
    count = manifest.inputs.count
    fee, net = net_pay(job.budget, fee_bps, royalty)
    per_item = net // count
    if not policy.runs_model(job.model_id):
        reasons.append(f"model {job.model_id:#066x} is not in jobs.models")
    if manifest.model_id != job.model_id:
        reasons.append("the manifest's model is not the job's model NFT")
    if manifest.deadline != job.deadline:
        reasons.append(f"the manifest's deadline {manifest.deadline} is not the job's {job.deadline}")
    if job.min_score > score:
        reasons.append(f"the job needs a verified score of {job.min_score}, this node has {score}")
    if per_item < policy.min_price_per_item:
        reasons.append(
            f"net pay {per_item} wei per item is below jobs.min_price_per_item {policy.min_price_per_item}"
        )
    collateral = job.budget * job.collateral_bps // BPS
    if free_stake < collateral:
        reasons.append(f"the job locks {collateral} wei of collateral, the free stake is {free_stake}")
    if count > policy.max_items:
        reasons.append(f"{count} items exceed jobs.max_items {policy.max_items}")
    seconds = count * manifest.flops_per_item / max(flops_per_s, 1.0)
    if now + seconds + policy.deadline_margin_s > job.deadline:
        reasons.append(
            f"the run needs about {seconds:.0f} s + {policy.deadline_margin_s:.0f} s margin, "
            f"the deadline is {job.deadline - now} s away"
        )
    said = ""
    if manifest.energy is not None:
        ok, said = energy_ok(manifest.energy, energy or NodeEnergy(), manifest.flops_per_item)
        if not ok:
            reasons.append(f"energy terms: {said}")
    return Decision(not reasons, tuple(reasons), per_item, royalty, fee, seconds, said)
