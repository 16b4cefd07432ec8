"""The provider's HTTP server: what validators challenge (client side: :mod:`oracle.validator.client`).

HTTP API (JSON in, JSON out; errors are ``{"error": "..."}`` with a 4xx/5xx status):

- ``GET /health`` -> ``{"status": "ok", "version", "backend", "cached", "max_product_n"}``
  ``gpu``: each GPU's temperature, ECC errors and clock-event reasons (:mod:`oracle.provider.health`);
  ``status`` is ``"degraded"`` when a GPU has a problem
- ``GET /inventory`` -> :meth:`oracle.inventory.Inventory.to_json`
- ``GET /metrics`` -> Prometheus text (:mod:`oracle.provider.observability`); every request is
  also one JSON log line (logger ``oracle.serve``)
- ``GET /services`` -> ``{"jobs": url | null, "paid": url | null}``: the discovery document. A node
  registers one URL (its ``metadataURI``, this server's); the operator names here the other
  services of the node (``oracle serve --jobs-url URL --paid-url URL``): the job agent
  (:mod:`oracle.provider.jobs_cli`) and the paid inference endpoint. Answered with
  ``Access-Control-Allow-Origin: *`` (the page reads it from another origin).
- ``POST /challenge`` a signed challenge request (:mod:`oracle.challenge_auth`:
  ``{challenge, node, epoch, issued_at, signer, signature}``) -> ``{root, elapsed_s, n, rows,
  precision, backend, node, signature}``. With a :class:`~oracle.provider.admission.Gate` only
  oracle-set requests for the nodes served here are computed (401/403/409/429 otherwise, before
  any work); without one (``oracle serve`` in dev mode, the default) a bare challenge is accepted
  too. The provider computes ``C = A @ B`` block by block on its backend, commits to the row
  digests (see :mod:`oracle.challenge`) and keeps the commitment per (validator, epoch) until the
  rows are opened (:class:`~oracle.provider.admission.CommitmentStore`). ``signature``: the node's
  answer key over ``(node, seed, root)`` when it has one. While a node runs one challenge, another
  for it is answered ``503 {"busy": true, "running": <that signed request>, "retry_after_s"}``.
- ``POST /open`` ``{seed, rows: [i, ...]}`` -> ``{rows: [{index, values_b64, group_b64, proof}]}``
  (``values_b64``: the row recomputed, int32 little-endian; ``group_b64``: the digests of its
  group; ``proof``: the group's Merkle proof, ``0x`` hex).
- ``POST /product`` ``{seed}`` -> ``{rows, n, dtype: "<i4", c_b64}`` the full ``C`` for Freivalds'
  check; only for ``rows, n <= max_product_n``.

Misbehaviour modes (``behaviour``): see :mod:`oracle.provider.behaviours`. ``hardware``: a paced
stand-in for accelerators (:mod:`oracle.provider.hardware`), shared by every node served here.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
from eth_account import Account

from oracle import __version__
from oracle import challenge as ch
from oracle.attest import Domain
from oracle.challenge_auth import sign_answer
from oracle.provider.admission import Busy, CommitmentStore, Gate, Refused, Stored
from oracle.provider.backends import epoch_b, select_backend
from oracle.provider.behaviours import SLOW_EXTRA_S, block_hook, check_behaviour, outsourced_delay
from oracle.provider.hardware import Hardware
from oracle.provider.health import GpuHealth
from oracle.provider.observability import ServerObserver
from oracle.provider.server_http import ROUTES, BadRequest, make_handler
from oracle.services import check_services

DEFAULT_MAX_N = 16384
DEFAULT_MAX_PRODUCT_N = 1024
GIVE_UP_AFTER_S = 1.0
"""A challenge still computing this long past its deadline is abandoned (its answer is late anyway)."""
ANONYMOUS = "anonymous"
"""The validator of an unsigned challenge (dev mode only)."""


class ProviderServer:
    """A provider's challenge server for one or more nodes. ``port=0`` picks a free port (see :attr:`url`).

    ``node_keys``: node id -> private key of its answer key (the address goes in the node's
    ``metadataURI`` as ``#key=0x..``); ``domain``: the registry's EIP-712 domain the answers are
    signed in. Use as a context manager (starts a background thread, stops on exit) or call
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
        inventory_fn: Callable[[], dict] | None = None,
        silent_s: float = 3600.0,
        gate: Gate | None = None,
        node_keys: Mapping[bytes, str | bytes] | None = None,
        domain: Domain | None = None,
        hardware: Hardware | None = None,
        store: CommitmentStore | None = None,
        gpu_health: GpuHealth | None = None,
        services: Mapping[str, str | None] | None = None,
    ):
        self.behaviour = check_behaviour(behaviour)
        self.backend_name, self.commit_fn = select_backend(backend)
        self.max_n = max_n
        self.max_product_n = max_product_n
        self.silent_s = silent_s
        self.gate, self.domain, self.hardware = gate, domain, hardware
        self.node_keys = {bytes(k): v for k, v in (node_keys or {}).items()}
        self.services = check_services(services or {})
        self.store = store or CommitmentStore()
        self.busy = Busy()
        self.running = 0
        """Challenges being computed right now (also those whose validator gave up waiting)."""
        self._running_lock = threading.Lock()
        self._inventory_fn = inventory_fn
        self._inventory: dict | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.gpu_health = gpu_health or GpuHealth()
        self.observer = ServerObserver(ROUTES, self.gpu_health.report)
        self.httpd = ThreadingHTTPServer((host, port), make_handler(self))
        self.httpd.daemon_threads = True
        self.httpd.handle_error = self._handle_error  # type: ignore[method-assign]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def endpoint_of(self, node_id: bytes) -> str:
        """The ``metadataURI`` to register ``node_id`` with: this URL, plus its answer key if any."""
        key = self.node_keys.get(bytes(node_id))
        return self.url if key is None else f"{self.url}#key={Account.from_key(key).address}"

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

    def _handle_error(self, request: Any, client_address: Any) -> None:
        """A connection a client dropped is one log line, not a traceback; anything else is a bug."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            self.observer.dropped("-", "-", str(client_address[0]), type(exc).__name__)
        else:
            logging.getLogger("oracle.serve").exception(
                {"event": "handler_crashed", "client": str(client_address)}
            )

    def health(self) -> dict:
        gpu = self.gpu_health.report()
        return {
            "status": "degraded" if gpu.get("status") == "degraded" else "ok",
            "version": __version__,
            "backend": self.backend_name,
            "cached": len(self.store),
            "max_product_n": self.max_product_n,
            "gpu": gpu,
        }

    def services_doc(self) -> dict:
        return dict(self.services)

    def inventory(self) -> dict:
        if self._inventory is None:
            if self._inventory_fn is not None:
                self._inventory = self._inventory_fn()
            else:
                from oracle.inventory import collect

                self._inventory = collect().to_json()
        return self._inventory

    def _admit(self, body: Any) -> tuple[ch.Challenge, bytes | None, int, str]:
        """``(challenge, node, epoch, validator)`` of a request this server will compute."""
        if self.gate is not None:
            try:
                request, signer = self.gate.admit(body)
            except Refused as exc:
                raise BadRequest(exc.status, str(exc)) from None
            return request.challenge, request.node_id, request.epoch, signer
        inner = body.get("challenge") if isinstance(body, dict) and "challenge" in body else body
        try:
            challenge = ch.Challenge.from_json(inner)
            node = (
                ch.parse_bytes32(body["node"], "node") if isinstance(body, dict) and "node" in body else None
            )
        except ch.ChallengeError as exc:
            raise BadRequest(400, str(exc)) from None
        epoch = body.get("epoch", 0) if isinstance(body, dict) else 0
        return challenge, node, epoch if isinstance(epoch, int) else 0, ANONYMOUS

    @contextlib.contextmanager
    def _node(self, node: bytes | None, validator: str, body: Any, deadline_s: float) -> Iterator[None]:
        if node is None:
            yield
            return
        running = self.busy.start(node, validator, body, time.monotonic() + deadline_s)
        if running is not None:
            evidence, ends = running
            retry = max(0.05, ends - time.monotonic())
            raise BadRequest(503, "busy", {"busy": True, "running": evidence, "retry_after_s": retry})
        try:
            yield
        finally:
            self.busy.done(node)

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        with self._running_lock:
            self.running += 1
        try:
            yield
        finally:
            with self._running_lock:
                self.running -= 1

    def handle_challenge(self, body: Any) -> dict:
        challenge, node, epoch, validator = self._admit(body)
        if challenge.n > self.max_n:
            raise BadRequest(413, f"n={challenge.n} exceeds this provider's max_n={self.max_n}")
        hook = block_hook(self.behaviour, challenge)
        give_up_at = time.monotonic() + challenge.deadline_s + GIVE_UP_AFTER_S
        with self._node(node, validator, body, challenge.deadline_s), self._counted():
            started = time.perf_counter()
            try:
                if self.hardware is None:
                    commitment = self.commit_fn(challenge, hook=hook, give_up_at=give_up_at)
                else:
                    with self.hardware.device() as pace:
                        commitment = self.commit_fn(challenge, hook=hook, pace=pace, give_up_at=give_up_at)
            except ch.ChallengeError as exc:
                raise BadRequest(503, str(exc)) from None
            elapsed = time.perf_counter() - started
        self.store.put(Stored(challenge, commitment, validator, epoch, node or bytes(32)))
        if self.behaviour == "slow":
            self._stopping.wait(max(0.0, challenge.deadline_s - elapsed) + SLOW_EXTRA_S)
        elif self.behaviour == "outsourced":
            self._stopping.wait(outsourced_delay(challenge, elapsed))
        answer = {
            "root": "0x" + commitment.root.hex(),
            "elapsed_s": elapsed,
            "n": challenge.n,
            "rows": challenge.rows,
            "precision": challenge.precision,
            "backend": self.backend_name,
        }
        if node is not None:
            answer["node"] = "0x" + node.hex()
            key = self.node_keys.get(node)
            if key is not None and self.domain is not None:
                answer["signature"] = sign_answer(key, self.domain, node, challenge.seed, commitment.root)
        return answer

    def _stored(self, body: Any) -> Stored:
        if not isinstance(body, dict) or "seed" not in body:
            raise BadRequest(400, "body must be a JSON object with a seed")
        try:
            seed = ch.parse_bytes32(body["seed"], "seed")
        except ch.ChallengeError as exc:
            raise BadRequest(400, str(exc)) from None
        entry = self.store.get(seed)
        if entry is None:
            raise BadRequest(
                404, "no commitment for this seed (never challenged, or expired): POST /challenge first"
            )
        return entry

    def _rows(self, entry: Stored, rows: list[int]) -> np.ndarray:
        """The committed rows: recomputed (O(n^2) each), misbehaviour applied row by row."""
        values = ch.product_rows(entry.challenge, rows, b=epoch_b(entry.challenge))
        hook = block_hook(self.behaviour, entry.challenge)
        if hook is not None:
            values = np.stack([hook(i, values[k : k + 1])[0] for k, i in enumerate(rows)])
        return values

    def handle_open(self, body: Any) -> dict:
        entry = self._stored(body)
        rows = body.get("rows")
        m = entry.challenge.rows
        if not isinstance(rows, list) or not all(isinstance(i, int) and 0 <= i < m for i in rows):
            raise BadRequest(400, f"rows must be a list of row indices in [0, {m})")
        if len(rows) > 1024:
            raise BadRequest(413, "at most 1024 rows per request")
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
        self.store.opened(entry.challenge.seed)
        return {"rows": out}

    def handle_product(self, body: Any) -> dict:
        entry = self._stored(body)
        m, n = entry.challenge.rows, entry.challenge.n
        if max(m, n) > self.max_product_n:
            raise BadRequest(
                413, f"rows={m}, n={n} exceed max_product_n={self.max_product_n}: use sampled rows"
            )
        raw = np.ascontiguousarray(self._rows(entry, list(range(m))), dtype="<i4").tobytes()
        return {"rows": m, "n": n, "dtype": "<i4", "c_b64": base64.b64encode(raw).decode("ascii")}
