"""The job agent killed at each step that sends or finishes something resumes from its journal
without losing work or sending anything twice: one JobAccepted, one ResultSubmitted with the honest root, and the chunks that
were finished before the kill are not computed again."""

from __future__ import annotations

import pytest

from oracle.work.escrow import Status
from oracle.work.items import ItemTree
from oracle.work.job import run
from oracle.work.manifest import parse_manifest
from tests.support.core import ETHER
from tests.support.jobs import build_world
from tests.support.work import demo_bytes, demo_onnx, digits

ITEMS, BATCH = 200, 64  # 4 chunks


class Killed(BaseException):
    """Raised by the step hook: the agent stops there, as under SIGKILL (BaseException, so no
    handler in the agent catches it)."""


@pytest.fixture(scope="module")
def world(accounts, networks, tmp_path_factory):
    w = build_world(accounts, networks, tmp_path_factory.mktemp("resume"))
    yield w
    w.stop()


def killer(at: str, nth: int = 1):
    seen = {"n": 0}

    def hook(step, job_id, info):
        if step == at:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Killed(step)

    return hook


@pytest.mark.parametrize(
    ("step", "nth"),
    [
        ("accept-signed", 1),
        ("accept-mined", 1),
        ("progress", 2),
        ("submit-signed", 1),
        ("submitted", 1),
    ],
)
def test_killed_agent_resumes_without_losing_work_or_sending_twice(world, step, nth, tmp_path):
    client = world.client(f"client-{step}")
    try:
        x, _ = digits(ITEMS)
        posted = client.post(demo_bytes(), x, 100 * ETHER, client.escrow.chain.block_timestamp() + 3600)
        state = f"agent-{step}"
        first = world.agent(client=client, state=state, on_step=killer(step, nth), batch_size=BATCH)
        with pytest.raises(Killed):
            first.poll_once()
        first.stop()
        steps = []
        second = world.agent(
            client=client, state=state, on_step=lambda s, j, i: steps.append(s), batch_size=BATCH
        )
        second.poll_once()
        rec = second.records.get(posted.job_id)
        assert rec.step == "submitted", rec
        escrow = client.escrow
        assert len(escrow.events("JobAccepted", posted.job_id)) == 1
        assert len(escrow.events("ResultSubmitted", posted.job_id)) == 1
        manifest = parse_manifest(client.store.get(posted.spec_hash))
        assert escrow.result_hash(posted.job_id) == ItemTree(run(manifest, demo_onnx(), x)).root
        assert escrow.job(posted.job_id).status == Status.SUBMITTED
        if step == "progress":  # 2 chunks were journaled before the kill: 2 are left
            assert steps.count("progress") == 2
        assert client.check(posted.job_id, samples=16).ok
    finally:
        client.stop()
        world.stop()


def test_an_agent_back_after_the_deadline_gives_the_job_up_without_a_reverting_submit(world, chain):
    client = world.client("client-late")
    try:
        x, _ = digits(16)
        posted = client.post(demo_bytes(), x, 100 * ETHER, client.escrow.chain.block_timestamp() + 600)
        first = world.agent(client=client, state="late", on_step=killer("accept-mined"))
        with pytest.raises(Killed):
            first.poll_once()
        first.stop()
        chain.pending_timestamp += 3600
        chain.mine()
        second = world.agent(client=client, state="late", on_step=None)
        second.poll_once()
        rec = second.records.get(posted.job_id)
        assert rec.step == "done" and "deadline passed" in rec.reason
        assert client.escrow.events("ResultSubmitted", posted.job_id) == []
    finally:
        client.stop()
        world.stop()
