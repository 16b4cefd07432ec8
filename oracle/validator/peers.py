"""Validators talking to each other: each serves what it signed, each reads the others'.

``GET /health`` -> ``{"validator": address}``; ``GET /signatures/<epoch>`` -> the signed
attestations and faults (and the batch root) of that epoch; ``GET /proofs/<epoch>`` -> the
Merkle proofs of its batch; ``GET /anomaly/<epoch>`` (``/anomaly``: the latest) -> every node's
anomaly score, multiplier and reasons (:mod:`oracle.validator.anomaly_view`); ``GET
/verdicts/<jobId>`` -> the verdict it signed on that job's dispute (:mod:`oracle.validator.disputes`).
A peer being down is normal: the daemon skips it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Document = dict[str, Any]

log = logging.getLogger("oracle.validator.peers")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that hung up mid-answer (its timeout) is normal: one JSON log line, not the
        traceback socketserver prints on stderr, which holds the daemon's JSON logs only."""
        error = sys.exc_info()[1]
        log.warning({"event": "peer_request_failed", "client": str(client_address[0]), "error": repr(error)})


class PeerServer:
    """The signature server of one validator (a background thread; ``port=0`` picks a free one)."""

    def __init__(
        self,
        host: str,
        port: int,
        address: str,
        signatures: Callable[[int], Document],
        proofs: Callable[[int], Document],
        anomaly: Callable[[int | None], Document | None] = lambda _epoch: None,
        verdicts: Callable[[int], Document | None] = lambda _job: None,
    ):
        def route(parts: list[str]) -> Document | None:
            if parts == ["health"]:
                return {"validator": address}
            if parts == ["anomaly"]:
                return anomaly(None)
            if len(parts) == 2 and parts[0] == "anomaly" and parts[1].isdigit():
                return anomaly(int(parts[1]))
            if len(parts) == 2 and parts[1].isdigit():
                by_name = {"signatures": signatures, "proofs": proofs, "verdicts": verdicts}
                if parts[0] in by_name:
                    return by_name[parts[0]](int(parts[1]))
            return None

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep stderr for JSON logs only
                pass

            def end_headers(self) -> None:
                # every reply is public and read-only: the page (another origin) may read it
                self.send_header("Access-Control-Allow-Origin", "*")
                super().end_headers()

            def do_GET(self) -> None:  # noqa: N802
                body = route([p for p in self.path.split("/") if p])
                if body is None:
                    self.send_error(
                        404,
                        "use /health, /signatures/<epoch>, /proofs/<epoch>, /anomaly/<epoch> or /verdicts/<jobId>",
                    )
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Server((host, port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def fetch_signatures(peer: str, epoch: int, timeout: float = 2.0) -> Document:
    """One peer's ``/signatures/<epoch>`` document (raises ``OSError`` / ``ValueError`` when the
    peer is down or answers garbage; the caller skips that peer)."""
    with urllib.request.urlopen(f"{peer.rstrip('/')}/signatures/{epoch}", timeout=timeout) as r:
        return json.loads(r.read())
