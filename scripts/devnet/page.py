"""The web page on the devnet: built once with vite (skipped when ``dist`` is newer than every
source), served statically on 127.0.0.1 with ``/deployment.json`` from the deployment file."""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path
from typing import Any

from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import DIST_DIR, FRONTEND_DIR, ROOT, VITE_BIN


def _newest_source_mtime() -> float:
    newest = 0.0
    for p in FRONTEND_DIR.rglob("*"):
        if p.is_file() and "dist" not in p.relative_to(FRONTEND_DIR).parts:
            newest = max(newest, p.stat().st_mtime)
    for extra in (ROOT / "package.json", ROOT / "package-lock.json"):
        if extra.exists():
            newest = max(newest, extra.stat().st_mtime)
    return newest


def build_frontend(force: bool = False) -> Path:
    stamp = DIST_DIR / "index.html"
    if not force and stamp.exists() and stamp.stat().st_mtime >= _newest_source_mtime():
        return DIST_DIR
    if not VITE_BIN.exists():
        raise DevnetError(f"vite is not installed at {VITE_BIN}: run `make setup`.")
    out = subprocess.run(
        [str(VITE_BIN), "build", str(FRONTEND_DIR), "--logLevel", "warn"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0 or not stamp.exists():
        raise DevnetError(
            f"building the page failed (vite build frontend):\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
        )
    stamp.touch()
    return DIST_DIR


class PageServer:
    """Serves `dist` statically on 127.0.0.1, plus `/deployment.json` from the deployment file."""

    def __init__(self, dist: Path, deployment_file: Path, port: int = 0) -> None:
        dist_dir, dep_file = dist, deployment_file

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, directory=str(dist_dir), **kw)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.split("?")[0] == "/deployment.json":
                    try:
                        body = dep_file.read_bytes()
                    except OSError:
                        self.send_error(404, "no deployment yet")
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="page-server", daemon=True)

    def start(self) -> PageServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
