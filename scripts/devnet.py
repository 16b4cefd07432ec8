"""The local devnet in one command: `python scripts/devnet.py` (= `make demo`).

It starts anvil on a free port, compiles and deploys every contract through `deploy_protocol`
(the same code the tests use), writes `.devnet/deployment.json`, starts a provider agent
(`oracle serve`) registered on chain, three validators (`oracle run`, threshold 2), waits for the
first epoch's attestation, mints a model NFT and runs a sample job to settlement, then builds and
serves the web page on 127.0.0.1 and prints what ran. Ctrl-C (or SIGTERM) stops every process it
started. `--once` does the same, prints the summary and exits 0.

Every child runs in its own process group, recorded in `.devnet/pids.json`, so a second run (or
`python scripts/devnet.py --stop`) kills a stale devnet first and always starts from a fresh chain.
Only anvil's well-known dev accounts are used: never put a real key here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVNET_DIR = ROOT / ".devnet"
DEPLOYMENT_FILE = DEVNET_DIR / "deployment.json"  # what the oracle and the page read by default
FRONTEND_DIR = ROOT / "frontend"
DIST_DIR = FRONTEND_DIR / "dist"
ANVIL_BIN = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
VITE_BIN = ROOT / "node_modules" / ".bin" / "vite"
VENV_BIN = ROOT / ".venv" / "bin"

# anvil's public test mnemonic: its keys are published everywhere and hold nothing real.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337
# Roles of the dev accounts (index into anvil's ten accounts).
ROLE_DEPLOYER = 0
ROLE_PROVIDER = 1
ROLE_VALIDATORS = (2, 3, 4)
ROLE_REQUESTER = 5
ROLE_CREATOR = 6
ROLE_LABELS = {
    ROLE_DEPLOYER: "deployer / governance proposer",
    ROLE_PROVIDER: "provider (GPU node)",
    ROLE_VALIDATORS[0]: "validator 1",
    ROLE_VALIDATORS[1]: "validator 2",
    ROLE_VALIDATORS[2]: "validator 3",
    ROLE_REQUESTER: "requester (job poster)",
    ROLE_CREATOR: "model creator",
}
VALIDATOR_THRESHOLD = 2


class DevnetError(Exception):
    """A step of the devnet failed; the message says which and what to do."""


# ---------------------------------------------------------------------------------------------
# Dev accounts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: str
    private_key: str
    label: str


def dev_accounts(count: int = 10) -> list[DevAccount]:
    """anvil's default accounts, derived from its public test mnemonic."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        key = "0x" + bytes(acct.key).hex()
        out.append(DevAccount(i, acct.address, key, ROLE_LABELS.get(i, f"dev account {i}")))
    return out


# ---------------------------------------------------------------------------------------------
# Processes: every child in its own process group, recorded so that a later run can stop them
# ---------------------------------------------------------------------------------------------


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port."""
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server and anvil do
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pgid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.05)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.05)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    argv: list[str]
    log: Path

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the child leads its own group


@dataclass
class Supervisor:
    """Starts children in their own process groups and stops them all, newest first."""

    state_dir: Path = DEVNET_DIR
    children: list[Child] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pids_file(self) -> Path:
        return self.state_dir / "pids.json"

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        log = self.state_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, popen, argv, log)
        self.children.append(child)
        self.record()
        return child

    def record(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "supervisor": {"pid": os.getpid(), "cmdline": _cmdline(os.getpid())},
            "children": [
                {"name": c.name, "pid": c.popen.pid, "pgid": c.pgid, "cmdline": _cmdline(c.popen.pid)}
                for c in self.children
            ],
            **self.extra,
        }
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.pids_file)

    def check_alive(self) -> None:
        for c in self.children:
            code = c.popen.poll()
            if code is not None:
                tail = c.log.read_text(errors="replace")[-2000:] if c.log.exists() else ""
                raise DevnetError(f"{c.name} exited with status {code}; its log ({c.log}) ends with:\n{tail}")

    def stop_all(self) -> None:
        for c in reversed(self.children):
            stop_group(c.pgid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.popen.wait(timeout=1)
        self.children.clear()
        with contextlib.suppress(FileNotFoundError):
            self.pids_file.unlink()


def kill_stale(state_dir: Path = DEVNET_DIR) -> list[str]:
    """Stop a devnet recorded in `state_dir/pids.json` by an earlier run. Returns what was stopped.

    A recorded PID is only signalled if its command line still matches what was recorded, so a
    PID reused by an unrelated process is left alone.
    """
    pids_file = state_dir / "pids.json"
    try:
        data = json.loads(pids_file.read_text())
    except (OSError, ValueError):
        return []
    stopped = []
    sup = data.get("supervisor") or {}
    pid = sup.get("pid")
    if pid and pid != os.getpid() and _alive(pid) and sup.get("cmdline") and _cmdline(pid) == sup["cmdline"]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        stopped.append(f"devnet supervisor {pid}")
    for child in data.get("children", []):
        pid, pgid = child.get("pid"), child.get("pgid")
        if not pid or not pgid:
            continue
        leader_matches = _alive(pid) and _cmdline(pid) == child.get("cmdline")
        if leader_matches or (not _alive(pid) and _group_alive(pgid)):
            stop_group(pgid)
            stopped.append(f"{child.get('name')} (group {pgid})")
    with contextlib.suppress(FileNotFoundError):
        pids_file.unlink()
    return stopped


# ---------------------------------------------------------------------------------------------
# Chain
# ---------------------------------------------------------------------------------------------


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


def deployment_document(ape: Any, contracts: dict[str, Any], deploy_block: int) -> dict[str, Any]:
    """The shared deployment-file format: {chainId, contracts: {Name: {address, abi}}, deployBlock}."""
    out: dict[str, Any] = {"chainId": ape.chain.chain_id, "contracts": {}, "deployBlock": deploy_block}
    for name, c in contracts.items():
        abi = [
            json.loads(item.model_dump_json(by_alias=True, exclude_none=True)) for item in c.contract_type.abi
        ]
        out["contracts"][name] = {"address": str(c.address), "abi": abi}
    return out


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# The web page: build once (skip when dist is newer than every source), serve statically
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Deploying through scripts/deploy.py
# ---------------------------------------------------------------------------------------------


# Short governed periods so that the demo's flows fit in minutes (each within the contracts' bounds).
DEVNET_PARAMS: dict[str, Any] = {
    # core (scripts/deploy.py ProtocolParams)
    "unbonding_period": 3600,
    "challenge_window": 600,
    # DAO (scripts/deploy_dao.py DAO_DEVNET values)
    "voting_delay": 1,
    "voting_period": 300,
    "proposal_threshold": 1_000 * 10**18,
    "quorum_percent": 4,
    "timelock_delay": 10,
    # attestation registry: the three dev validators, 2-of-3
    "oracle_threshold": VALIDATOR_THRESHOLD,
    "attestation_max_validity": 24 * 3600,
}


def _load_script_module(name: str) -> Any:
    import importlib

    for p in (str(ROOT), str(ROOT / "scripts")):
        if p not in sys.path:
            sys.path.insert(0, p)
    return importlib.import_module(f"scripts.{name}")


def deploy_function(ape: Any) -> tuple[str, Any, dict[str, Any]]:
    """The function that deploys the whole protocol with governance wired, and its parameters.

    Prefers `deploy_governed_protocol` (deploy_protocol + registry + timelock/governor hand-over)
    from scripts/deploy.py or scripts/deploy_dao.py; falls back to plain `deploy_protocol`."""
    validators = [ape.accounts.test_accounts[i].address for i in ROLE_VALIDATORS]
    params = {**DEVNET_PARAMS, "oracles": validators}
    deploy = _load_script_module("deploy")
    for module_name in ("deploy", "deploy_dao"):
        if (ROOT / "scripts" / f"{module_name}.py").exists():
            module = _load_script_module(module_name)
            fn = getattr(module, "deploy_governed_protocol", None)
            if fn is not None:
                return f"scripts/{module_name}.py:deploy_governed_protocol", fn, params
    known = {f.name for f in dataclasses.fields(deploy.ProtocolParams)}
    return (
        "scripts/deploy.py:deploy_protocol",
        deploy.deploy_protocol,
        {k: v for k, v in params.items() if k in known},
    )


def deploy_all(ape: Any, deployment_file: Path, rpc_url: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Deploy every contract (devnet parameters) and write the deployment file, extended with what
    the page needs on a local chain (rpcUrl, chainName, devAccounts)."""
    if not (ROOT / "scripts" / "deploy.py").exists():
        raise DevnetError("scripts/deploy.py is missing: the devnet deploys through its deploy_protocol().")
    name, fn, params = deploy_function(ape)
    deployer = ape.accounts.test_accounts[ROLE_DEPLOYER]
    deploy_block = ape.chain.blocks.head.number + 1
    contracts = fn(deployer, params=params)
    deploy = _load_script_module("deploy")
    if hasattr(deploy, "deployment_document"):
        doc = deploy.deployment_document(contracts, deploy_block)
    else:
        doc = deployment_document(ape, contracts, deploy_block)
    doc["rpcUrl"] = rpc_url
    doc["chainName"] = "Local devnet (anvil)"
    doc["devAccounts"] = [
        {"index": a.index, "address": a.address, "privateKey": a.private_key, "label": a.label}
        for a in dev_accounts()
    ]
    write_json(deployment_file, doc)
    return contracts, doc, name


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


class Stop(Exception):
    """SIGINT/SIGTERM arrived."""


def _raise_stop(signum: int, _frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def say(text: str) -> None:
    print(f"devnet: {text}", flush=True)


def print_summary(summary: dict[str, Any], once: bool) -> None:
    lines = ["", "=" * 72, "GPU compute devnet is up" + (" (--once: stopping now)" if once else ""), "=" * 72]
    lines.append(f"chain      {summary['rpcUrl']}  (chain id {summary['chainId']})")
    if summary.get("pageUrl"):
        lines.append(f"web page   {summary['pageUrl']}")
    lines.append(f"deployment {summary['deploymentFile']}")
    lines.append("contracts:")
    for name, addr in summary["contracts"].items():
        lines.append(f"  {name:<22} {addr}")
    for section in summary.get("sections", []):
        lines.append(f"{section['title']}:")
        for line in section["lines"]:
            lines.append(f"  {line}")
    lines.append(f"logs       {summary['logs']}")
    if not once:
        lines.append("stop       press Ctrl-C here (or: python scripts/devnet.py --stop)")
    lines.append("=" * 72)
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    deployment_file = state_dir / "deployment.json"
    stale = kill_stale(state_dir)
    if stale:
        say("stopped a stale devnet: " + ", ".join(stale))
    if args.stop:
        say("nothing running" if not stale else "stopped")
        return 0
    # a new chain every run: journals of validators that signed on the old one must go too
    for p in (deployment_file, state_dir / "summary.json", state_dir / "logs", state_dir / "validators"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    state_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(state_dir)
    sup.record()
    server: PageServer | None = None
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    build_error: list[BaseException] = []
    try:
        anvil_port = free_port(args.anvil_port)
        rpc_url = start_anvil(sup, anvil_port)
        say(f"anvil on {rpc_url} (pid {sup.children[-1].popen.pid})")
        builder = threading.Thread(target=lambda: _build_into(build_error), name="vite-build", daemon=True)
        if not args.no_page:
            builder.start()
        say("compiling (ape compile)")
        compile_contracts()
        with ape_on(rpc_url) as ape:
            say("deploying every contract (governance wired)")
            contracts, doc, how = deploy_all(ape, deployment_file, rpc_url)
            say(f"deployed with {how}")
            say(f"deployment written to {_shown(deployment_file)}")
            from _devnet_flow import run_flow  # the protocol walk-through (scripts/_devnet_flow.py)

            sections = run_flow(
                ape,
                contracts,
                doc,
                sup,
                rpc_url,
                say,
                state_dir=state_dir,
                agent_port=free_port(args.agent_port),
                with_oracle=not args.no_oracle,
            )
        summary: dict[str, Any] = {
            "rpcUrl": rpc_url,
            "chainId": doc["chainId"],
            "deploymentFile": _shown(deployment_file),
            "logs": _shown(state_dir / "logs"),
            "contracts": {n: c["address"] for n, c in doc["contracts"].items()},
            "sections": sections,
        }
        if not args.no_page:
            builder.join()
            if build_error:
                raise build_error[0]
            server = PageServer(DIST_DIR, deployment_file, free_port(args.port)).start()
            summary["pageUrl"] = server.url
        sup.extra["summary"] = summary
        sup.record()
        write_json(state_dir / "summary.json", summary)
        print_summary(summary, args.once)
        if args.once:
            return 0
        while True:
            time.sleep(0.5)
            sup.check_alive()
    except Stop as s:
        say(f"{s}: stopping")
        return 0
    except DevnetError as e:
        print(f"devnet: FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # any other failure: show where, then stop everything (never half-up)
        import traceback

        traceback.print_exc()
        print(
            f"devnet: FAILED: {type(e).__name__}: {e}\n(logs of the processes it started: {_shown(state_dir / 'logs')})",
            file=sys.stderr,
            flush=True,
        )
        return 1
    finally:
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        if server:
            server.stop()
        sup.stop_all()
        for s, h in old.items():
            signal.signal(s, h)
        say("stopped every process it started")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _build_into(errors: list[BaseException]) -> None:
    try:
        build_frontend()
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run everything, print the summary and exit 0")
    parser.add_argument("--stop", action="store_true", help="stop a devnet started earlier and exit")
    parser.add_argument("--port", type=int, default=5173, help="port of the web page (another if busy)")
    parser.add_argument("--anvil-port", type=int, default=8545, help="port of anvil (another if busy)")
    parser.add_argument(
        "--agent-port", type=int, default=8600, help="port of the provider agent (another if busy)"
    )
    parser.add_argument("--no-page", action="store_true", help="do not build or serve the web page")
    parser.add_argument(
        "--no-oracle", action="store_true", help="no provider agent or validators (contracts and page only)"
    )
    parser.add_argument(
        "--state-dir", default=str(DEVNET_DIR), help="where deployment.json, pids.json and logs go (.devnet)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
