"""One job split across three providers: three escrow jobs taken by three agents (each with its own
node, stake and collateral), reassembled by the client, each shard checked against its own root."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.client.shards import check_all, gather, post_sharded, shard_bounds
from oracle.energy import EnergyPolicy
from oracle.work.errors import InputError
from oracle.work.escrow import Status
from tests.support.core import ETHER
from tests.support.jobs import build_world
from tests.support.work import demo_bytes, demo_onnx, digits


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    w = build_world(accounts, networks, tmp_path_factory.mktemp("shards"), providers=3)
    yield w
    w.stop()


def test_three_providers_each_take_a_shard_and_the_whole_checks(world):
    client = world.client()
    try:
        x, y = digits(300)
        budget = 301 * ETHER + 1  # does not divide by 3: the shards' budgets must still sum to it
        deadline = client.escrow.chain.block_timestamp() + 3600
        terms = EnergyPolicy(max_mj_per_item=10**9, prefer_efficient=True)
        job = post_sharded(client, demo_bytes(), x, 3, budget, deadline, energy=terms)
        assert [p.manifest.energy for p in job.shards] == [terms] * 3  # every shard carries the terms
        agents = [world.agent(i, client=client, max_active_jobs=1, gflops_per_watt=50) for i in range(3)]
        for agent in agents:  # each takes the first open shard, then is full
            agent.poll_once()
        jobs = [client.escrow.job(i) for i in job.job_ids]
        assert [j.status for j in jobs] == [Status.SUBMITTED] * 3
        assert [j.provider for j in jobs] == [p.address for p in world.providers]
        assert sum(j.budget for j in jobs) == budget
        labels, logits = gather(client, job)
        whole_labels, whole_logits = demo_onnx().run(x)
        assert labels.tobytes() == whole_labels.tobytes() and logits.tobytes() == whole_logits.tobytes()
        assert (labels == y).mean() >= 0.95
        assert all(r.ok for r in check_all(client, job, 16, np.random.default_rng(5)))
        for i in job.job_ids:
            client.approve(i)
        for agent in agents:
            agent.poll_once()  # slots free again once the shards are closed
            assert agent._active() == 0
    finally:
        client.stop()
        world.stop()


def test_shard_bounds_cover_every_item_once():
    assert shard_bounds(10, 3) == [(0, 4), (4, 8), (8, 10)]
    assert shard_bounds(3, 3) == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(InputError, match="cannot be split into 4 shards"):
        shard_bounds(3, 4)
