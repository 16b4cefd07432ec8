"""Many GPUs on one job: split a large job into shards, each its own escrow job (own collateral,
own provider, own check), then reassemble and check the whole.

Shard ``k`` of ``n`` holds the contiguous items ``[k*m, (k+1)*m)`` (``m = ceil(count / n)``; the
last shard may be shorter). Each shard's outputs are checked against its own on-chain root when
fetched, and sampled like any job; the whole is the concatenation in shard order. The post's
keyword terms (``min_score``, ``energy``: an energy cap, a perf/W floor, ``prefer_efficient``) go to
every shard's manifest and job alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.client.jobs import CheckReport, JobClient, Posted
from oracle.work.errors import InputError


@dataclass(frozen=True)
class ShardedJob:
    shards: tuple[Posted, ...]
    bounds: tuple[tuple[int, int], ...]

    @property
    def job_ids(self) -> list[int]:
        return [p.job_id for p in self.shards]


def shard_bounds(count: int, shards: int) -> list[tuple[int, int]]:
    if not 1 <= shards <= count:
        raise InputError(f"{count} items cannot be split into {shards} shards (1 <= shards <= items)")
    size = -(-count // shards)
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def post_sharded(
    client: JobClient, model_bytes: bytes, x: np.ndarray, shards: int, budget: int, deadline: int, **kwargs
) -> ShardedJob:
    """Post ``shards`` jobs over the items of ``x``; the budget is split by item count (the
    remainder of the division goes to the last shard, so the shards' budgets sum to ``budget``)."""
    bounds = shard_bounds(int(x.shape[0]), shards)
    posted, spent = [], 0
    for k, (a, b) in enumerate(bounds):
        part = budget - spent if k == len(bounds) - 1 else budget * (b - a) // x.shape[0]
        spent += part
        posted.append(client.post(model_bytes, x[a:b], part, deadline, **kwargs))
    return ShardedJob(tuple(posted), tuple(bounds))


def gather(client: JobClient, job: ShardedJob) -> list[np.ndarray]:
    """Every output of the whole job, each shard checked against its own root."""
    parts = [client.outputs(p.job_id) for p in job.shards]
    return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(parts[0]))]


def check_all(
    client: JobClient, job: ShardedJob, samples: int, rng: np.random.Generator | None = None
) -> list[CheckReport]:
    """``samples`` items re-run per shard (each shard has its own provider and collateral)."""
    return [client.check(p.job_id, samples, rng) for p in job.shards]
