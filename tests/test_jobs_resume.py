"""The job agent killed at each step that sends or finishes something resumes from its journal
without losing work or sending anything twice: one JobAccepted, one ResultSubmitted with the honest root, and the chunks that
were finished before the kill are not computed again."""

from __future__ import annotations

import pytest

from oracle.provider import jobs_inputs
from oracle.provider.jobs_compute import commit_outputs, run_chunks
from oracle.work import job as work
from oracle.work.blobs import BlobStore
from oracle.work.errors import InputError
from oracle.work.escrow import Status
from oracle.work.job import run
from oracle.work.manifest import parse_manifest
from tests.support.core import ETHER
from tests.support.jobs import build_world
from tests.support.work import demo_bytes, demo_manifest, demo_onnx, digits

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
        assert (
            escrow.result_hash(posted.job_id)
            == work.output_tree(manifest, run(manifest, demo_onnx(), x)).root
        )
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


def test_overlapped_chunks_commit_the_serial_root_and_a_failed_input_check_stops_the_run(tmp_path):
    """run_chunks hashes chunk k-1 while chunk k infers: the root is the serial one whether the
    run starts fresh or after 2 journaled chunks, chunks are reported in order only once stored,
    and an input check that fails (run alongside the first chunk) raises before any commit."""
    manifest, data = demo_manifest(200)
    model, x, store = demo_onnx(), work.input_array(manifest, data), BlobStore(tmp_path / "blobs")
    serial = work.output_tree(manifest, run(manifest, model, x)).root
    reported: list[tuple[int, int]] = []

    def on_chunk(chunks, done):
        assert all(store.has(bytes.fromhex(c[2:])) for c in chunks)  # stored before it is journaled
        reported.append((len(chunks), done))

    fresh = run_chunks(manifest, model, x, store, BATCH, [], on_chunk)
    assert reported == [(1, 64), (2, 128), (3, 192), (4, 200)] and fresh.items_computed == 200
    assert commit_outputs(manifest, store, fresh)[1].root == serial
    resumed = run_chunks(manifest, model, x, store, BATCH, fresh.chunks[:2], lambda c, d: None)
    assert resumed.chunks == fresh.chunks and resumed.items_computed == 72 and sorted(resumed.parts) == [2, 3]
    assert commit_outputs(manifest, store, resumed)[1].root == serial

    def bad_inputs():
        raise InputError("the input items do not match the manifest's Merkle root")

    with pytest.raises(InputError, match="do not match"):
        run_chunks(manifest, model, x, store, BATCH, [], lambda c, d: None, verify=bad_inputs)


def test_an_input_check_failing_after_a_restart_stops_the_job_before_anything_is_submitted(
    world, monkeypatch
):
    """After a restart the agent checks the input tree alongside the first chunk's inference; when
    it fails (here: the tree made to disagree with the manifest, as a corrupted input copy would),
    the job ends with the reason and no result is ever submitted."""
    client = world.client("client-bad-inputs")
    try:
        x, _ = digits(16)
        posted = client.post(demo_bytes(), x, 100 * ETHER, client.escrow.chain.block_timestamp() + 3600)
        first = world.agent(
            client=client, state="bad-inputs", on_step=killer("accept-mined"), batch_size=BATCH
        )
        with pytest.raises(Killed):
            first.poll_once()
        first.stop()

        # what the agent's input check sees: items that are not the manifest's
        monkeypatch.setattr(jobs_inputs.work, "input_root", lambda manifest, arrivals: bytes(32))
        steps = []
        second = world.agent(
            client=client, state="bad-inputs", on_step=lambda s, j, i: steps.append(s), batch_size=BATCH
        )
        second.poll_once()
        rec = second.records.get(posted.job_id)
        assert rec.step == "done" and "do not match the manifest's Merkle root" in rec.reason
        assert "failed" in steps and "submit-signed" not in steps
        assert client.escrow.events("ResultSubmitted", posted.job_id) == []
        assert client.escrow.job(posted.job_id).status == Status.ACCEPTED  # the deadline settles it
    finally:
        client.stop()
        world.stop()
