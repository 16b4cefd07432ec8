"""Benchmarks of the paid inference endpoint (``python -m oracle.benchmarks.paid``).

(a) Requests per second of the demo digits model (oracle/work, ONNX Runtime, CPU) over HTTP,
    without and with the payment check (voucher parsed and verified, journaled, then the model),
    with 1 and with ``--concurrency`` clients (one channel each), for each journal durability
    (``disk``: answered once fsynced, group commit; ``process``: once written, fsynced within
    5 ms) and each credit window size (``--credit 1,8,32``: one voucher prepays n requests, the
    next n - 1 carry hash-chain tokens; 1: a voucher per request). The clients run in separate
    processes over keep-alive connections with vouchers and tokens made beforehand, so the
    numbers are the server's; both endpoints meter each request's energy
    (oracle/provider/paid_energy.py), so the difference is the payment alone. Beside each HTTP
    setting, the two endpoints' request handlers (body in, answer out, no HTTP) timed in process,
    one request of each in turn, and the server's CPU per request (:mod:`oracle.benchmarks.paid_cpu`:
    its connection thread's and the whole process's, during the throughput runs, and with one
    client alternating between the two endpoints request by request, the steadiest figure of
    what the payment costs the provider). Also, in process: the model alone, the energy meter alone and
    around the model, the voucher check and the credit token check alone, and one journal record
    of each alone (each durability).
(b) A bounded load test on loopback (:mod:`oracle.benchmarks.paid_load`), the clients' windows
    the largest ``--credit``.

Chain: a fresh anvil started here (the binary from PATH or node_modules) with ComputeToken,
ModelNFT and PaymentChannels deployed from the compiled artifacts in ``.build/`` (``ape compile``),
or ``--rpc`` + ``--deployment`` of a running devnet. Results go to stdout and, with ``--out``, JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from oracle.benchmarks.paid_chain import DEV_KEYS, ETHER, MODEL, deploy_from_build, fund, start_anvil
from oracle.benchmarks.paid_cpu import alternating_cpu_us, constant_receipts, count_thread_cpu
from oracle.benchmarks.paid_load import load_test
from oracle.benchmarks.paid_parts import PRICE, Header, measure_parts, paid_headers
from oracle.chain import ChainClient
from oracle.client.pay import PayingClient
from oracle.client.pay_credit import HEADER_CREDIT
from oracle.client.pay_voucher import channels_domain
from oracle.client.pay_wire import HEADER_SIGNATURE
from oracle.deployment import Deployment, load_deployment
from oracle.provider.paid import PaidInferenceServer, onnx_model
from oracle.provider.paid_energy import RequestMeter
from oracle.provider.paid_ledger import Ledger
from oracle.provider.paid_service import PaidService, PaidSettings
from oracle.work import demo_model
from oracle.work.runtime import OnnxModel

# ------------------------------------------------------------------ (a) throughput


def _client_process(url: str, headers: list[Header], body: bytes, ready: Any, go: Any, out: Any) -> None:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    ready.set()
    go.wait()
    start = time.perf_counter()
    statuses = []
    for h in headers:
        conn.request(
            "POST",
            "/infer",
            body,
            {"Content-Type": "application/json", **(dict([h]) if h else {})},
        )
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
    out.put((time.perf_counter() - start, statuses))


def _drive(url: str, per_client: list[list[Header]], body: bytes) -> tuple[float, int, float]:
    """Run one client process per header list at once; (wall seconds, requests answered 200,
    this process's CPU seconds meanwhile: the server's, the clients being other processes)."""
    ctx = mp.get_context("spawn")
    ready = [ctx.Event() for _ in per_client]
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_client_process, args=(url, h, body, r, go, out))
        for h, r in zip(per_client, ready, strict=True)
    ]
    for p in procs:
        p.start()
    for r in ready:
        r.wait(60)
    start, cpu = time.perf_counter(), time.process_time()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    for p in procs:
        p.join()
    ok = sum(s.count(200) for _, s in results)
    return wall, ok, cpu


@dataclass
class Throughput:
    """Requests/s without and with the payment check, ``rounds`` alternating runs of each; the share
    is judged on the best runs (the least disturbed on a shared machine), medians for reference."""

    clients: int
    durability: str
    requests_per_run: int
    rounds: int
    without_check_rps: list[float]
    with_check_rps: list[float]
    credit: int = 1
    """Requests each voucher prepaid (the rest of its window carried hash-chain tokens)."""
    handler_without_us: float = 0.0
    """Median microseconds inside the unpaid endpoint's request handler (in process, no HTTP)."""
    handler_with_us: float = 0.0
    """The same with the payment check (1 client's headers), alternating request by request."""
    without_thread_cpu_us: list[float] = field(default_factory=list)
    """Per run: the server's connection-thread CPU per request (oracle.benchmarks.paid_cpu)."""
    with_thread_cpu_us: list[float] = field(default_factory=list)
    without_process_cpu_us: list[float] = field(default_factory=list)
    """Per run: the serving process's CPU per request (every thread of the provider)."""
    with_process_cpu_us: list[float] = field(default_factory=list)
    alternating_without_cpu_us: list[float] = field(default_factory=list)
    """Per run of one client alternating between the endpoints request by request (1-client rows
    only): the unpaid endpoint's connection-thread CPU per request; the steadiest comparison."""
    alternating_with_cpu_us: list[float] = field(default_factory=list)
    alternating_constant_without_cpu_us: list[float] = field(default_factory=list)
    """The same alternation (credit rows) with every credit request answered by one constant
    receipt (:func:`oracle.benchmarks.paid_cpu.constant_receipts`): what the payment costs without
    its check and record, i.e. its header in and its receipt out."""
    alternating_constant_with_cpu_us: list[float] = field(default_factory=list)

    @property
    def check_share(self) -> float:
        """The payment check's share of a paid request's time (best runs)."""
        return 1 - max(self.with_check_rps) / max(self.without_check_rps)

    def summary(self) -> dict[str, float]:
        cpu: dict[str, float] = {}
        for kind in ("thread", "process", "alternating", "alternating_constant"):
            pre, post = (f"{kind}_", "") if kind.startswith("alternating") else ("", f"{kind}_")
            without = statistics.median(getattr(self, f"{pre}without_{post}cpu_us") or [0.0])
            with_check = statistics.median(getattr(self, f"{pre}with_{post}cpu_us") or [0.0])
            cpu[f"{kind}_cpu_without_us"] = without
            cpu[f"{kind}_cpu_with_us"] = with_check
            cpu[f"{kind}_cpu_check_share"] = (with_check - without) / with_check if with_check else 0.0
        return {
            **cpu,
            "without_best": max(self.without_check_rps),
            "without_median": statistics.median(self.without_check_rps),
            "with_best": max(self.with_check_rps),
            "with_median": statistics.median(self.with_check_rps),
            "check_share_best": self.check_share,
            "check_share_median": 1
            - statistics.median(self.with_check_rps) / statistics.median(self.without_check_rps),
        }


HANDLER_REQUESTS = 400


def _handler_us(
    free: PaidInferenceServer, paid: PaidInferenceServer, headers: list[Header], body: bytes
) -> tuple[float, float]:
    """Median microseconds of the unpaid and the paid endpoint's handler (body to answer, no HTTP),
    one request of each in turn (the same moment of a shared machine)."""
    without, with_check = [], []
    for h in headers:
        t = time.perf_counter()
        free.handle_infer(body, None)
        t1 = time.perf_counter()
        status = paid.handle_infer(
            body,
            h[1] if h and h[0] == HEADER_SIGNATURE else None,
            h[1] if h and h[0] == HEADER_CREDIT else None,
        )[0]
        t2 = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"the paid handler answered {status} in the handler benchmark")
        without.append(t1 - t)
        with_check.append(t2 - t1)
    return statistics.median(without) * 1e6, statistics.median(with_check) * 1e6


def measure_throughput(
    rpc: str,
    deployment: Deployment,
    requests: int,
    concurrency: int,
    work: Path,
    durabilities: tuple[str, ...] = ("disk", "process"),
    credits: tuple[int, ...] = (1,),
) -> list[Throughput]:
    """Alternating runs without and with the check, per durability, client count and window size."""
    provider = Account.from_key(DEV_KEYS[1])
    users = [Account.create() for _ in range(concurrency)]
    owner_client = ChainClient(rpc, deployment, Account.from_key(DEV_KEYS[0]), base_delay=0.01)
    fund(owner_client, [u.address for u in users], 10_000 * ETHER)
    model = onnx_model(OnnxModel.from_bytes(demo_model.model_bytes(MODEL), device="cpu", threads=1))
    body = json.dumps({"x": demo_model.test_set(1)[0].tolist()}).encode()
    services = {
        d: PaidService(
            ChainClient(rpc, deployment, provider, base_delay=0.01),
            model,
            PaidSettings(
                PRICE,
                demo_model.model_id(MODEL),
                work / f"bench-journal-{d}.db",
                redeem_threshold=10**30,
                poll_s=1.0,
                journal_durability=d,
            ),
        ).start()
        for d in durabilities
    }
    first = services[durabilities[0]]
    # the baseline meters each request's energy too (issue 18; ~8 us) and flushes the totals to a
    # journal's SQLite as the paid endpoint does (a commit every 256 requests): the difference is
    # the payment alone
    free_energy = Ledger(work / "bench-free-energy.db")
    free = PaidInferenceServer(
        model, first.terms, None, meter=RequestMeter({"nvml": False}, free_energy.add_energy)
    ).start()
    free_cpu = count_thread_cpu(free)
    paid_cpus = {d: count_thread_cpu(s.server) for d, s in services.items()}
    domain = channels_domain(deployment.chain_id, deployment.get("PaymentChannels").address)
    rounds = 5
    channels = []
    for u in users:  # one channel per client, paying every service (the same provider) in turn
        payer = PayingClient(
            ChainClient(rpc, deployment, u, base_delay=0.01),
            session_key=u,
            deposit_requests=len(durabilities)
            * len(credits)
            * (3 * requests + 2 * HANDLER_REQUESTS + 6 * rounds * max(credits))
            + 10,
        )
        channels.append(payer.open_channel(first.url, first.terms).channel_id)
    rows = []
    used = [0] * concurrency
    model_id = demo_model.model_id(MODEL)
    try:
        for durability, service in services.items():
            for credit in credits:
                for clients in sorted({1, concurrency}):
                    n = requests // (clients * rounds)
                    row = Throughput(clients, durability, n * clients, rounds, [], [], credit)
                    for _ in range(rounds):
                        base_wall, base_ok, base_cpu = _drive(
                            free.url, [[None] * n for _ in range(clients)], body
                        )
                        base_thread = free_cpu.take(n * clients)
                        headers = []
                        for i in range(clients):
                            paid, prepaid = paid_headers(
                                (channels[i], model_id), users[i].key, domain, n, used[i], credit
                            )
                            headers.append(paid)
                            used[i] += prepaid
                        paid_wall, paid_ok, paid_cpu = _drive(service.server.url, headers, body)
                        paid_thread = paid_cpus[durability].take(n * clients)
                        if base_ok != n * clients or paid_ok != n * clients:
                            raise RuntimeError(
                                f"throughput run lost requests: {base_ok} / {paid_ok} of {n * clients}"
                            )
                        row.without_check_rps.append(n * clients / base_wall)
                        row.with_check_rps.append(n * clients / paid_wall)
                        row.without_thread_cpu_us.append(base_thread / (n * clients) * 1e6)
                        row.with_thread_cpu_us.append(paid_thread / (n * clients) * 1e6)
                        row.without_process_cpu_us.append(base_cpu / (n * clients) * 1e6)
                        row.with_process_cpu_us.append(paid_cpu / (n * clients) * 1e6)
                    for _ in range(rounds if clients == 1 else 0):
                        paid, prepaid = paid_headers(
                            (channels[0], model_id), users[0].key, domain, n, used[0], credit
                        )
                        used[0] += prepaid
                        alt = alternating_cpu_us(
                            (free.url, free_cpu), (service.server.url, paid_cpus[durability]), paid, body
                        )
                        row.alternating_without_cpu_us.append(alt[0])
                        row.alternating_with_cpu_us.append(alt[1])
                    for _ in range(rounds if clients == 1 and credit > 1 else 0):
                        paid, prepaid = paid_headers(
                            (channels[0], model_id), users[0].key, domain, n, used[0], credit
                        )
                        used[0] += prepaid
                        with constant_receipts(service.server.checker):
                            alt = alternating_cpu_us(
                                (free.url, free_cpu), (service.server.url, paid_cpus[durability]), paid, body
                            )
                        row.alternating_constant_without_cpu_us.append(alt[0])
                        row.alternating_constant_with_cpu_us.append(alt[1])
                    paid, prepaid = paid_headers(
                        (channels[0], model_id), users[0].key, domain, HANDLER_REQUESTS, used[0], credit
                    )
                    used[0] += prepaid
                    row.handler_without_us, row.handler_with_us = _handler_us(
                        free, service.server, paid, body
                    )
                    rows.append(row)
                    print(json.dumps({**asdict(rows[-1]), **rows[-1].summary()}), file=sys.stderr, flush=True)
    finally:
        free.stop()
        free_energy.close()
        for service in services.values():
            service.stop(redeem=False)
    return rows


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    global MODEL
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rpc", help="a running chain (default: start anvil here)")
    p.add_argument("--deployment", help="its deployment file (with PaymentChannels)")
    p.add_argument("--requests", type=int, default=2000, help="requests per throughput run")
    p.add_argument("--concurrency", type=int, default=4, help="clients in the concurrent throughput run")
    p.add_argument("--clients", type=int, default=16, help="load test: concurrent clients")
    p.add_argument("--per-client", type=int, default=25, help="load test: requests per client")
    p.add_argument(
        "--credit",
        default="1,8,32",
        help="window sizes to measure, comma-separated (requests one voucher prepays; 1: a voucher each)",
    )
    p.add_argument("--durability", default="disk,process", help="journal durabilities to measure")
    p.add_argument("--skip-load", action="store_true", help="throughput only (no load test)")
    p.add_argument("--demo-model", default=MODEL, help="oracle/work demo model (digits, digits-large)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    MODEL = args.demo_model
    credits = tuple(int(c) for c in args.credit.split(","))
    durabilities = tuple(args.durability.split(","))
    anvil = None
    if args.rpc:
        rpc, deployment = args.rpc, load_deployment(args.deployment)
    else:
        anvil, rpc = start_anvil()
        deployment = deploy_from_build(rpc)
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("PAID_BENCH_DIR")) as tmp:
            work = Path(tmp)
            parts = measure_parts(work)
            throughput = measure_throughput(
                rpc, deployment, args.requests, args.concurrency, work, durabilities, credits
            )
            load = None
            if not args.skip_load:
                load = load_test(
                    rpc,
                    deployment,
                    args.clients,
                    args.per_client,
                    work,
                    credit=max(credits),
                    model_name=MODEL,
                )
    finally:
        if anvil is not None:
            anvil.terminate()
            anvil.wait(10)
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "model": MODEL,
        "parts_us": parts,
        "throughput": [{**asdict(t), **t.summary()} for t in throughput],
        "load": asdict(load) if load is not None else None,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if load is None:
        return 0
    return 0 if load.lost == 0 and load.served == load.journaled == load.made else 1


if __name__ == "__main__":
    raise SystemExit(main())
