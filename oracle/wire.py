"""A bounded HTTP/1.1 client for talking to providers that may be hostile.

The validator must be able to tell "the provider could not be reached" (not a fault: nothing was
proven) from "the provider answered something it should not have" (a fault, signed and slashed).
A provider choosing the outcome by crashing the client, or holding it past the deadline, or
blowing up its memory, must not be possible. So, on top of a raw socket:

* **Unreachable** (:class:`Unreachable`) only when no connection is made: DNS failure, refused,
  no route, or no TCP handshake before the deadline.
* **Everything after connect is bounded** and any breach is a :class:`Violation` (kind ``late``,
  ``oversized`` or ``malformed``): ONE deadline for the whole answer (status line, headers and
  body together; each ``recv`` waits only for what is left of it, so a byte-at-a-time answer is
  cut at the deadline), a status line of at most :attr:`Limits.max_line` bytes, at most
  :attr:`Limits.max_headers` header lines of at most :attr:`Limits.max_line` bytes each, a body of
  at most :attr:`Limits.max_body_bytes` (a larger ``Content-Length`` is refused before reading; a
  body without one is read up to the limit and cut), no redirects (a 3xx is a violation: the
  client never fetches a URL the provider names), ``Content-Length`` or ``chunked`` framing
  checked exactly (a short body is a violation).
* **Strict JSON** (:func:`parse_json`): UTF-8, no ``NaN``/``Infinity``, no duplicate keys,
  integers of at most :attr:`Limits.max_int_digits` digits, finite floats of at most as many
  characters, nesting at most :attr:`Limits.max_depth` deep, checked by a linear scan of the
  text BEFORE the parser runs: the C parser recurses once per level and relies on the interpreter's
  recursion limit, and with a limit raised elsewhere in the process (a test framework, a library)
  100k nested brackets overflowed the C stack and killed the validator (a segfault, seen in a full
  test run).

Memory is bounded by the body limit plus one 64 KiB receive buffer, whatever the provider sends.
"""

from __future__ import annotations

import json
import math
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oracle.errors import OracleError

RECV_BYTES = 65536


class WireError(OracleError):
    """A request to a provider did not give a usable answer (base class)."""


class Unreachable(WireError):
    """No connection could be made (nothing was proven about the provider)."""


class Violation(WireError):
    """The provider accepted the connection and then broke the protocol: ``kind`` is ``late``,
    ``oversized`` or ``malformed``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """What a provider's answer may be. The defaults fit every answer of the challenge API (an
    opening of 64 rows at n = 16384 is about 6 MB of base64)."""

    max_body_bytes: int = 8 << 20
    max_headers: int = 32
    max_line: int = 4096
    max_depth: int = 16
    max_int_digits: int = 32


DEFAULT_LIMITS = Limits()


@dataclass
class Response:
    """A complete, bounded answer."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float


class _Reader:
    """Reads from a socket against one absolute deadline (``time.monotonic``)."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline = sock, deadline
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Violation("late", "the answer did not arrive before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(RECV_BYTES)
        except TimeoutError:
            raise Violation("late", "the answer did not arrive before the deadline") from None
        except OSError as exc:
            raise Violation("malformed", f"connection broken mid-answer ({exc})") from None
        if not data:
            self.eof = True
        self.buf += data

    def line(self, limit: int, what: str) -> bytes:
        while True:
            end = self.buf.find(b"\n", 0, limit + 1)
            if end >= 0:
                out = bytes(self.buf[: end + 1])
                del self.buf[: end + 1]
                return out.rstrip(b"\r\n")
            if len(self.buf) > limit:
                raise Violation("oversized", f"{what} longer than {limit} bytes")
            if self.eof:
                raise Violation("malformed", f"connection closed inside the {what}")
            self._fill()

    def exact(self, size: int, what: str) -> bytes:
        while len(self.buf) < size:
            if self.eof:
                raise Violation("malformed", f"{what} ended after {len(self.buf)} of {size} bytes")
            self._fill()
        out = bytes(self.buf[:size])
        del self.buf[:size]
        return out

    def rest(self, limit: int) -> bytes:
        while not self.eof:
            if len(self.buf) > limit:
                raise Violation("oversized", f"body longer than {limit} bytes")
            self._fill()
        if len(self.buf) > limit:
            raise Violation("oversized", f"body longer than {limit} bytes")
        return bytes(self.buf)


_STATUS = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [\x20-\x7e\x80-\xff]*)?")
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\x80-\xff\t]*?)[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,19}")


def _connect(url: str, deadline: float) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(f"{url!r} is not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Unreachable(f"{url!r} has an invalid port") from None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Unreachable(f"no time left to connect to {url}")
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=remaining)
    except (OSError, ValueError) as exc:
        raise Unreachable(f"cannot connect to {parts.hostname}:{port} ({exc})") from None
    if parts.scheme == "https":
        try:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        except (OSError, ValueError) as exc:
            sock.close()
            raise Violation("malformed", f"TLS handshake with {parts.hostname} failed ({exc})") from None
    host = parts.netloc.rsplit("@", 1)[-1]
    return sock, host, parts.path.rstrip("/")


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None,
    *,
    timeout_s: float,
    limits: Limits = DEFAULT_LIMITS,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request to ``url + path``; the whole answer must arrive within ``timeout_s`` of the
    call. Raises :class:`Unreachable` (no connection) or :class:`Violation` (everything after)."""
    started = time.monotonic()
    deadline = started + timeout_s
    sock, host, prefix = _connect(url, deadline)
    try:
        data = body or b""
        lines = [f"{method} {prefix}{path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += ["Accept: application/json", f"Content-Length: {len(data)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        except TimeoutError:
            raise Violation("late", "the provider did not take the request before the deadline") from None
        except OSError as exc:
            raise Violation("malformed", f"the provider dropped the request ({exc})") from None
        return _read_response(_Reader(sock, deadline), limits, method, started)
    finally:
        sock.close()


def _read_response(reader: _Reader, limits: Limits, method: str, started: float) -> Response:
    status_line = reader.line(limits.max_line, "status line")
    match = _STATUS.fullmatch(status_line)
    if match is None:
        raise Violation("malformed", f"not an HTTP status line: {status_line[:60]!r}")
    status = int(match.group(1))
    headers: dict[str, str] = {}
    while True:
        line = reader.line(limits.max_line, "header line")
        if not line:
            break
        if len(headers) >= limits.max_headers:
            raise Violation("oversized", f"more than {limits.max_headers} header lines")
        header = _HEADER.fullmatch(line)
        if header is None:
            raise Violation("malformed", f"not a header line: {line[:60]!r}")
        name = header.group(1).decode("ascii").lower()
        value = header.group(2).decode("latin-1")
        if name in headers and name in ("content-length", "transfer-encoding"):
            raise Violation("malformed", f"{name} given twice")
        headers[name] = value
    if 300 <= status < 400:
        raise Violation("malformed", f"HTTP {status} redirect (redirects are never followed)")
    if status < 200:
        raise Violation("malformed", f"HTTP {status} informational answers are not expected")
    body = b"" if method == "HEAD" else _read_body(reader, headers, limits)
    return Response(status, headers, body, time.monotonic() - started)


def _read_body(reader: _Reader, headers: dict[str, str], limits: Limits) -> bytes:
    encoding = headers.get("transfer-encoding", "").strip().lower()
    if encoding and encoding != "chunked":
        raise Violation("malformed", f"transfer-encoding {encoding!r} is not supported")
    if encoding == "chunked":
        if "content-length" in headers:
            raise Violation("malformed", "both content-length and chunked encoding")
        out = bytearray()
        while True:
            size_line = reader.line(64, "chunk size").split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_line):
                raise Violation("malformed", f"bad chunk size {size_line[:20]!r}")
            size = int(size_line, 16)
            if len(out) + size > limits.max_body_bytes:
                raise Violation("oversized", f"body longer than {limits.max_body_bytes} bytes")
            if size == 0:
                while reader.line(limits.max_line, "trailer"):
                    pass
                return bytes(out)
            out += reader.exact(size, "chunk")
            if reader.exact(2, "chunk end") != b"\r\n":
                raise Violation("malformed", "chunk not followed by CRLF")
    if "content-length" in headers:
        raw = headers["content-length"].strip().encode()
        if not _DIGITS.fullmatch(raw):
            raise Violation("malformed", f"bad content-length {raw[:20]!r}")
        length = int(raw)
        if length > limits.max_body_bytes:
            raise Violation("oversized", f"content-length {length} exceeds {limits.max_body_bytes} bytes")
        return reader.exact(length, "body")
    return reader.rest(limits.max_body_bytes)


# --------------------------------------------------------------------------------------------
# Strict JSON
# --------------------------------------------------------------------------------------------


def _depth(doc: Any) -> int:
    """Deepest nesting of lists and objects in a parsed document, without recursion."""
    best, stack = 0, [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            best = max(best, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return best


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of JSON ``text`` outside strings: strings cut out by a regex,
    then one pass over the brackets alone (no recursion; a big flat array costs one step per row)."""
    depth = best = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub('""', text)):
        if bracket in "[{":
            depth += 1
            best = max(best, depth)
        else:
            depth -= 1
    return best


def parse_json(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Strict JSON from a provider; :class:`Violation` (``malformed``) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Violation("malformed", "answer is not UTF-8") from None
    if nesting_depth(text) > limits.max_depth:  # before the recursive C parser ever sees it
        raise Violation("malformed", f"JSON nested deeper than {limits.max_depth}")

    def number(kind: str, token: str) -> Any:
        digits = sum(ch.isdigit() for ch in token)
        if digits > limits.max_int_digits or len(token) > limits.max_int_digits + 8:
            raise Violation(
                "malformed", f"JSON number with {digits} digits (at most {limits.max_int_digits})"
            )
        value = int(token) if kind == "int" else float(token)
        if kind == "float" and not math.isfinite(value):
            raise Violation("malformed", f"JSON number {token[:20]} is not finite")
        return value

    def constant(name: str) -> Any:
        raise Violation("malformed", f"JSON constant {name} is not allowed")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            raise Violation("malformed", "JSON object with a duplicate key")
        return out

    try:
        doc = json.loads(
            text,
            parse_int=lambda t: number("int", t),
            parse_float=lambda t: number("float", t),
            parse_constant=constant,
            object_pairs_hook=no_duplicates,
        )
    except Violation:
        raise
    except RecursionError:  # the C parser stops at the interpreter's recursion limit
        raise Violation("malformed", f"JSON nested deeper than {limits.max_depth}") from None
    except ValueError as exc:
        raise Violation("malformed", f"answer is not JSON ({str(exc)[:80]})") from None
    if _depth(doc) > limits.max_depth:
        raise Violation("malformed", f"JSON nested deeper than {limits.max_depth}")
    return doc


def call_json(
    url: str,
    method: str,
    path: str,
    payload: Any = None,
    *,
    timeout_s: float,
    limits: Limits = DEFAULT_LIMITS,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``request`` with a JSON body and a strict JSON answer: ``(status, document)``."""
    body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    response = request(url, method, path, body, timeout_s=timeout_s, limits=limits, headers=headers)
    return response.status, parse_json(response.body, limits)
