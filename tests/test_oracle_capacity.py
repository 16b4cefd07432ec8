"""The capacity proof end to end, scaled down to this CPU: real provider servers (the product
computed and checked for real, the devices' speed set by the paced stand-in of
oracle.provider.hardware), the real prober (oracle.validator.prober), no chain.

- a node claiming k times its real speed fails for every k above the tolerance, and one claiming
  less is attested at what it measured;
- one server answering for more nodes than it has devices fails;
- a stranger flooding the provider causes no fault; 8 validators probing one node at once cause
  none either;
- an answer not signed by the node's key on chain is a fault, and so is busy without evidence.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from eth_account import Account

from oracle import challenge as ch
from oracle.attest import Domain
from oracle.challenge_auth import ChallengeRequest, OracleSet, RateLimiter
from oracle.provider.admission import Gate
from oracle.provider.hardware import Hardware
from oracle.provider.server import ProviderServer
from oracle.validator.nodes import NodeInfo
from oracle.validator.prober import ChallengeProber

N = 128
SPEED = 4e8  # the stand-in device: 0.4 GFLOP/s (this CPU does ~5 GFLOP/s at n=128 on one core)
TARGET_S, TOLERANCE, ALLOWANCE_S = 0.3, 1.25, 0.3  # a wide allowance: this machine is shared
TOLERATED = ch.tolerated_inflation(TARGET_S, TOLERANCE, ALLOWANCE_S)  # 2.25 before fixed costs
DOMAIN = Domain(31337, "0x" + "11" * 20)
VALIDATORS = [Account.from_key(bytes([7, i + 1]) + bytes(30)) for i in range(8)]
STRANGER = Account.from_key("0x" + "66" * 32)


def _bench(fp32_flops: float) -> dict:
    """A benchmark claiming ``fp32_flops`` and nothing else (one precision: quick)."""
    return {"benchmark": {"tflops": {"fp32": fp32_flops / 1e12}}}


def _node(url: str, i: int = 0, provider: str = "0x" + "aa" * 20) -> NodeInfo:
    return NodeInfo(provider, bytes([i + 1]) * 32, "CPU stand-in", 1024, url)


def _prober(account=None, **kw) -> ChallengeProber:
    settings = {"target_s": TARGET_S, "tolerance": TOLERANCE, "allowance_s": ALLOWANCE_S, **kw}
    prober = ChallengeProber(n=N, samples=4, timeout=10, **settings)
    if account is not None:
        prober.bind(account, DOMAIN, OracleSet(lambda a: a in {v.address for v in VALIDATORS}).__contains__)
    return prober


@pytest.fixture
def serve():
    servers = []

    def start(**kwargs) -> ProviderServer:
        server = ProviderServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("k", [0.5, 1.0, 1.5, 3.0, 8.0])
def test_a_node_claiming_k_times_its_real_speed_fails_above_the_tolerance(serve, k):
    server = serve(hardware=Hardware(SPEED), inventory_fn=lambda: _bench(k * SPEED))
    result = _prober().probe(_node(server.url), epoch=1)
    if k <= 1.5:  # within the tolerance: passes, attested at what the pass proves, never above the real speed
        assert result.ok, result.reason
        attested = result.figures.fp32 * 1e12
        assert attested == pytest.approx(
            k * SPEED * TARGET_S / (TOLERANCE * TARGET_S + ALLOWANCE_S), rel=0.02
        )
        assert attested <= SPEED
        measured = result.report["challenges"]["fp32"]["attested_flops"]  # this validator's own clock
        assert attested <= measured <= k * SPEED
        assert result.figures.mem_bandwidth_gbps == 0 and result.figures.tf32 == 0  # not challenged
    else:
        assert k > TOLERATED
        assert not result.ok and result.reachable, result.reason  # a fault
        # late: answered past the deadline, never answered, or the provider itself gave up at it
        assert any(w in result.reason for w in ("late", "no answer", "past the challenge's deadline"))


def test_a_node_with_no_benchmark_is_held_to_its_gpu_models_published_peaks(serve):
    server = serve(hardware=Hardware(SPEED), inventory_fn=lambda: {})
    node = NodeInfo("0x" + "aa" * 20, bytes(32), "NVIDIA H100 80GB HBM3", 81559, server.url)
    result = _prober().probe(node, epoch=1)
    assert not result.ok and result.reachable  # a CPU is not an H100: late, a fault


@pytest.mark.parametrize(("nodes", "devices"), [(2, 2), (6, 2)])
def test_one_server_answering_for_more_nodes_than_its_devices_fails(serve, nodes, devices):
    """Challenged at the same moment, N nodes need N devices' work at once: with 2 devices, the
    nodes served after the first two rounds (3 T > the deadline, 1.25 T + allowance) are late."""
    server = serve(hardware=Hardware(SPEED, devices=devices), inventory_fn=lambda: _bench(SPEED))
    group = [_node(server.url, i) for i in range(nodes)]
    results = _prober().probe_group(group, epoch=1)
    failed = [key for key, r in results.items() if not r.ok]
    assert all(results[key].reachable for key in failed)  # each failure is a fault
    if nodes <= devices:
        assert not failed, [r.reason for r in results.values()]
    else:
        assert len(failed) >= devices, [r.reason for r in results.values()]


def _gated(serve, hardware: Hardware, nodes: list[bytes], **kw) -> ProviderServer:
    oracles = OracleSet(lambda a: a in {v.address for v in VALIDATORS})
    gate = Gate(DOMAIN, oracles, nodes, rate=RateLimiter(rate_per_s=50, burst=50))
    return serve(hardware=hardware, gate=gate, domain=DOMAIN, inventory_fn=lambda: _bench(SPEED), **kw)


def _post(url: str, body: object) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_stranger_flooding_the_provider_causes_no_fault(serve):
    node = _node("", 0)
    server = _gated(serve, Hardware(SPEED), [node.node_id])
    node = _node(server.url, 0)
    stop, statuses = threading.Event(), []

    def flood() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            challenge = ch.Challenge(k.to_bytes(32, "big"), 8, "fp32", 1.0, rows=8)
            forged = ChallengeRequest(challenge, node.node_id, 1, int(time.time())).sign(STRANGER.key, DOMAIN)
            statuses.append(_post(server.url + "/challenge", forged))
            statuses.append(_post(server.url + "/challenge", challenge.to_json()))
            statuses.append(_post(server.url + "/open", {"seed": "0x" + challenge.seed.hex(), "rows": [0]}))

    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(3)]
    for t in flooders:
        t.start()
    try:
        prober = _prober(VALIDATORS[0])
        results = [prober.probe(node, epoch=1) for _ in range(3)]
    finally:
        stop.set()
        for t in flooders:
            t.join()
    assert all(r.ok for r in results), [r.reason for r in results]
    assert statuses and set(statuses) <= {401, 403, 404}  # refused before any work
    assert {e.validator for e in server.store._by_seed.values()} == {VALIDATORS[0].address}


def test_eight_validators_probing_one_node_at_once_cause_no_fault(serve):
    node = _node("", 0)
    server = _gated(serve, Hardware(SPEED), [node.node_id])
    node = _node(server.url, 0)
    results: dict[str, object] = {}
    start = threading.Barrier(len(VALIDATORS))

    def probe(validator) -> None:
        # the point is the concurrency, not the margin (a full run once answered in 1.33 s, deadline 0.98)
        prober = _prober(validator, allowance_s=1.5)
        start.wait()
        results[validator.address] = prober.probe(node, epoch=1)

    threads = [threading.Thread(target=probe, args=(v,)) for v in VALIDATORS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r.ok for r in results.values()), [r.reason for r in results.values() if not r.ok]
    busy = [r for r in results.values() if r.report["challenges"]["fp32"].get("busy") is None]
    assert busy  # (the verdicts kept; some of them waited for another validator's challenge)


def test_an_answer_not_signed_by_the_node_key_on_chain_is_a_fault(serve):
    node_key, other_key = Account.from_key("0x" + "31" * 32), Account.from_key("0x" + "32" * 32)
    node = _node("", 0)
    server = _gated(serve, Hardware(SPEED * 4), [node.node_id], node_keys={node.node_id: node_key.key})
    bound = _node(server.endpoint_of(node.node_id), 0)
    assert bound.endpoint.endswith(f"#key={node_key.address}")
    assert _prober(VALIDATORS[0]).probe(bound, epoch=1).ok
    relayed = _node(f"{server.url}#key={other_key.address}", 0)  # the chain names another key
    result = _prober(VALIDATORS[1]).probe(relayed, epoch=1)
    assert not result.ok and result.reachable and "answer key" in result.reason


def test_busy_without_evidence_is_a_fault(serve):
    from tests.test_oracle_wire import RawServer, _http

    raw = RawServer(
        {
            "/inventory": _http(json.dumps(_bench(SPEED)).encode()),
            "/challenge": _http(b'{"busy": true, "running": {"nope": 1}}', status="503 Busy"),
        }
    )
    try:
        result = _prober(VALIDATORS[0]).probe(_node(raw.url, 0), epoch=1)
    finally:
        raw.close()
    assert not result.ok and result.reachable and "busy without evidence" in result.reason
