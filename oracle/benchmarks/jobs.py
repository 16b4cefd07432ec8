"""Batch jobs: the protocol's cost per item, a job's time vs bare ONNX Runtime, the check's share,
the crossover, sharding across providers, and the sampling odds and economics.

``python -m oracle.benchmarks.jobs [--items 10000] [--repeats 3]`` prints the tables and writes
them into ``oracle/benchmarks/RESULTS.md`` between the ``jobs`` markers (``--no-record``: print only).

What is timed, per model (the demo ``digits`` and the ~100x ``digits-large``), on the same batch:

- ``bare``: one ONNX Runtime session already loaded, the inputs already in memory, ``run`` in
  chunks of ``--batch`` items: what the inference alone costs.
- the provider's job, by the agent's own functions: fetch + check + load the model and warm its
  session with one chunk of zeros (a fresh session's first full chunk runs ~40% slower while
  ONNX Runtime grows its memory arena; the agent keeps one session per model across jobs, so this
  is a fixed cost of a model's first job), fetch the input file over HTTP from a blob server on
  loopback (sent with ``sendfile`` by another process, as the requester is another machine)
  with its SHA-256 and the input item tree (leaves on several threads) checked while it arrives,
  the chunked run with each chunk stored as a blob and journaled in the SQLite journal (fsync, on
  the worker), the outputs file and its item tree (= ``resultHash``), then serving 16 openings
  over HTTP.
- the slope (``--long``): the whole provider job and bare ONNX Runtime on digits-large at
  ``--items`` and ``--long`` items; (job(long) - job(items)) / (long - items) is the per-item cost
  with every fixed cost cancelled, what a job whose inference takes 10 s or more pays per item. Chain transactions are not in it (their gas is in GAS.md; the
  devnet time is the demo's).
- the overlap (:mod:`oracle.provider.jobs_compute`): a 1-thread session leaves a core free while it
  infers, as a GPU node's CPU is free while its GPU runs; the agent's chunked run (each chunk's
  outputs stored, fsynced, hashed, journaled, then committed) with that work after each chunk
  (serial) and on a worker thread while the next chunk infers (overlapped, what the agent does):
  the protocol's wall on the critical path = the run's wall minus the time inside ONNX Runtime.
- ONNX Runtime sessions are made without intra-op spinning, as the agent makes them (spinning
  threads would burn the CPU the overlapped hashing needs, and inflate every CPU row after a run).
- the requester's check: open ``s = 16`` items with proofs over HTTP, verify them, fetch nothing
  else (model and inputs are the requester's own), re-run the 16 items as one batch, compare.

Per-item protocol cost = (job - bare - fixed costs) / items, where the fixed costs are those that do
not grow with the item count (model fetch, checker, session creation, serving the 16 openings).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from oracle.benchmarks.jobs_report import (
    FIXED_STEPS,
    OFF_PATH_STEP,
    PER_ITEM_STEPS,
    RUN_STEP,
    SAMPLES,
    ModelRun,
    Slope,
    Steps,
    record,
    report,
)
from oracle.journal import Journal
from oracle.provider.jobs_compute import commit_outputs, run_chunks
from oracle.work import demo_model
from oracle.work import job as work
from oracle.work.blob_server import BlobServer, json_reply
from oracle.work.blobs import BlobStore, Fetcher
from oracle.work.items import DTYPES, ItemTree, Opening, check_openings
from oracle.work.manifest import Manifest
from oracle.work.runtime import OnnxModel


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _serve_store(root: str, conn) -> None:
    """The requester's blob server, in its own process (:func:`requester`)."""
    server = BlobServer(BlobStore(root))
    conn.send(server.start())
    conn.recv()  # until told to stop
    server.stop()


@contextlib.contextmanager
def requester(model: OnnxModel, data: bytes, x: np.ndarray, root: Path) -> Iterator[Manifest]:
    """The requester's side on loopback: a blob server with the model and the input file, and
    the manifest that names them there. The server runs in another process, as the requester is
    another machine: sending the input file (~0.4 CPU-us per KiB with sendfile here) is not the
    provider's cost, and the provider's process CPU no longer counts it."""
    source = BlobStore(root)
    model_digest, input_digest = source.put(data), source.put(work.input_bytes(x))
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_serve_store, args=(str(root), there), daemon=True)
    proc.start()
    try:
        url = here.recv()
        yield work.build_manifest(
            model,
            x,
            2_000_000_000,
            model_urls=[f"{url}/blobs/{model_digest.hex()}"],
            input_urls=[f"{url}/blobs/{input_digest.hex()}"],
        )
    finally:
        here.send("stop")
        proc.join(10)


def _bare(model: OnnxModel, x: np.ndarray, batch: int) -> tuple[float, float]:
    """Wall and CPU seconds of bare ONNX Runtime on ``x`` in chunks of ``batch``."""
    t0, c0 = time.perf_counter(), time.process_time()
    model.run(x, batch_size=batch)
    return time.perf_counter() - t0, time.process_time() - c0


def measure_model(name: str, items: int, batch: int, repeats: int, tmp: Path) -> ModelRun:
    data = demo_model.model_bytes(name)
    x = np.tile(demo_model.test_set(1000)[0], (-(-items // 1000), 1))[:items]
    model = OnnxModel(data, device="cpu", spinning=False)  # as the agent runs jobs
    model.run(x[:batch])  # warm-up
    with requester(model, data, x, tmp / f"{name}-requester") as manifest:
        best: Steps | None = None
        bare = bare_cpu = float("inf")
        for r in range(repeats):  # bare and job in turn: both see the same moments of a shared machine
            bw, bc = _bare(model, x, batch)
            bare, bare_cpu = min(bare, bw), min(bare_cpu, bc)
            steps, tree, openings = provider_job(manifest, batch, tmp / f"{name}-provider-{r}")
            if best is None:
                best = steps
            else:  # each step's best wall and best CPU over the repeats (a shared machine's noise)
                for k in steps.wall:
                    best.wall[k] = min(best.wall[k], steps.wall[k])
                    best.cpu[k] = min(best.cpu[k], steps.cpu[k])
        assert best is not None
        check = _best(lambda: _check(manifest, model, x, tree, openings), repeats)
        idx = work.sample_indices(items, SAMPLES, np.random.default_rng(1))
        rerun_batch = _best(lambda: model.run(x[idx]), repeats)
        rerun_single = _best(lambda: [model.run(x[i : i + 1]) for i in idx], repeats)
    overlap = measure_overlap(data, manifest, x, batch, repeats, tmp / f"{name}-overlap")
    return ModelRun(
        name, model.flops_per_item, items, bare, bare_cpu, best, check, rerun_batch, rerun_single, overlap
    )


def provider_job(
    manifest, batch: int, tmp: Path, threads: int | None = None
) -> tuple[Steps, ItemTree, list[Opening]]:
    """The provider's side of one job, step by step, by the agent's own functions (module doc);
    ``threads``: ONNX Runtime's intra-op threads (None: one per core, as the agent)."""
    store = BlobStore(tmp)
    journal = Journal(tmp / "journal.sqlite")
    fetcher = Fetcher(store)
    steps = Steps()
    m = OnnxModel(fetcher.fetch(manifest.model), device="cpu", threads=threads, spinning=False)
    work.check_model(manifest, m)
    m.run(np.zeros((batch, *manifest.inputs.item_shape), dtype=DTYPES[manifest.inputs.dtype]))  # warm-up
    steps.mark(FIXED_STEPS[0])

    inputs = fetcher.fetch(  # as the agent's (oracle.provider.jobs_inputs)
        manifest.inputs.blob,
        alongside=lambda arrivals: work.check_input_root(manifest, arrivals),
        buffer=True,
        keep_later=True,
    )
    steps.mark(PER_ITEM_STEPS[0])
    chunks = run_chunks(
        manifest,
        m,
        work.input_array(manifest, inputs),
        store,
        batch,
        [],
        lambda c, d, j=journal: j.set_meta("job/bench/1", ",".join(c)),
    )
    steps.mark(RUN_STEP)
    _, tree = commit_outputs(manifest, store, chunks)
    steps.mark(PER_ITEM_STEPS[1])
    openings = _serve_openings(tree, SAMPLES, steps)
    fetcher.keep_later()  # as the agent, once the job is submitted
    fetcher.flush()
    steps.mark(PER_ITEM_STEPS[2])
    journal.close()
    return steps, tree, openings


def measure_slope(
    name: str, sizes: tuple[int, int], batch: int, repeats: int, tmp: Path, threads: int | None = None
) -> Slope:
    """Bare ONNX Runtime and the whole provider job at two item counts: the difference over the
    difference in items is the per-item cost with every fixed cost cancelled (the model's
    session, the last chunk's tail, the openings), i.e. what a job pays per item once it is long.
    Each repeat runs bare and job at both counts back to back and gives its own slope (a shared
    machine's slow minute then moves all four runs of one repeat alike); the row is the median
    repeat, with the spread. ``threads=1``: inference on one core, the protocol's threads with the
    other to themselves (as on a GPU node, whose CPU is free while the GPU runs)."""
    data = demo_model.model_bytes(name)
    model = OnnxModel(data, device="cpu", threads=threads, spinning=False)
    xs = [np.tile(demo_model.test_set(1000)[0], (-(-n // 1000), 1))[:n] for n in sizes]
    model.run(xs[0][:batch])
    d = sizes[1] - sizes[0]
    per_repeat = []  # (bare wall, bare CPU, job wall, job CPU, copy CPU) per item, in us
    with contextlib.ExitStack() as stack:
        manifests = [
            stack.enter_context(requester(model, data, x, tmp / f"slope-{n}-{threads}-requester"))
            for n, x in zip(sizes, xs, strict=True)
        ]
        for r in range(repeats):
            runs = []
            for n, x, manifest in zip(sizes, xs, manifests, strict=True):
                wall, cpu = _bare(model, x, batch)
                steps, _, _ = provider_job(manifest, batch, tmp / f"slope-{n}-{threads}-{r}", threads)
                job_wall = sum(v for k, v in steps.wall.items() if k != OFF_PATH_STEP)
                job_cpu = sum(v for k, v in steps.cpu.items() if k != OFF_PATH_STEP)
                runs.append((wall, cpu, job_wall, job_cpu, steps.cpu[OFF_PATH_STEP]))
            per_repeat.append(tuple((b - a) / d * 1e6 for a, b in zip(*runs, strict=True)))
    return Slope.of_repeats(name if threads is None else f"{name}, 1-thread session", sizes, per_repeat)


def measure_overlap(
    data: bytes, manifest, x: np.ndarray, batch: int, repeats: int, tmp: Path
) -> tuple[float, float, float]:
    """What the overlap hides when a core is free during inference (as on a GPU node, whose CPU
    waits while the GPU runs): a 1-thread session runs the agent's chunked run (chunks stored,
    hashed, journaled, then committed) with the protocol's work after each chunk, then alongside
    the next chunk. Returns (inference wall, protocol wall on the critical path serial,
    overlapped): the run's wall minus the time inside ONNX Runtime, best of the repeats."""
    one = OnnxModel(data, device="cpu", threads=1, spinning=False)
    one.run(x[:batch])
    infer, paths = float("inf"), []
    for overlap in (False, True):
        best = float("inf")
        for r in range(repeats):
            store = BlobStore(tmp / f"{overlap}-{r}")
            journal = Journal(tmp / f"{overlap}-{r}.sqlite")
            t0 = time.perf_counter()
            run = run_chunks(
                manifest,
                one,
                x,
                store,
                batch,
                [],
                lambda c, d, j=journal: j.set_meta("job/bench/1", ",".join(c)),
                overlap=overlap,
            )
            commit_outputs(manifest, store, run)
            best = min(best, time.perf_counter() - t0 - run.infer_s)
            infer = min(infer, run.infer_s)
            journal.close()
        paths.append(best)
    return infer, paths[0], paths[1]


def _serve_openings(tree: ItemTree, count: int, steps: Steps | None = None) -> list[Opening]:
    """Open ``count`` items over HTTP; with ``steps``, only the request and its answer are timed
    (the agent's server is running anyway; this one's start, and its stop, which waits out the
    server's 50 ms poll, are not the job's)."""
    import json

    def route(path, query):
        items = [int(i) for i in query["items"][0].split(",")]
        return json_reply(200, {"openings": [tree.open(i).to_json() for i in items]})

    srv = BlobServer(BlobStore(tempfile.mkdtemp()), routes={"/jobs/": route})
    srv.start()
    try:
        if steps is not None:
            steps.restart()
        picks = ",".join(str(i) for i in work.sample_indices(tree.count, count, np.random.default_rng(2)))
        with urllib.request.urlopen(f"{srv.url}/jobs/1/open?items={picks}") as resp:
            openings = [Opening.from_json(o) for o in json.loads(resp.read())["openings"]]
        if steps is not None:
            steps.mark(FIXED_STEPS[1])
        return openings
    finally:
        srv.stop()
        if steps is not None:
            steps.restart()


def _check(manifest, model, x, tree: ItemTree, openings: list[Opening]) -> None:
    check_openings(openings, tree.root, manifest.inputs.count, manifest.record_size, manifest.leaf_items)
    idx = [o.index for o in openings]
    rerun = work.run(manifest, model, x[idx])
    assert work.compare(manifest, idx, [o.item for o in openings], rerun).ok


def measure_shards(name: str, items: int, batch: int, providers: int = 3) -> tuple[float, float]:
    """Wall time of one provider (one 1-thread session) on all items vs ``providers`` concurrent
    1-thread sessions on a shard each (threads: ONNX Runtime releases the GIL)."""
    data = demo_model.model_bytes(name)
    x = np.tile(demo_model.test_set(1000)[0], (-(-items // 1000), 1))[:items]
    one = OnnxModel(data, device="cpu", threads=1)
    one.run(x[:batch])
    t = time.perf_counter()
    one.run(x, batch_size=batch)
    single = time.perf_counter() - t
    sessions = [OnnxModel(data, device="cpu", threads=1) for _ in range(providers)]
    size = -(-items // providers)
    threads = [
        threading.Thread(target=s.run, args=(x[k * size : (k + 1) * size],), kwargs={"batch_size": batch})
        for k, s in enumerate(sessions)
    ]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return single, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--trials", type=int, default=20_000)
    p.add_argument(
        "--long", type=int, default=100_000, help="the larger item count of the per-item slope (0: none)"
    )
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            measure_model(n, args.items, args.batch, args.repeats, Path(tmp))
            for n in ("digits", "digits-large")
        ]
        slopes = (
            [
                measure_slope("digits-large", (args.items, args.long), args.batch, args.repeats, Path(tmp), t)
                for t in (None, 1)
            ]
            if args.long > args.items
            else []
        )
    shards = measure_shards("digits-large", args.items, args.batch)
    section = report(runs, shards, args.trials, slopes)
    print(section)
    if not args.no_record:
        record(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
