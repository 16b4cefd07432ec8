"""The provider's paid inference endpoint, x402 style (HTTP 402 + a voucher per request).

HTTP API (JSON in, JSON out):

- ``GET /terms`` -> the payment terms (the same JSON a 402 carries, see :mod:`oracle.client.pay_wire`)
- ``GET /health`` -> ``{"status": "ok", "served", "journaled"}``
- ``POST /infer`` ``{"x": [[...], ...]}`` (the model's input rows) ->
  ``200 {"outputs": {...}, "channelId", "cumulativeAmount", "charged", "energy"}`` (``energy``:
  the request's ``{"mj", "estimate", "source"}``, :mod:`oracle.provider.paid_energy`) with a
  ``PAYMENT-RESPONSE`` header, when the ``PAYMENT-SIGNATURE`` header carries a voucher that pays at
  least the price; otherwise ``402`` with the terms in the ``PAYMENT-REQUIRED`` header and the body
  (plus the refusal's ``reason`` and what is ``expected``). A malformed body is ``400``.
  A request of a prepaid credit window carries ``PAYMENT-CREDIT`` (a hash-chain token,
  :mod:`oracle.client.pay_credit`) instead of a voucher; its answer is ``200 {"outputs", "energy"}``
  with the compact ``PAYMENT-RESPONSE: credit:<channelId>:<index>:<creditLeft>:<remaining>`` (it
  moves no money; the window's voucher had the full receipt, body fields included).

Order of work for a paid request: check the voucher against the cached channel
(:mod:`oracle.provider.paid_check`), journal it durably (:mod:`oracle.provider.paid_ledger`),
THEN run the model and answer (a credit use: check the token, write its record, run, answer). A provider killed after the journal and before the answer has the
voucher safe and redeems it after restart; the client, having no answer, retries with its next
voucher (it paid one price for nothing at most, never more). Redemptions run in the background
(:mod:`oracle.provider.paid_redeem`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from oracle.client.pay_credit import HEADER_CREDIT, credit_response
from oracle.client.pay_wire import (
    HEADER_REQUIRED,
    HEADER_RESPONSE,
    HEADER_SIGNATURE,
    PaymentTerms,
    encode_header,
    response_header,
)
from oracle.errors import OracleError
from oracle.provider.paid_check import PaymentRefused, Receipt, VoucherChecker
from oracle.provider.paid_energy import RequestMeter
from oracle.work.errors import InputError
from oracle.work.runtime import OnnxModel

MAX_BODY_BYTES = 1 << 20


class BadInput(OracleError, ValueError):
    """The request's input does not fit the model (answered 400, before any payment is taken)."""


@dataclass(frozen=True)
class Model:
    """The endpoint's model: ``prepare(x)`` checks and converts the request's input (BadInput when
    unusable; runs BEFORE the voucher is accepted, so a bad input costs nothing), ``run`` answers."""

    prepare: Callable[[Any], Any]
    run: Callable[[Any], dict[str, Any]]
    device: str = "cpu"
    """Where ``run`` computes (``cuda``: its energy from NVML; else the labelled CPU estimate)."""


def onnx_model(model: OnnxModel) -> Model:
    """The endpoint's model from oracle/work's ONNX runtime: ``x`` (rows of the model's input) ->
    every output as lists (for the demo digits model: ``logits`` and ``label``)."""
    names = [o.name for o in model.outputs]
    dtype = model.input_info().dtype

    def prepare(x: Any) -> np.ndarray:
        try:
            array = np.asarray(x, dtype=dtype)
            model.validate(array)
        except (ValueError, TypeError, InputError) as err:
            raise BadInput(str(err)) from err
        return array

    def run(array: np.ndarray) -> dict[str, Any]:
        return {name: out.tolist() for name, out in zip(names, model.run(array), strict=True)}

    return Model(prepare, run, model.device)


@dataclass
class Counters:
    served: int = 0
    refused: int = 0
    bad_input: int = 0


class PaidInferenceServer:
    """The paid endpoint on ``host:port`` (port 0: any free port). ``checker=None`` serves without
    payment (the benchmark's baseline)."""

    def __init__(
        self,
        model: Model,
        terms: PaymentTerms,
        checker: VoucherChecker | None,
        host: str = "127.0.0.1",
        port: int = 0,
        meter: RequestMeter | None = None,
    ):
        self.model = model
        self.meter = meter
        """Each request's energy (oracle.provider.paid_energy); None: not metered."""
        self.terms = terms
        self.checker = checker
        self.counters = Counters()
        self._count_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> PaidInferenceServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="paid-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: only when it runs
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PaidInferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self, field: str) -> None:
        with self._count_lock:
            setattr(self.counters, field, getattr(self.counters, field) + 1)

    # ------------------------------------------------------------------ request handling

    def handle_infer(
        self, body: bytes, payment: str | None, credit: str | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, extra headers, JSON body) of one POST /infer (`payment`: the PAYMENT-SIGNATURE
        header, `credit`: the PAYMENT-CREDIT header; a credit token is used when both are sent)."""
        try:
            request = json.loads(body)
            x = self.model.prepare(request["x"])
        except (ValueError, KeyError, TypeError) as err:  # BadInput is a ValueError
            self._count("bad_input")
            return 400, {}, {"error": f'the body must be JSON {{"x": [[...], ...]}} the model accepts: {err}'}
        receipt: Receipt | None = None
        if self.checker is not None:
            try:
                receipt = self.checker.accept_credit(credit) if credit else self.checker.accept(payment)
            except PaymentRefused as refused:
                self._count("refused")
                terms = self.terms.to_json(refused.reason, detail=str(refused), expected=refused.expected)
                return 402, {HEADER_REQUIRED: encode_header(terms)}, terms
        if self.meter is None:
            outputs, energy = self.model.run(x), None
        else:
            outputs, energy = self.meter.measure(lambda: self.model.run(x))
        self._count("served")
        metered = {"energy": energy} if energy is not None else {}
        if receipt is None:
            return 200, {}, {"outputs": outputs, **metered}
        if receipt.credit_index:  # a window's later request (index >= 1): the compact receipt
            cid, _, _, remaining, _, index, left = receipt
            return (
                200,
                {HEADER_RESPONSE: credit_response(cid, index, left, remaining)},
                {"outputs": outputs, **metered},
            )
        paid = {
            "success": True,
            "network": self.terms.network,
            "channelId": str(receipt.channel_id),
            "cumulativeAmount": str(receipt.cumulative),
            "charged": str(receipt.charged),
            "remaining": str(receipt.remaining),
        }
        if receipt.credit_index is not None:
            paid["creditIndex"] = receipt.credit_index
            paid["creditLeft"] = receipt.credit_left
        header = response_header(
            self.terms.network,
            receipt.channel_id,
            receipt.cumulative,
            receipt.charged,
            receipt.remaining,
            receipt.credit_index,
            receipt.credit_left,
        )
        return 200, {HEADER_RESPONSE: header}, {"outputs": outputs, **paid, **metered}

    def health(self) -> dict[str, Any]:
        journaled = self.checker.ledger.journaled_requests() if self.checker is not None else 0
        out = {"status": "ok", "served": self.counters.served, "journaled": journaled}
        if self.meter is not None:
            out["energy"] = self.meter.totals.to_json()  # since this endpoint started
        return out


def _handler_for(server: PaidInferenceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection per client
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle + the client's delayed
        # ACK hold the body back ~40 ms on every keep-alive request (measured: 21 requests/s).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", f"{HEADER_REQUIRED}, {HEADER_RESPONSE}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # CORS preflight for the page
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header(
                "Access-Control-Allow-Headers", f"Content-Type, {HEADER_SIGNATURE}, {HEADER_CREDIT}"
            )
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path == "/terms":
                self._send(200, {}, server.terms.to_json())
            elif self.path == "/health":
                self._send(200, {}, server.health())
            else:
                self._send(404, {}, {"error": f"no such endpoint {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/infer":
                self._send(404, {}, {"error": f"no such endpoint {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(413, {}, {"error": f"body over {MAX_BODY_BYTES} bytes"})
                self.close_connection = True
                return
            body = self.rfile.read(length)
            status, headers, payload = server.handle_infer(
                body, self.headers.get(HEADER_SIGNATURE), self.headers.get(HEADER_CREDIT)
            )
            self._send(status, headers, payload)

    return Handler
