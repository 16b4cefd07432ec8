"""Fixtures for the browser tests: one real devnet per session (`python -m scripts.devnet` in a temporary
state folder: anvil, every contract, the sample flow, the built page served on 127.0.0.1), a
headless Debian Chromium driven by Playwright, an optional injected EIP-1193 test wallet, and
web3 for checking on chain what the page did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WALLET_JS = (Path(__file__).parent / "frontend_wallet.js").read_text()


def devnet_command(state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scripts.devnet",
        "--state-dir",
        str(state_dir),
        "--port",
        "0",
        "--anvil-port",
        "0",
        "--agent-port",
        "0",
        "--paid-port",
        "0",
        *extra,
    ]


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            continue
        alive.append(pid)
    return alive


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (to prove nothing of a devnet is left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and pids_alive([int(entry.name)]):
            found.append(int(entry.name))
    return found


@dataclass
class Devnet:
    state_dir: Path
    proc: subprocess.Popen
    summary: dict[str, Any]
    deployment: dict[str, Any]
    w3: Any = None
    _contracts: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.summary["pageUrl"]

    @property
    def rpc_url(self) -> str:
        return self.summary["rpcUrl"]

    def contract(self, name: str) -> Any:
        if name not in self._contracts:
            c = self.deployment["contracts"][name]
            self._contracts[name] = self.w3.eth.contract(address=c["address"], abi=c["abi"])
        return self._contracts[name]

    def account(self, index: int) -> str:
        return self.deployment["devAccounts"][index]["address"]

    def transact(self, name: str, fn: str, *args: Any, sender: int) -> Any:
        tx = getattr(self.contract(name).functions, fn)(*args).transact({"from": self.account(sender)})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 1, f"{name}.{fn} reverted"
        return receipt

    def health(self) -> str:
        """What is left of the devnet (for a test that finds part of it gone): the supervisor's
        status, its children alive or not, and the end of its output."""
        recorded = self.state_dir / "pids.json"
        children = json.loads(recorded.read_text()).get("children", []) if recorded.exists() else []
        alive = set(pids_alive([c["pid"] for c in children]))
        states = ", ".join(f"{c['name']} {'alive' if c['pid'] in alive else 'gone'}" for c in children)
        out = self.state_dir.parent / f"{self.state_dir.name}.out"
        tail = out.read_text(errors="replace")[-3000:] if out.exists() else "(no output file)"
        return (
            f"devnet supervisor {'running' if self.proc.poll() is None else f'exited {self.proc.poll()}'}; "
            f"children: {states or 'none recorded'}; its output ends with:\n{tail}"
        )

    def rpc(self, method: str, params: list | None = None) -> Any:
        return self.w3.provider.make_request(method, params or [])["result"]

    def time_travel(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine")


def start_devnet(
    state_dir: Path, *extra: str, timeout: float = 240
) -> tuple[subprocess.Popen, dict[str, Any]]:
    log = open(state_dir.parent / f"{state_dir.name}.out", "wb")  # noqa: SIM115 (closed by the caller's process end)
    proc = subprocess.Popen(
        devnet_command(state_dir, *extra),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    summary_file = state_dir / "summary.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if summary_file.exists():
            return proc, json.loads(summary_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    out = (state_dir.parent / f"{state_dir.name}.out").read_text(errors="replace")[-4000:]
    stop_devnet(proc)
    raise AssertionError(f"the devnet did not come up (status {proc.poll()}):\n{out}")


def stop_devnet(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def devnet(tmp_path_factory) -> Iterator[Devnet]:
    from web3 import Web3

    state_dir = tmp_path_factory.mktemp("devnet") / "state"
    proc, summary = start_devnet(state_dir)
    deployment = json.loads((state_dir / "deployment.json").read_text())
    net = Devnet(state_dir, proc, summary, deployment, Web3(Web3.HTTPProvider(summary["rpcUrl"])))
    try:
        yield net
    finally:
        recorded = (
            json.loads((state_dir / "pids.json").read_text()) if (state_dir / "pids.json").exists() else {}
        )
        stop_devnet(proc, signal.SIGINT)  # what Ctrl-C sends
        out = (state_dir.parent / f"{state_dir.name}.out").read_text(errors="replace")
        restarted = [line for line in out.splitlines() if "starting it again" in line]
        if restarted:  # the page tests went on; the crash is a bug to look at, shown in the summary
            warnings.warn(
                f"a devnet service crashed during the tests and was restarted: {restarted}", stacklevel=1
            )
        children = [c["pid"] for c in recorded.get("children", [])]
        assert not pids_alive(children), f"devnet children left running: {pids_alive(children)}"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `toolchain/setup.sh --browser` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@dataclass
class Wallet:
    """What the injected test wallet's "user" answers: methods listed in `reject` get a 4001."""

    reject: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)

    def decide(self, method: str, _params: str) -> str:
        self.seen.append(method)
        return "reject" if method in self.reject else "approve"


@pytest.fixture
def open_page(chromium, devnet) -> Iterator[Any]:
    """open_page(viewport=DESKTOP, wallet_account=None, wallet_chain_id=None, before_load=None,
    wallet_options=None) -> (page, wallet); before_load(page) runs before the page is opened (e.g.
    to watch requests); wallet_options go to the test wallet (e.g. {"only6963": True})."""
    contexts = []

    def _open(
        viewport: dict = DESKTOP,
        wallet_account: int | None = None,
        wallet_chain_id: int | None = None,
        before_load: Any = None,
        wallet_options: dict | None = None,
    ):
        ctx = chromium.new_context(viewport=viewport, device_scale_factor=1)
        contexts.append(ctx)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.errors = errors  # type: ignore[attr-defined]
        wallet = Wallet()
        if wallet_account is not None:
            cfg = {
                "account": devnet.account(wallet_account),
                "rpcUrl": devnet.rpc_url,
                "rpcChainId": devnet.deployment["chainId"],
                "startChainId": wallet_chain_id or devnet.deployment["chainId"],
                **(wallet_options or {}),
            }
            page.expose_function("__walletDecide", wallet.decide)
            page.add_init_script(f"window.__TEST_WALLET__ = {json.dumps(cfg)};\n{WALLET_JS}")
        if before_load is not None:
            before_load(page)
        try:
            page.goto(devnet.url)
        except Exception as exc:  # noqa: BLE001 - Playwright's own error type; say why the page is gone
            raise AssertionError(f"the devnet's page did not answer ({exc}); {devnet.health()}") from exc
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        return page, wallet

    yield _open
    for ctx in contexts:
        ctx.close()


def connect_dev(page: Any, index: int) -> None:
    page.select_option("#dev-account", str(index))
    page.click("#connect-dev")
    page.wait_for_selector("#dev-label")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header then sits on top, as a user sees it
    page.screenshot(path=str(path), full_page=True)
    return path


def outcome(page: Any, msg: str, timeout: float = 20_000) -> str:
    """Wait until the section message `msg` (e.g. "#jobs-msg") shows a result; return its text,
    or fail with the page's error text."""
    el = page.wait_for_selector(f"{msg}.ok, {msg}.error", timeout=timeout)
    text = el.inner_text()
    assert "ok" in (el.get_attribute("class") or ""), f"the page reported an error: {text}"
    return text


def onnx_file(tag: str) -> dict[str, Any]:
    """A small ONNX ModelProto written field by field (ir_version 8, opset 17, a graph named by
    `tag`), as Playwright's set_input_files takes it; its SHA-256 is the model id the page mints."""

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    graph = field(2, tag.encode())  # GraphProto.name
    body = b"\x08\x08" + field(2, b"page-test") + field(7, graph) + field(8, b"\x10\x11")
    return {"name": f"{tag}.onnx", "mimeType": "application/octet-stream", "buffer": body}
