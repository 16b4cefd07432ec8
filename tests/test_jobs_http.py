"""The job agent's HTTP side for the page (issue 14): ``PUT /blobs/<sha256>`` checked against its
name and bounded, ``GET /jobs/<id>/outputs`` once submitted (404/409 with the reason before), CORS
on every route with the browser's preflight, and the node's discovery document ``GET /services``
on the challenge server, with the clients' fallback to the ``metadataURI``."""

import hashlib
import http.client
import json
import shutil
import socket
import urllib.request

import pytest

from oracle.client.jobs import put_blob
from oracle.journal import Journal
from oracle.provider.jobs_journal import JobJournal, JobRecord
from oracle.provider.jobs_serve import JobRoutes
from oracle.provider.server import ProviderServer
from oracle.services import ServicesError, check_services, service_url
from oracle.work.blob_server import BlobServer
from oracle.work.blobs import BlobStore
from oracle.work.errors import BlobError

LIMIT = 4096


@pytest.fixture(scope="module")
def agent_http(tmp_path_factory):
    """A blob server that takes uploads, with the agent's /jobs/ routes over a real journal."""
    root = tmp_path_factory.mktemp("agent-http")
    store = BlobStore(root / "blobs")
    journal = Journal(root / "jobs.sqlite")
    records = JobJournal(journal, "0x" + "ab" * 20)

    def no_manifest(spec: bytes):
        raise AssertionError("the outputs route needs no manifest")

    routes = JobRoutes(records, store, no_manifest, lambda d: f"/blobs/{d.hex()}")
    server = BlobServer(store, routes={"/jobs/": routes.serve}, max_put_bytes=LIMIT, timeout_s=2.0)
    server.start()
    yield server, store, records
    server.stop()
    journal.close()


def request(base: str, method: str, path: str, body: bytes | None = None, headers=None):
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def raw_put(base: str, head: str, body: bytes = b"") -> str:
    """Send a hand-written PUT, stop sending, and read the answer until the server closes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(head.encode() + body)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    return reply.decode()


def leftovers(store: BlobStore) -> list[str]:
    return [p.name for p in store.root.iterdir() if p.name.startswith(".")]


def test_put_stores_a_body_under_its_sha256_and_serves_it_back(agent_http):
    server, store, _ = agent_http
    data = b"a model, say" * 10
    digest = hashlib.sha256(data).digest()
    status, headers, body = request(server.url, "PUT", f"/blobs/{digest.hex()}", data)
    assert status == 201 and headers["Access-Control-Allow-Origin"] == "*"
    assert json.loads(body) == {
        "sha256": "0x" + digest.hex(),
        "size": len(data),
        "url": server.blob_url(digest),
    }
    assert request(server.url, "PUT", f"/blobs/0x{digest.hex()}", data)[0] == 200  # again: already there
    assert request(server.url, "GET", f"/blobs/{digest.hex()}")[2] == data
    assert put_blob(server.url, b"through the client") == server.blob_url(
        hashlib.sha256(b"through the client").digest()
    )


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "says"),
    [
        ("/blobs/" + "00" * 32, b"not these bytes", {}, 422, "PUT it at /blobs/<the SHA-256"),
        ("/blobs/" + "00" * 32, b"x" * (LIMIT + 1), {}, 413, f"at most {LIMIT}"),
        ("/blobs/nothex", b"x", {}, 400, "/blobs/<the SHA-256 of its bytes"),
        ("/jobs/1/outputs", b"x", {}, 400, "/blobs/<the SHA-256 of its bytes"),
    ],
)
def test_a_bad_put_is_refused_with_what_to_do_and_stores_nothing(
    agent_http, path, body, headers, status, says
):
    server, store, _ = agent_http
    before = sorted(p.name for p in store.root.iterdir())
    got, h, reply = request(server.url, "PUT", path, body, headers)
    assert got == status and h["Access-Control-Allow-Origin"] == "*"
    assert says in json.loads(reply)["error"]
    assert sorted(p.name for p in store.root.iterdir()) == before


def test_a_put_that_would_fill_the_disk_is_refused(agent_http, monkeypatch):
    import oracle.work.blob_server as blob_server

    server, store, _ = agent_http
    monkeypatch.setattr(blob_server, "MIN_FREE_BYTES", shutil.disk_usage(store.root).free + 1)
    status, _, body = request(server.url, "PUT", "/blobs/" + hashlib.sha256(b"z").hexdigest(), b"z")
    assert status == 507 and "too little to take 1" in json.loads(body)["error"]
    assert not store.has(hashlib.sha256(b"z").digest())


def test_a_put_without_length_or_cut_short_stores_nothing(agent_http):
    server, store, _ = agent_http
    digest = hashlib.sha256(b"y" * 100).hexdigest()
    reply = raw_put(
        server.url, f"PUT /blobs/{digest} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert reply.startswith("HTTP/1.1 411") and "Content-Length" in reply  # chunked: no length
    reply = raw_put(
        server.url, f"PUT /blobs/{digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"y" * 10
    )
    assert reply.startswith("HTTP/1.1 400") and "ended after 10 of 100 bytes" in reply  # then gone
    assert not store.has(bytes.fromhex(digest)) and leftovers(store) == []


def test_the_browsers_preflight_and_every_answer_allow_another_origin(agent_http):
    server, _, _ = agent_http
    status, h, _ = request(
        server.url,
        "OPTIONS",
        "/blobs/" + "11" * 32,
        headers={"Origin": "http://page", "Access-Control-Request-Method": "PUT"},
    )
    assert status == 204 and h["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in h["Access-Control-Allow-Methods"] and h["Access-Control-Allow-Headers"] == "content-type"
    for path in ("/blobs/" + "11" * 32, "/jobs/77/outputs", "/nowhere"):
        assert request(server.url, "GET", path)[1]["Access-Control-Allow-Origin"] == "*"


def test_a_server_without_uploads_refuses_put_and_preflights_get_only(tmp_path):
    server = BlobServer(BlobStore(tmp_path))
    server.start()
    try:
        status, _, body = request(server.url, "PUT", "/blobs/" + "00" * 32, b"x")
        assert status == 405 and "only serves blobs" in json.loads(body)["error"]
        assert "PUT" not in request(server.url, "OPTIONS", "/blobs/x")[1]["Access-Control-Allow-Methods"]
    finally:
        server.stop()


def test_outputs_are_served_once_submitted_and_refused_with_the_reason_before(agent_http):
    server, store, records = agent_http
    status, _, body = request(server.url, "GET", "/jobs/41/outputs")
    assert status == 404 and "has no job 41" in json.loads(body)["error"]
    outputs = b"\x07" * 24
    digest = store.put(outputs)
    rec = records.put(JobRecord(42), spec_hash="0x" + "22" * 32)
    for step, says in [("accepted", "inference is running"), ("computed", "being submitted")]:
        rec = records.put(rec, step=step, outputs="0x" + digest.hex() if step == "computed" else None)
        status, _, body = request(server.url, "GET", "/jobs/42/outputs")
        reply = json.loads(body)
        assert status == 409 and says in reply["error"] and reply["step"] == step
        assert "retry once the job is Submitted" in reply["error"]
    records.put(rec, step="submitted")
    status, h, body = request(server.url, "GET", "/jobs/42/outputs")
    assert status == 200 and body == outputs and h["Content-Type"] == "application/octet-stream"
    declined = records.put(
        JobRecord(43), spec_hash="0x" + "33" * 32, step="declined", reason="model not listed"
    )
    status, _, body = request(server.url, "GET", f"/jobs/{declined.job_id}/outputs")
    assert status == 409 and "declined it (model not listed)" in json.loads(body)["error"]
    assert request(server.url, "GET", "/jobs/42/elsewhere")[0] == 404


def test_the_challenge_server_publishes_the_nodes_services_and_clients_fall_back(agent_http):
    agent, _, _ = agent_http
    with ProviderServer(services={"jobs": agent.url + "/", "paid": None}) as node, ProviderServer() as bare:
        with urllib.request.urlopen(node.url + "/services", timeout=5) as resp:
            assert json.loads(resp.read()) == {"jobs": agent.url, "paid": None}
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert service_url(f"{node.url}#key=0xabc", "jobs") == agent.url
        assert service_url(node.url, "paid") == node.url  # not named: the metadataURI itself
        with urllib.request.urlopen(bare.url + "/services", timeout=5) as resp:
            assert json.loads(resp.read()) == {"jobs": None, "paid": None}
    assert service_url(agent.url + "/", "jobs") == agent.url  # an agent registered directly: no document
    with pytest.raises(ServicesError, match="must start with http"):
        check_services({"jobs": "ftp://x"})
    with pytest.raises(ServicesError, match="unknown service"):
        check_services({"gpu": "http://x"})
    with pytest.raises(BlobError, match="is the provider's job agent running"):
        put_blob("http://127.0.0.1:9", b"nobody listens")


def test_oracle_serve_refuses_a_bad_service_url_in_one_line(capsys):
    from oracle.cli import main

    assert main(["serve", "--port", "0", "--jobs-url", "ftp://node"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs-url" in err[0] and "http://" in err[0]


def test_the_agents_upload_limit_is_a_config_key():
    from oracle.provider.jobs_policy import JobPolicy, PolicyError

    node = "0x" + "11" * 32
    assert JobPolicy.from_mapping({"node_id": node}).max_upload_bytes == 256 << 20
    assert JobPolicy.from_mapping({"node_id": node, "max_upload_bytes": 0}).max_upload_bytes == 0
    with pytest.raises(PolicyError, match="max_upload_bytes"):
        JobPolicy.from_mapping({"node_id": node, "max_upload_byte": 1})  # a typo names the known keys


def test_uploads_beyond_the_slots_wait_and_a_silent_client_is_dropped(agent_http, tmp_path):
    server, store, _ = agent_http
    data = b"one too many"
    held = 0
    while server.uploads.acquire(blocking=False):  # every upload slot busy
        held += 1
    try:
        status, h, body = request(server.url, "PUT", "/blobs/" + hashlib.sha256(data).hexdigest(), data)
    finally:
        for _ in range(held):
            server.uploads.release()
    assert status == 503 and h["Retry-After"] == "1" and "retry" in json.loads(body)["error"]
    assert not store.has(hashlib.sha256(data).digest())
    quick = BlobServer(BlobStore(tmp_path), max_put_bytes=LIMIT, timeout_s=0.2)
    quick.start()
    try:
        host, port = quick.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"PUT /blobs/" + b"00" * 32 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            assert s.recv(4096) == b""  # closed after 0.2 s of silence, nothing answered or stored
        assert list(tmp_path.iterdir()) == []
    finally:
        quick.stop()
