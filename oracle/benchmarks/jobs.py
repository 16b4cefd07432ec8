"""Batch jobs: the protocol's cost per item, a job's time vs bare ONNX Runtime, the check's share,
the crossover, sharding across providers, and the sampling odds and economics.

``python -m oracle.benchmarks.jobs [--items 10000] [--repeats 3]`` prints the tables and writes
them into ``oracle/benchmarks/RESULTS.md`` between the ``jobs`` markers (``--no-record``: print only).

What is timed, per model (the demo ``digits`` and the ~100x ``digits-large``), on the same batch:

- ``bare``: one ONNX Runtime session already loaded, the inputs already in memory, ``run`` in
  chunks of ``--batch`` items: what the inference alone costs.
- the provider's job, by the agent's own functions: fetch the input file over HTTP from a blob
  server on loopback (SHA-256 checked), recompute the input item tree against the manifest root,
  fetch + check + load the model, the chunked run with each chunk stored as a blob and journaled
  in the SQLite journal (fsync), the outputs file and its item tree (= ``resultHash``), then
  serving 16 openings over HTTP. Chain transactions are not in it (their gas is in GAS.md; the
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
import os
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oracle.client.sampling import economics_table, escape_bound, measured_pass_rate, pass_probability
from oracle.journal import Journal
from oracle.provider.jobs_compute import commit_outputs, run_chunks
from oracle.work import demo_model
from oracle.work import job as work
from oracle.work.blob_server import BlobServer, json_reply
from oracle.work.blobs import BlobStore, Fetcher
from oracle.work.items import ItemTree, Opening, check_openings
from oracle.work.runtime import OnnxModel

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- jobs:start -->", "<!-- jobs:end -->"
SAMPLES = 16


@dataclass
class ModelRun:
    name: str
    flops_per_item: int
    items: int
    bare_s: float
    bare_cpu_s: float
    steps: Steps
    check_s: float
    rerun_batch_s: float
    rerun_single_s: float
    overlap: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """1-thread session: (inference wall, protocol wall on the critical path serial, overlapped)."""

    @property
    def job_s(self) -> float:
        return sum(self.steps.wall.values())

    @property
    def fixed_s(self) -> float:
        return sum(self.steps.wall[k] for k in FIXED_STEPS)

    @property
    def per_item_us(self) -> float:
        """Wall: (job - bare - fixed) / items."""
        return max(self.job_s - self.bare_s - self.fixed_s, 0.0) / self.items * 1e6

    @property
    def per_item_cpu_us(self) -> float:
        """CPU: the per-item steps plus what the chunked run costs beyond the bare run."""
        extra = max(self.steps.cpu[RUN_STEP] - self.bare_cpu_s, 0.0)
        return (sum(self.steps.cpu[k] for k in PER_ITEM_STEPS) + extra) / self.items * 1e6

    @property
    def bare_item_us(self) -> float:
        return self.bare_s / self.items * 1e6

    @property
    def bare_item_cpu_us(self) -> float:
        return self.bare_cpu_s / self.items * 1e6


class Steps:
    """Wall and CPU (process) seconds per named step."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t = (time.perf_counter(), time.process_time())

    def mark(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[name], self.cpu[name] = now[0] - self._t[0], now[1] - self._t[1]
        self._t = now


PER_ITEM_STEPS = (
    "fetch inputs (HTTP) + SHA-256",
    "input item tree vs manifest root",
    "outputs file + item tree (resultHash)",
)
FIXED_STEPS = ("fixed: model fetch + onnx.checker + session", "serve 16 openings (HTTP)")
RUN_STEP = "inference, chunks stored + journaled"


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_model(name: str, items: int, batch: int, repeats: int, tmp: Path) -> ModelRun:
    data = demo_model.model_bytes(name)
    x = np.tile(demo_model.test_set(1000)[0], (-(-items // 1000), 1))[:items]
    model = OnnxModel(data, device="cpu", spinning=False)  # as the agent runs jobs
    model.run(x[:batch])  # warm-up
    bare = _best(lambda: model.run(x, batch_size=batch), repeats)
    bare_cpu = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        model.run(x, batch_size=batch)
        bare_cpu = min(bare_cpu, time.process_time() - c0)

    source = BlobStore(tmp / f"{name}-requester")
    server = BlobServer(source)
    server.start()
    try:
        manifest = work.build_manifest(
            model,
            x,
            2_000_000_000,
            model_urls=[server.blob_url(source.put(data))],
            input_urls=[server.blob_url(source.put(work.input_bytes(x)))],
        )
        best: Steps | None = None
        for r in range(repeats):
            store = BlobStore(tmp / f"{name}-provider-{r}")
            journal = Journal(tmp / f"{name}-journal-{r}.sqlite")
            fetcher = Fetcher(store)
            steps = Steps()
            m = OnnxModel(fetcher.fetch(manifest.model), device="cpu", spinning=False)
            work.check_model(manifest, m)
            steps.mark(FIXED_STEPS[0])
            inputs = fetcher.fetch(manifest.inputs.blob)  # type: ignore[arg-type]
            steps.mark(PER_ITEM_STEPS[0])
            assert ItemTree.from_bytes(inputs, manifest.inputs.item_size).root == manifest.inputs.root
            steps.mark(PER_ITEM_STEPS[1])
            xs = work.input_array(manifest, inputs)
            chunks = run_chunks(
                manifest,
                m,
                xs,
                store,
                batch,
                [],
                lambda c, d, j=journal: j.set_meta("job/bench/1", ",".join(c)),
            )
            steps.mark(RUN_STEP)
            _, tree = commit_outputs(manifest, store, chunks)
            steps.mark(PER_ITEM_STEPS[2])
            openings = _serve_openings(tree, SAMPLES)
            steps.mark(FIXED_STEPS[1])
            journal.close()
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
    finally:
        server.stop()
    overlap = measure_overlap(data, manifest, x, batch, repeats, tmp / f"{name}-overlap")
    return ModelRun(
        name, model.flops_per_item, items, bare, bare_cpu, best, check, rerun_batch, rerun_single, overlap
    )


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


def _serve_openings(tree: ItemTree, count: int) -> list[Opening]:
    import json

    def route(path, query):
        items = [int(i) for i in query["items"][0].split(",")]
        return json_reply(200, {"openings": [tree.open(i).to_json() for i in items]})

    srv = BlobServer(BlobStore(tempfile.mkdtemp()), routes={"/jobs/": route})
    srv.start()
    try:
        picks = ",".join(str(i) for i in work.sample_indices(tree.count, count, np.random.default_rng(2)))
        with urllib.request.urlopen(f"{srv.url}/jobs/1/open?items={picks}") as resp:
            return [Opening.from_json(o) for o in json.loads(resp.read())["openings"]]
    finally:
        srv.stop()


def _check(manifest, model, x, tree: ItemTree, openings: list[Opening]) -> None:
    check_openings(openings, tree.root, manifest.inputs.count, manifest.record_size)
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


def report(runs: list[ModelRun], shards: tuple[float, float], trials: int) -> str:
    lines = [START, "## Batch jobs (`python -m oracle.benchmarks.jobs`)", ""]
    lines += ["| | " + " | ".join(r.name for r in runs) + " |", "| --- |" + " ---: |" * len(runs)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("FLOP per item", [f"{r.flops_per_item:,}" for r in runs])
    row("items", [f"{r.items:,}" for r in runs])
    row("bare ONNX Runtime (s)", [f"{r.bare_s:.3f}" for r in runs])
    for step in runs[0].steps.wall:
        row(f"&nbsp;&nbsp;{step} (s)", [f"{r.steps.wall[step]:.3f}" for r in runs])
    row("**job / bare**", [f"**{r.job_s / r.bare_s:.2f}x**" for r in runs])
    row("bare inference per item (us)", [f"{r.bare_item_us:.1f}" for r in runs])
    row("**protocol cost per item (us)**", [f"**{r.per_item_us:.1f}**" for r in runs])
    row("per-item overhead vs inference (wall)", [f"{r.per_item_us / r.bare_item_us:.1%}" for r in runs])
    row("inference CPU per item (us, all threads)", [f"{r.bare_item_cpu_us:.1f}" for r in runs])
    row("**protocol CPU per item (us)**", [f"**{r.per_item_cpu_us:.1f}**" for r in runs])
    row(
        "**per-item overhead vs inference (CPU)**",
        [f"**{r.per_item_cpu_us / r.bare_item_cpu_us:.1%}**" for r in runs],
    )
    row("1-thread session: inference of the chunked run (s)", [f"{r.overlap[0]:.3f}" for r in runs])
    row(
        "&nbsp;&nbsp;output-side protocol wall on the critical path, serial (us per item)",
        [f"{r.overlap[1] / r.items * 1e6:.2f}" for r in runs],
    )
    row(
        "&nbsp;&nbsp;the same, overlapped with the next chunk's inference (us per item)",
        [f"{r.overlap[2] / r.items * 1e6:.2f}" for r in runs],
    )
    row(f"check, s={SAMPLES} (ms)", [f"{r.check_s * 1e3:.2f}" for r in runs])
    row("**check / job**", [f"**{r.check_s / r.job_s:.2%}**" for r in runs])
    row(f"re-run {SAMPLES} items as one batch (ms)", [f"{r.rerun_batch_s * 1e3:.2f}" for r in runs])
    row(f"re-run {SAMPLES} items one by one (ms)", [f"{r.rerun_single_s * 1e3:.2f}" for r in runs])
    small, large = runs[0], runs[-1]
    flops_per_us = large.flops_per_item / large.bare_item_cpu_us  # per CPU-us, the large model's rate
    proto = max(r.per_item_cpu_us for r in runs)
    cross = 10 * proto * flops_per_us
    inputs_us = max(sum(r.steps.cpu[k] for k in PER_ITEM_STEPS[:2]) / r.items * 1e6 for r in runs)
    verdicts = ", ".join(
        f"{r.name} {r.per_item_cpu_us / r.bare_item_cpu_us:.0%} CPU / {r.per_item_us / r.bare_item_us:.0%} wall "
        f"({'met' if max(r.per_item_cpu_us / r.bare_item_cpu_us, r.per_item_us / r.bare_item_us) <= 0.1 else 'missed'})"
        for r in runs
    )
    hidden = ", ".join(
        f"{r.name} {r.overlap[1] / r.items * 1e6:.2f} -> {r.overlap[2] / r.items * 1e6:.2f} us" for r in runs
    )
    lines += [
        "",
        f"Goal (protocol overhead at most 10% of the inference, per item): {verdicts}. The per-item protocol "
        f"cost is ~{proto:.1f} CPU-us for a 1 KiB input item and a 48-byte output record, of which ~{inputs_us:.1f} us "
        "is the input side (the file fetched over HTTP and its SHA-256, the input item tree; done before the job "
        "is accepted, so a file that does not match its manifest declines the job before collateral is locked) "
        "and the rest the output side (each chunk's outputs stored with fsync, hashed into leaves, journaled; the "
        "outputs file and its tree). Crossover: that cost is at most 10% of the inference once a model costs "
        f"about {cross / 1e6:.1f} MFLOP per item at this CPU's rate ({flops_per_us / 1e3:.1f} GFLOP per CPU-second, "
        f"measured on {large.name}, {large.flops_per_item / 1e6:.1f} MFLOP per item); on a GPU, "
        f"{cross / 1e6:.1f} MFLOP x (GPU rate / CPU rate). Overlap: while a chunk infers, the previous chunk's "
        "output work runs on a worker thread; with a core free during inference (1-thread rows, as a GPU "
        f"node's CPU is while its GPU runs) the output side's wall on the critical path (the run's wall minus "
        f"the time inside ONNX Runtime) goes {hidden} per item (serial -> overlapped; what stays is the last "
        "chunk, each chunk's journal fsync, the outputs file's fsync and the tree's inner nodes, and on a "
        "model as cheap as digits there is no inference to hide behind). "
        "Not measured here: this machine has no GPU. The fixed costs (model fetch, checker, session, 16 "
        f"openings: {small.fixed_s:.2f} s / {large.fixed_s:.2f} s here) are under 10% of any job whose inference "
        "takes at least 10 s. Every row is the best of the repeats, step by step (wall and CPU alike), on a "
        "shared machine (see the load below); CPU rows are what the work costs whatever else runs, though "
        "on this shared 2-core machine they still vary by about 30% from run to run (process CPU: the "
        "requester's blob server "
        "runs in the same process, so serving the input file is counted too).",
        "",
        f"Sharding ({small.name if len(runs) == 1 else runs[-1].name}, {runs[-1].items:,} items): one provider "
        f"{shards[0]:.2f} s, three providers at once {shards[1]:.2f} s ({shards[0] / shards[1]:.2f}x; this "
        f"machine has {os.cpu_count()} cores, so three providers here share two).",
        "",
        f"### Sampling: measured pass rates ({trials:,} trials each) vs exact, n = 360, s = {SAMPLES}",
        "",
        "| wrong items | f | measured pass | exact C(n-w,s)/C(n,s) | bound (1-f)^s |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    rng = np.random.default_rng(0)
    for w in (1, 4, 18, 36, 90, 180):
        measured = measured_pass_rate(360, w, SAMPLES, trials, rng)
        lines.append(
            f"| {w} | {w / 360:.4f} | {measured:.4f} | {pass_probability(360, w, SAMPLES):.4f} | "
            f"{escape_bound(w / 360, SAMPLES):.4f} |"
        )
    lines += [
        "",
        "### Economics: expected gain of skipping a fraction f (price P = 1, cost C = 0.8, collateral K = 0.5)",
        "",
        "| s | f | P(caught) | saved f·C | expected loss q·(P+K) | gain |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in economics_table():
        lines.append(
            f"| {e.samples} | {e.f:.4f} | {e.caught:.4f} | {e.saved:.4f} | {e.expected_loss:.4f} | "
            f"{e.gain:+.4f} |"
        )
    lines += [
        "",
        "Every gain is negative: a caught cheat loses the payment and the collateral, and q >= f for any "
        "s >= 1, so cheating never pays against a requester who checks (oracle/client/sampling.py).",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, 1-minute load "
        f"average {os.getloadavg()[0]:.2f} at the end (best of the repeats).",
        END,
    ]
    return "\n".join(lines)


def record(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Oracle benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--trials", type=int, default=20_000)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            measure_model(n, args.items, args.batch, args.repeats, Path(tmp))
            for n in ("digits", "digits-large")
        ]
    shards = measure_shards("digits-large", args.items, args.batch)
    section = report(runs, shards, args.trials)
    print(section)
    if not args.no_record:
        record(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
