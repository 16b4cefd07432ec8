"""The provider's HTTP server, the validator's client for it, and the whole validator-side protocol.

HTTP API (JSON in, JSON out; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /health`` -> ``{"status": "ok", "version", "backend", "cached"}``
- ``GET /inventory`` -> :meth:`oracle.inventory.Inventory.to_json`
- ``POST /challenge`` ``{seed, b_seed, n, precision, deadline_s}`` -> ``{root, elapsed_s, n, precision, backend}``
  The provider computes ``C = A @ B`` (see :mod:`oracle.challenge`) and keeps ``C`` and its Merkle
  tree for ``cache_ttl_s`` seconds, keyed by seed.
- ``POST /open`` ``{seed, rows: [i, ...]}`` -> ``{rows: [{index, values_b64, proof: ["0x..", ...]}]}``
  (``values_b64``: the row as int32 little-endian, base64 -- the bytes its Merkle leaf hashes)
- ``POST /product`` ``{seed}`` -> ``{n, dtype: "<i4", c_b64}`` the full ``C`` (int32 little-endian,
  base64) for Freivalds' check; only for ``n <= max_product_n``.

Misbehaving providers for tests and fault drills (``behaviour``): ``honest``; ``wrong`` (every row
of the committed product has a wrong entry); ``lazy`` (computes only the first half of the rows,
commits zeros for the rest); ``slow`` (answers after the deadline); ``garbage`` (answers with
bytes that are not JSON); ``silent`` (never answers). ``garbage`` and ``silent`` affect the POST
endpoints only: ``/health`` stays up, like a node whose compute side is broken.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from oracle import __version__, wire
from oracle import challenge as ch

BEHAVIOURS = ("honest", "wrong", "lazy", "slow", "garbage", "silent")
MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_N = 8192
DEFAULT_MAX_PRODUCT_N = 1024
DEFAULT_CACHE_TTL_S = 120.0
DEFAULT_MAX_CACHED = 4

ProductFn = Callable[[ch.Challenge], np.ndarray]
"""A compute backend: ``challenge -> C`` (``derive_a(seed) @ derive_b(b_seed)``), int32 n x n."""


class ProviderError(Exception):
    """The provider could not be used (base class; the message says what happened and what to do)."""


class ProviderUnreachable(ProviderError):
    """No connection could be made to the provider."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the client's timeout."""


class ProviderProtocolError(ProviderError):
    """The provider answered something that is not the expected JSON (or an HTTP error)."""


# --------------------------------------------------------------------------------------------
# Compute backends
# --------------------------------------------------------------------------------------------


def numpy_product(challenge: ch.Challenge) -> np.ndarray:
    """CPU backend: exact float32 BLAS GEMM whatever the precision named (see :mod:`oracle.challenge`)."""
    return ch.compute_product(challenge.seed, challenge.n, challenge.b_seed)


def torch_product(challenge: ch.Challenge) -> np.ndarray:
    """GPU backend (PyTorch, CUDA): computes in the challenge precision, exact by construction.

    fp16/bf16 accumulate and output in fp32 (``torch.mm(..., out_dtype=torch.float32)``; older
    PyTorch: K-split into chunks whose partial products are exact in the 16-bit output)."""
    import torch  # lazy: optional dependency

    n, precision = challenge.n, challenge.precision
    dev = torch.device("cuda")
    a = torch.from_numpy(np.ascontiguousarray(ch.derive_a(challenge.seed, n))).to(dev)
    b = torch.from_numpy(np.ascontiguousarray(ch.derive_b(challenge.b_seed, n))).to(dev)
    if precision == "fp64":
        c = a.double() @ b.double()
    elif precision in ("fp32", "tf32", "int8"):
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            c = a.float() @ b.float()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    else:
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        a16, b16 = a.to(dtype), b.to(dtype)
        try:
            c = torch.mm(a16, b16, out_dtype=torch.float32)
        except (TypeError, RuntimeError):
            exact_limit = 2048 if precision == "fp16" else 256  # integers exact in the 16-bit format
            chunk = max(1, exact_limit // 64)
            c = torch.zeros((n, n), dtype=torch.float32, device=dev)
            for k in range(0, n, chunk):
                c += (a16[:, k : k + chunk] @ b16[k : k + chunk]).float()
    return c.round().to(torch.int32).cpu().numpy()


def select_backend(name: str = "auto") -> tuple[str, ProductFn]:
    """``"numpy"``, ``"torch"`` or ``"auto"`` (torch when it imports and sees a CUDA device)."""
    if name == "numpy":
        return "numpy", numpy_product
    if name in ("torch", "auto"):
        try:
            import torch  # noqa: F401

            if torch.cuda.is_available():
                return "torch", torch_product
        except ImportError:
            pass
        if name == "torch":
            raise ProviderError("backend 'torch' needs PyTorch with a CUDA device; use --backend numpy")
        return "numpy", numpy_product
    raise ProviderError(f"unknown backend {name!r}: use auto, numpy or torch")


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    expires: float
    challenge: ch.Challenge
    commitment: ch.RowCommitment


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ProviderServer:
    """A provider node's challenge server. ``port=0`` picks a free port (see :attr:`url`).

    Use as a context manager (starts a background thread, stops on exit) or call
    :meth:`serve_forever` in the foreground."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        behaviour: str = "honest",
        backend: str = "numpy",
        max_n: int = DEFAULT_MAX_N,
        max_product_n: int = DEFAULT_MAX_PRODUCT_N,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        max_cached: int = DEFAULT_MAX_CACHED,
        inventory_fn: Callable[[], dict] | None = None,
        silent_s: float = 3600.0,
    ):
        if behaviour not in BEHAVIOURS:
            raise ProviderError(f"unknown behaviour {behaviour!r}: use one of {', '.join(BEHAVIOURS)}")
        self.behaviour = behaviour
        self.backend_name, self.product_fn = select_backend(backend)
        self.commit_fn: Callable[..., ch.RowCommitment] = ch.compute_commitment
        """``(challenge, hook=...) -> RowCommitment``: the provider's whole job for one challenge."""
        self.max_n = max_n
        self.max_product_n = max_product_n
        self.cache_ttl_s = cache_ttl_s
        self.max_cached = max_cached
        self.silent_s = silent_s
        self._inventory_fn = inventory_fn
        self._inventory: dict | None = None
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="provider-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self._stopping.set()
            self.httpd.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call on a server that was never started)."""
        self._stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()  # only valid while serve_forever runs: it waits for the loop to end
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request logic (called from handler threads) --------------------------------------

    def health(self) -> dict:
        with self._lock:
            cached = len(self._cache)
        return {"status": "ok", "version": __version__, "backend": self.backend_name, "cached": cached}

    def inventory(self) -> dict:
        if self._inventory is None:
            if self._inventory_fn is not None:
                self._inventory = self._inventory_fn()
            else:
                from oracle.inventory import collect

                self._inventory = collect().to_json()
        return self._inventory

    def handle_challenge(self, body: Any) -> dict:
        try:
            challenge = ch.Challenge.from_json(body)
        except ch.ChallengeError as exc:
            raise _BadRequest(400, str(exc)) from None
        if challenge.n > self.max_n:
            raise _BadRequest(413, f"n={challenge.n} exceeds this provider's max_n={self.max_n}")
        started = time.perf_counter()
        tree = self.commit_fn(challenge, hook=self._hook(challenge))
        elapsed = time.perf_counter() - started
        with self._lock:
            now = time.monotonic()
            for key in [k for k, e in self._cache.items() if e.expires < now]:
                del self._cache[key]
            self._cache[challenge.seed] = _Entry(now + self.cache_ttl_s, challenge, tree)
            self._cache.move_to_end(challenge.seed)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        if self.behaviour == "slow":
            self._stopping.wait(max(0.0, challenge.deadline_s - elapsed) + 0.5)
        return {
            "root": "0x" + tree.root.hex(),
            "elapsed_s": elapsed,
            "n": challenge.n,
            "precision": challenge.precision,
            "backend": self.backend_name,
        }

    def _hook(self, challenge: ch.Challenge) -> ch.BlockHook | None:
        """What a misbehaving provider commits instead of a block of rows starting at ``r0``
        (applied again when it opens rows, so its openings match what it committed)."""
        n, half = challenge.n, (challenge.rows + 1) // 2

        def wrong(r0: int, c: np.ndarray) -> np.ndarray:
            c = c.copy()
            rows = np.arange(r0, r0 + len(c))
            c[rows - r0, (rows * 7 + 3) % n] += 1
            return c

        def lazy(r0: int, c: np.ndarray) -> np.ndarray:
            c = c.copy()
            c[max(0, half - r0) :] = 0
            return c

        return {"wrong": wrong, "lazy": lazy}.get(self.behaviour)

    def _rows(self, entry: _Entry, rows: list[int]) -> np.ndarray:
        """The committed rows: recomputed (O(n^2) each), misbehaviour applied row by row."""
        values = ch.product_rows(entry.challenge, rows)
        hook = self._hook(entry.challenge)
        if hook is not None:
            values = np.stack([hook(i, values[k : k + 1])[0] for k, i in enumerate(rows)])
        return values

    def _entry(self, body: Any) -> _Entry:
        if not isinstance(body, dict) or "seed" not in body:
            raise _BadRequest(400, "body must be a JSON object with a seed")
        try:
            seed = ch.parse_bytes32(body["seed"], "seed")
        except ch.ChallengeError as exc:
            raise _BadRequest(400, str(exc)) from None
        with self._lock:
            entry = self._cache.get(seed)
        if entry is None or entry.expires < time.monotonic():
            raise _BadRequest(
                404, "no product for this seed (never challenged, or expired): POST /challenge first"
            )
        return entry

    def handle_open(self, body: Any) -> dict:
        entry = self._entry(body)
        rows = body.get("rows")
        m = entry.challenge.rows
        if not isinstance(rows, list) or not all(isinstance(i, int) and 0 <= i < m for i in rows):
            raise _BadRequest(400, f"rows must be a list of row indices in [0, {m})")
        if len(rows) > 1024:
            raise _BadRequest(413, "at most 1024 rows per request")
        values = self._rows(entry, rows)
        out = []
        for k, i in enumerate(rows):
            digests, proof = entry.commitment.opening(i)
            out.append(
                {
                    "index": i,
                    "values_b64": base64.b64encode(
                        np.ascontiguousarray(values[k], dtype="<i4").tobytes()
                    ).decode(),
                    "group_b64": base64.b64encode(digests).decode(),
                    "proof": ["0x" + h.hex() for h in proof],
                }
            )
        return {"rows": out}

    def handle_product(self, body: Any) -> dict:
        entry = self._entry(body)
        m, n = entry.challenge.rows, entry.challenge.n
        if max(m, n) > self.max_product_n:
            raise _BadRequest(
                413, f"rows={m}, n={n} exceed max_product_n={self.max_product_n}: use sampled rows"
            )
        raw = np.ascontiguousarray(self._rows(entry, list(range(m))), dtype="<i4").tobytes()
        return {"rows": m, "n": n, "dtype": "<i4", "c_b64": base64.b64encode(raw).decode("ascii")}


def _make_handler(server: ProviderServer) -> type[BaseHTTPRequestHandler]:
    routes_get = {"/health": server.health, "/inventory": server.inventory}
    routes_post = {
        "/challenge": server.handle_challenge,
        "/open": server.handle_open,
        "/product": server.handle_product,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"oracle-provider/{__version__}"

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

        def _send(self, status: int, payload: dict | bytes) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _misbehaving_reply(self) -> bool:
            if server.behaviour == "silent":
                server._stopping.wait(server.silent_s)
                self.close_connection = True
                return True
            if server.behaviour == "garbage":
                self._send(200, b"\x00this is not json{{")
                return True
            return False

        def do_GET(self) -> None:
            route = routes_get.get(self.path.split("?", 1)[0])
            if route is None:
                self._send(404, {"error": f"unknown path {self.path}: use /health or /inventory"})
                return
            self._send(200, route())

        def do_POST(self) -> None:
            route = routes_post.get(self.path.split("?", 1)[0])
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self._send(
                    413,
                    {"error": f"request body must have a Content-Length of at most {MAX_BODY_BYTES} bytes"},
                )
                self.close_connection = True
                return
            raw = self.rfile.read(length)
            if route is None:
                self._send(404, {"error": f"unknown path {self.path}: use /challenge, /open or /product"})
                return
            if self._misbehaving_reply():
                return
            try:
                body = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._send(400, {"error": "request body is not JSON"})
                return
            try:
                self._send(200, route(body))
            except _BadRequest as exc:
                self._send(exc.status, {"error": str(exc)})

    return Handler


# --------------------------------------------------------------------------------------------
# Client and validator protocol
# --------------------------------------------------------------------------------------------


@dataclass
class Commitment:
    """A provider's answer to ``POST /challenge``: the root, its self-reported compute time and the
    validator-side wall time from sending the challenge to receiving the answer."""

    root: bytes
    elapsed_s: float
    wall_s: float
    backend: str | None = None


class ProviderClient:
    """Validator-side client of a :class:`ProviderServer` (:mod:`oracle.wire`: bounded, one request
    per call, one deadline per answer)."""

    def __init__(self, base_url: str, timeout: float = 30.0, limits: wire.Limits = wire.DEFAULT_LIMITS):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> Any:
        """One bounded request (:mod:`oracle.wire`): no connection -> :class:`ProviderUnreachable`;
        cut at the deadline -> :class:`ProviderTimeout`; any other breach, or an HTTP error ->
        :class:`ProviderProtocolError`."""
        wait = self.timeout if timeout is None else timeout
        try:
            status, doc = wire.call_json(
                self.base_url, method, path, body, timeout_s=wait, limits=self.limits
            )
        except wire.Unreachable as exc:
            raise ProviderUnreachable(
                f"cannot reach provider at {self.base_url} ({exc}); is `oracle serve` running?"
            ) from None
        except wire.Violation as exc:
            if exc.kind == "late":
                raise ProviderTimeout(f"{method} {path}: no complete answer within {wait:.1f} s") from None
            raise ProviderProtocolError(f"{method} {path}: {exc}") from None
        if status >= 400:
            detail = doc.get("error", doc) if isinstance(doc, dict) else doc
            raise ProviderProtocolError(f"{method} {path} -> HTTP {status}: {str(detail)[:300]}")
        return doc

    def health(self) -> dict:
        return self._request("GET", "/health")

    def inventory(self) -> dict:
        return self._request("GET", "/inventory")

    def challenge(self, challenge: ch.Challenge, grace_s: float = 1.0) -> Commitment:
        """Send the challenge and wait at most ``deadline_s + grace_s`` (later answers fail anyway)."""
        started = time.perf_counter()
        answer = self._request(
            "POST",
            "/challenge",
            challenge.to_json(),
            timeout=min(self.timeout, challenge.deadline_s + grace_s),
        )
        wall = time.perf_counter() - started
        if not isinstance(answer, dict) or "root" not in answer:
            raise ProviderProtocolError("POST /challenge: answer has no root")
        try:
            root = ch.parse_bytes32(answer["root"], "root")
            elapsed = float(answer.get("elapsed_s", float("nan")))
        except (ch.ChallengeError, TypeError, ValueError) as exc:
            raise ProviderProtocolError(f"POST /challenge: {exc}") from None
        return Commitment(root=root, elapsed_s=elapsed, wall_s=wall, backend=answer.get("backend"))

    def open(self, seed: bytes, rows: Sequence[int]) -> dict[int, ch.Opening]:
        """Ask for rows with their group's digests and Merkle proof: ``{index: (values, group, proof)}``."""
        answer = self._request("POST", "/open", {"seed": "0x" + seed.hex(), "rows": [int(i) for i in rows]})
        try:
            out = {}
            for item in answer["rows"]:
                proof = [bytes.fromhex(h[2:] if h.startswith("0x") else h) for h in item["proof"]]
                values = np.frombuffer(base64.b64decode(item["values_b64"], validate=True), dtype="<i4")
                group = base64.b64decode(item["group_b64"], validate=True)
                out[int(item["index"])] = (values, group, proof)
            return out
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /open: malformed answer ({exc})") from None

    def product(self, seed: bytes) -> np.ndarray:
        """The full committed ``C`` (for Freivalds' check)."""
        answer = self._request("POST", "/product", {"seed": "0x" + seed.hex()})
        try:
            m, n = int(answer["rows"]), int(answer["n"])
            raw = base64.b64decode(answer["c_b64"], validate=True)
            return np.frombuffer(raw, dtype="<i4").reshape(m, n)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProviderProtocolError(f"POST /product: malformed answer ({exc})") from None


def run_challenge(
    client: ProviderClient,
    challenge: ch.Challenge,
    samples: int = ch.DEFAULT_SAMPLES,
    *,
    freivalds_rounds: int = 0,
    assumed_correct_fraction: float = ch.DEFAULT_ASSUMED_CORRECT_FRACTION,
    rng: np.random.Generator | None = None,
    key: ch.ProjectionKey | None = None,
) -> ch.Verdict:
    """The whole validator-side protocol for one challenge; never raises.

    Only a connection refused (or never made) for ``POST /challenge`` gives a verdict marked
    ``unreachable`` (not a fault: nothing was proven). Everything else that goes wrong once the
    provider has accepted the challenge's connection is a failing verdict, a fault: a malformed,
    oversized, late or crashing answer, and any failure of a later request (a provider that has
    committed cannot dodge its opening by refusing the next connection).

    1. ``POST /challenge``; answer after ``deadline_s`` (validator wall clock) -> ``late``.
    2. ``samples`` rows chosen by the validator after the commitment, opened with ``POST /open`` and
       checked by :func:`oracle.challenge.check_rows` (escape <= ``f^s + p^-k``) with ``key``, the
       validator's projection key for this challenge's ``b_seed`` (built here when not given).
    3. When ``freivalds_rounds > 0``: ``POST /product`` and :func:`oracle.challenge.freivalds_check`
       against the same root (escape <= ``(1/p)^k``); the escape bounds multiply.
    """

    def failed(reason: str, elapsed: float | None = None) -> ch.Verdict:
        return ch.Verdict(
            ok=False,
            reason=reason,
            escape_probability=0.0,
            check_seconds=0.0,
            elapsed_s=elapsed,
            deadline_s=challenge.deadline_s,
            work_flops=challenge.flops,
        )

    try:
        commitment = client.challenge(challenge)
    except ProviderUnreachable as exc:
        verdict = failed(f"unreachable: {exc}")
        verdict.unreachable = True
        return verdict
    except ProviderTimeout as exc:
        return failed(f"no answer: {exc}")
    except ProviderError as exc:
        return failed(f"bad answer: {exc}")
    except Exception as exc:  # noqa: BLE001 - whatever the answer did, it is the provider's fault
        return failed(f"bad answer: the answer crashed the client ({type(exc).__name__}: {str(exc)[:200]})")
    try:
        return _check_commitment(
            client,
            challenge,
            commitment,
            samples,
            freivalds_rounds,
            assumed_correct_fraction,
            rng,
            key,
            failed,
        )
    except Exception as exc:  # noqa: BLE001
        return failed(
            f"bad answer: the opening crashed the check ({type(exc).__name__}: {str(exc)[:200]})",
            commitment.wall_s,
        )


def _check_commitment(
    client: ProviderClient,
    challenge: ch.Challenge,
    commitment: Commitment,
    samples: int,
    freivalds_rounds: int,
    assumed_correct_fraction: float,
    rng: np.random.Generator | None,
    key: ch.ProjectionKey | None,
    failed: Callable[..., ch.Verdict],
) -> ch.Verdict:
    """Steps 2 and 3 of :func:`run_challenge`, once the root has arrived."""
    late = ch.check_deadline(challenge, commitment.wall_s)
    if late is not None:
        late.root = "0x" + commitment.root.hex()
        return late
    rows = ch.sample_rows(challenge.rows, samples, rng) if samples > 0 else []
    verdict: ch.Verdict | None = None
    if rows:
        try:
            openings = client.open(challenge.seed, rows)
        except ProviderError as exc:
            return failed(f"opening failed: {exc}", commitment.wall_s)
        verdict = ch.check_rows(
            challenge,
            commitment.root,
            openings,
            rows,
            key=key,
            assumed_correct_fraction=assumed_correct_fraction,
        )
        if not verdict.ok:
            verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
            return verdict
    if freivalds_rounds > 0:
        try:
            c = client.product(challenge.seed)
        except ProviderError as exc:
            return failed(f"full product failed: {exc}", commitment.wall_s)
        fv = ch.freivalds_check(challenge, c, freivalds_rounds, root=commitment.root, rng=rng)
        if verdict is None or not fv.ok:
            verdict = fv
        else:
            verdict = ch.Verdict(
                ok=True,
                reason=f"{verdict.reason}; {fv.reason}",
                escape_probability=verdict.escape_probability * fv.escape_probability,
                check_seconds=verdict.check_seconds + fv.check_seconds,
                samples=verdict.samples,
                freivalds_rounds=fv.freivalds_rounds,
                assumed_correct_fraction=assumed_correct_fraction,
                root=verdict.root,
            )
    if verdict is None:
        verdict = ch.Verdict(
            ok=True,
            reason="answered in time (nothing sampled: samples=0 and freivalds_rounds=0)",
            escape_probability=1.0,
            check_seconds=0.0,
            root="0x" + commitment.root.hex(),
        )
    verdict.elapsed_s, verdict.deadline_s = commitment.wall_s, challenge.deadline_s
    return verdict
