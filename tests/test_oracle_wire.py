"""Hostile answers thrown at the validator's client (oracle.wire through ProviderClient and
run_challenge) by a tiny raw-socket server: every answer that breaks the protocol after the
connection was accepted is a failing verdict (a fault), never an exception and never
"unreachable"; only a refused connection is unreachable. Memory and time stay bounded."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest

from oracle import challenge as ch
from oracle import commitment as cm
from oracle import wire
from oracle.validator.challenging import run_challenge
from oracle.validator.client import ProviderClient

N = 8
DEADLINE = 0.6


def _challenge() -> ch.Challenge:
    return ch.Challenge(bytes(range(32)), N, "fp32", DEADLINE, rows=N, group=4)


def _http(body: bytes, status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _json(doc: object) -> bytes:
    return _http(json.dumps(doc).encode())


CHALLENGE = _challenge()
C = ch.compute_product(CHALLENGE.seed, N, rows=N)
COMMIT = cm.commit_product(CHALLENGE, C)
ROOT = {"root": "0x" + COMMIT.root.hex(), "elapsed_s": 0.01, "n": N, "precision": "fp32"}


def _opening(rows: list[int]) -> dict:
    out = []
    for i in rows:
        group, proof = COMMIT.opening(i)
        out.append(
            {
                "index": i,
                "values_b64": base64.b64encode(C[i].astype("<i4").tobytes()).decode(),
                "group_b64": base64.b64encode(group).decode(),
                "proof": ["0x" + h.hex() for h in proof],
            }
        )
    return {"rows": out}


Reply = bytes | Callable[[socket.socket, dict], None]


class RawServer:
    """Answers each request with ``script[path]``: bytes to send, or a function given the socket and
    the request's JSON body. Counts connections."""

    def __init__(self, script: dict[str, Reply]):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(sock,), daemon=True).start()

    def _answer(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError), sock:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length")), 0)
            while len(body) < length:
                body += sock.recv(65536)
            path = lines[0].split(" ")[1]
            reply = self.script.get(path, _json({"error": "unknown"}))
            if callable(reply):
                reply(sock, json.loads(body or b"null"))
            else:
                sock.sendall(reply)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw():
    servers = []

    def start(script: dict[str, Reply]) -> RawServer:
        server = RawServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _honest_open(sock: socket.socket, body: dict) -> None:
    sock.sendall(_json(_opening(body["rows"])))


def _slow_loris(sock: socket.socket, _body: dict) -> None:
    for byte in _json(ROOT):
        sock.sendall(bytes([byte]))
        time.sleep(0.05)


def _stream_forever(sock: socket.socket, _body: dict) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
    block = b'"' + b"A" * 65534 + b'",'
    for _ in range(200 * 16):  # 200 MB, no Content-Length: the client must cut it
        sock.sendall(block)


def _close_early(sock: socket.socket, _body: dict) -> None:
    sock.shutdown(socket.SHUT_RDWR)


def _open_with(doc_or_bytes: object) -> Reply:
    """A provider that commits honestly and then answers ``/open`` with this."""
    return doc_or_bytes if isinstance(doc_or_bytes, bytes) else _json(doc_or_bytes)


def _index_infinity() -> bytes:
    text = json.dumps(_opening([0])).replace('"index": 0', '"index": Infinity')
    return _http(text.encode())


MALFORMED_CHALLENGE_ANSWERS: dict[str, Reply] = {
    "no status line": _close_early,
    "status line only, then close": b"HTTP/1.1 200 OK\r\n",
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "short body": _http(json.dumps(ROOT).encode())[:-10],
    "100+ headers": _http(json.dumps(ROOT).encode(), headers=tuple(f"X-H{i}: v" for i in range(120))),
    "100 KB header line": _http(json.dumps(ROOT).encode(), headers=("X-Big: " + "a" * 100_000,)),
    "400-digit elapsed_s": _http(json.dumps(ROOT).replace("0.01", "1" * 400).encode()),
    "integer over 4300 digits": _http(json.dumps(ROOT).replace("0.01", "9" * 5000).encode()),
    "100k-deep nesting": _http(b"[" * 100_000 + b"]" * 100_000),
    "Infinity elapsed_s": _http(json.dumps(ROOT).replace("0.01", "Infinity").encode()),
    "NaN elapsed_s": _http(json.dumps(ROOT).replace("0.01", "NaN").encode()),
    "duplicate key": _http(b'{"root": "0x00", "root": "' + ROOT["root"].encode() + b'"}'),
    "not UTF-8": _http(b'{"root": "\xff\xfe"}'),
    "garbage body": _http(b"\x00this is not json{{"),
    "root not hex": _json({**ROOT, "root": "0xzz"}),
    "root a number": _json({**ROOT, "root": 12}),
    "a list, not an object": _json([ROOT]),
    "redirect": _http(b"", status="302 Found", headers=("Location: http://127.0.0.1:1/steal",)),
    "informational": b"HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP error": _http(b'{"error": "busy"}', status="503 Service Unavailable"),
    "content-length not a number": b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n{}",
    "two content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "unknown transfer-encoding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
    "200 MB Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\n\r\n" + b"[" * 1000,
    "200 MB streamed": _stream_forever,
    "slow loris": _slow_loris,
}

MALFORMED_OPEN_ANSWERS: dict[str, Reply] = {
    '"index": Infinity': _index_infinity(),
    "index a string": _open_with({"rows": [{**_opening([0])["rows"][0], "index": "0"}]}),
    "rows missing": _open_with({"nope": []}),
    "values not base64": _open_with({"rows": [{**_opening([0])["rows"][0], "values_b64": "%%%"}]}),
    "proof not a list": _open_with({"rows": [{**_opening([0])["rows"][0], "proof": 7}]}),
    "404 (product evicted)": _http(b'{"error": "no product"}', status="404 Not Found"),
    "no status line": _close_early,
}


@pytest.mark.parametrize("case", sorted(MALFORMED_CHALLENGE_ANSWERS))
def test_every_malformed_challenge_answer_is_a_fault_not_a_crash_nor_unreachable(raw, case):
    server = raw({"/challenge": MALFORMED_CHALLENGE_ANSWERS[case], "/open": _honest_open})
    client = ProviderClient(server.url, timeout=30)
    started = time.monotonic()
    verdict = run_challenge(client, _challenge(), samples=2)
    took = time.monotonic() - started
    assert not verdict.ok and not verdict.unreachable, (case, verdict.reason)
    assert verdict.escape_probability == 0.0
    assert took < DEADLINE + 1.0 + 1.0, f"{case}: held the validator {took:.2f} s"  # deadline + grace


@pytest.mark.parametrize("case", sorted(MALFORMED_OPEN_ANSWERS))
def test_every_malformed_opening_after_a_commitment_is_a_fault(raw, case):
    server = raw({"/challenge": _json(ROOT), "/open": MALFORMED_OPEN_ANSWERS[case]})
    verdict = run_challenge(ProviderClient(server.url, timeout=5), _challenge(), samples=2)
    assert not verdict.ok and not verdict.unreachable, (case, verdict.reason)


def test_the_honest_raw_answers_pass(raw):
    server = raw({"/challenge": _json(ROOT), "/open": _honest_open})
    verdict = run_challenge(ProviderClient(server.url, timeout=5), _challenge(), samples=3)
    assert verdict.ok, verdict.reason


def test_only_a_refused_connection_is_unreachable():
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()  # nothing listens there now
    verdict = run_challenge(ProviderClient(url, timeout=2), _challenge(), samples=1)
    assert not verdict.ok and verdict.unreachable and verdict.reason.startswith("unreachable")


def test_a_redirect_is_never_followed(raw):
    target = raw({"/challenge": _json(ROOT)})
    server = raw(
        {"/challenge": _http(b"", status="302 Found", headers=(f"Location: {target.url}/challenge",))}
    )
    verdict = run_challenge(ProviderClient(server.url, timeout=5), _challenge(), samples=1)
    assert not verdict.ok and "redirect" in verdict.reason
    assert target.connections == 0


def test_a_200_mb_answer_is_cut_without_being_held_in_memory(raw):
    server = raw({"/challenge": _stream_forever})
    tracemalloc.start()
    try:
        verdict = run_challenge(ProviderClient(server.url, timeout=30), _challenge(), samples=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not verdict.ok and "longer than" in verdict.reason
    bound = 3 * wire.DEFAULT_LIMITS.max_body_bytes  # the body limit, a copy of it, and the buffers
    assert peak < bound, f"peak {peak / 2**20:.1f} MiB over {bound / 2**20:.0f} MiB"


def test_a_slow_loris_answer_is_cut_at_the_deadline(raw):
    server = raw({"/challenge": _slow_loris})
    started = time.monotonic()
    verdict = run_challenge(ProviderClient(server.url, timeout=30), _challenge(), samples=1)
    took = time.monotonic() - started
    assert not verdict.ok and verdict.reason.startswith("no answer")
    assert DEADLINE <= took < DEADLINE + 1.0 + 1.0  # cut at deadline + the 1 s grace (not 25 s later)


def test_strict_json_accepts_plain_documents_and_limits_are_parameters():
    assert wire.parse_json(b'{"a": [1, -2.5e3, "x\\"]"], "b": null}') == {"a": [1, -2500.0, 'x"]'], "b": None}
    tight = wire.Limits(max_depth=2, max_int_digits=3)
    with pytest.raises(wire.Violation, match="deeper"):
        wire.parse_json(b"[[[1]]]", tight)
    with pytest.raises(wire.Violation, match="digits"):
        wire.parse_json(b"[1234]", tight)


def test_deep_nesting_is_refused_before_the_parser_even_with_a_raised_recursion_limit():
    """The C parser recurses per level and trusts the recursion limit: with a limit raised elsewhere
    in the process, 100k nested brackets overflowed the C stack (a full test run died of it)."""
    import sys

    from oracle.wire import Violation, nesting_depth, parse_json

    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        with pytest.raises(Violation, match="nested deeper than"):
            parse_json(b"[" * 100_000 + b"]" * 100_000)
    finally:
        sys.setrecursionlimit(previous)
    assert nesting_depth('{"a": [1, {"b": "[[{\\"]]"}]}') == 3
