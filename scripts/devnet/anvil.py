"""The devnet's chain: anvil on a free port (dev mnemonic, chain id 31337), the contracts compiled,
Ape connected to it in this process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from scripts.devnet.accounts import DEV_CHAIN_ID, DEV_MNEMONIC
from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import ANVIL_BIN, ROOT, VENV_BIN
from scripts.devnet.processes import Supervisor


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise DevnetError(f"{method} failed on {url}: {reply['error']}")
    return reply["result"]


def wait_for_rpc(url: str, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return int(rpc(url, "eth_chainId", timeout=1.0), 16)
        except (OSError, urllib.error.URLError, DevnetError, ValueError) as e:
            last = e
            time.sleep(0.1)
    raise DevnetError(f"no JSON-RPC answer from {url} after {timeout:.0f}s ({last}); see .devnet/logs/")


def start_anvil(sup: Supervisor, port: int, block_time: float | None = None) -> str:
    if not ANVIL_BIN.exists():
        raise DevnetError(f"anvil is not installed at {ANVIL_BIN}: run `make setup` (toolchain/setup.sh).")
    argv = [
        str(ANVIL_BIN),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(DEV_CHAIN_ID),
        "--mnemonic",
        DEV_MNEMONIC,
        "--accounts",
        "10",
        "--balance",
        "10000",
        "--hardfork",
        "prague",
    ]
    if block_time:
        argv += ["--block-time", str(block_time)]
    sup.start("anvil", argv)
    url = f"http://127.0.0.1:{port}"
    wait_for_rpc(url)
    return url


def compile_contracts() -> None:
    out = subprocess.run(
        [str(VENV_BIN / "ape"), "compile"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise DevnetError(f"`ape compile` failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


@contextlib.contextmanager
def ape_on(url: str) -> Iterator[Any]:
    """Connect Ape (in this process) to the anvil at `url`; yields the `ape` module."""
    import ape
    from ape.logging import logger

    logger.set_level("WARNING")  # no line per confirmed transaction: the summary says what ran
    with ape.networks.parse_network_choice("ethereum:local:foundry", provider_settings={"host": url}):
        yield ape


class Clock(threading.Thread):
    """Keeps an idle chain's time moving: mines an empty block whenever no block came for
    ``every_s`` seconds. anvil mines only when a transaction arrives, so without this an ended
    vote reads Active and a ready timelock operation fails to execute until some unrelated
    transaction is sent. (anvil's own interval or mixed mining breaks Ape's deploy receipts.)"""

    def __init__(self, url: str, every_s: float):
        super().__init__(name="devnet-clock", daemon=True)
        self.url, self.every_s = url, every_s
        self.stopped = threading.Event()
        self.mined = 0

    def _rpc(self, method: str, params: list) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["result"]

    def run(self) -> None:
        # Wall-clock time since the newest block appeared (chain time may run ahead of the wall
        # clock after evm_increaseTime, so the block's own timestamp cannot be the measure).
        last_number, seen_at = None, time.monotonic()
        while not self.stopped.wait(min(1.0, self.every_s / 4)):
            try:
                number = self._rpc("eth_blockNumber", [])
                if number != last_number:
                    last_number, seen_at = number, time.monotonic()
                elif time.monotonic() - seen_at >= self.every_s:
                    self._rpc("evm_mine", [])
                    self.mined += 1
            except (OSError, ValueError, KeyError):  # anvil stopping or busy: try again next tick
                continue

    def stop(self) -> None:
        self.stopped.set()
