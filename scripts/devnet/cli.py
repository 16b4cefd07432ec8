"""``python -m scripts.devnet`` (= ``make demo``): start the devnet, print what ran, keep it up
until Ctrl-C (or SIGTERM); ``--once`` prints the summary and exits 0; ``--stop`` stops a devnet
started earlier. A failure while starting stops every process it started (never half-up) and
exits 1; once up, a service that crashes is started again (up to three times; its log says so),
and only anvil's end or a service that keeps crashing stops the devnet."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from scripts.devnet.anvil import Clock, ape_on, compile_contracts, start_anvil
from scripts.devnet.deploying import deploy_all
from scripts.devnet.errors import DevnetError
from scripts.devnet.flow import run_flow
from scripts.devnet.next_steps import next_steps
from scripts.devnet.page import PageServer, build_frontend
from scripts.devnet.paths import DEVNET_DIR, DIST_DIR, shown
from scripts.devnet.processes import Supervisor, free_port, kill_stale

DESCRIPTION = (
    "The local devnet in one command: chain, contracts, provider agent, validators, paid endpoint, page."
)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


class Stop(Exception):
    """SIGINT/SIGTERM arrived."""


def _raise_stop(signum: int, _frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def trap_stop_signals() -> None:
    """SIGINT and SIGTERM raise :class:`Stop`. Called again after Ape is imported and connected:
    Ape installs its own SIGINT handler, which turned Ctrl-C into ``make: *** Error 130`` without the
    devnet's own stop message."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _raise_stop)


def say(text: str) -> None:
    print(f"devnet: {text}", flush=True)


def print_summary(summary: dict[str, Any], once: bool) -> None:
    lines = ["", "=" * 72, "GPU compute devnet is up" + (" (--once: stopping now)" if once else ""), "=" * 72]
    lines.append(f"chain      {summary['rpcUrl']}  (chain id {summary['chainId']})")
    if summary.get("pageUrl"):
        lines.append(f"web page   {summary['pageUrl']}")
    elif summary.get("pageBuilt"):
        lines.append(
            f"web page   built in {summary['pageBuilt']} (not served with --once; `make demo` serves it)"
        )
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
        lines.append("stop       press Ctrl-C here (or: python -m scripts.devnet --stop)")
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
            trap_stop_signals()
            say("deploying every contract (governance wired)")
            contracts, doc = deploy_all(ape, deployment_file, rpc_url)
            say("deployed with scripts/deploy_dao.py:deploy_governed_protocol")
            say(f"deployment written to {shown(deployment_file)}")
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
                paid_port=free_port(args.paid_port),
            )
        summary: dict[str, Any] = {
            "rpcUrl": rpc_url,
            "chainId": doc["chainId"],
            "deploymentFile": shown(deployment_file),
            "logs": shown(state_dir / "logs"),
            "contracts": {n: c["address"] for n, c in doc["contracts"].items()},
            "sections": sections,
        }
        if not args.no_page:
            builder.join()
            if build_error:
                raise build_error[0]
            if args.once:  # built and checked, but a URL that is gone when this returns helps no one
                summary["pageBuilt"] = shown(DIST_DIR)
            else:
                server = PageServer(DIST_DIR, deployment_file, free_port(args.port)).start()
                summary["pageUrl"] = server.url
        current = json.loads(deployment_file.read_text())  # with the endpoints published after the deploy
        summary["sections"].append(
            {"title": "what to do next", "lines": next_steps(summary, current, args.once)}
        )
        trap_stop_signals()
        sup.extra["summary"] = summary
        sup.record()
        write_json(state_dir / "summary.json", summary)
        print_summary(summary, args.once)
        if args.once:
            return 0
        if args.block_time:
            clock = Clock(rpc_url, args.block_time)
            clock.start()
            say(f"chain time kept moving: an empty block whenever none came for {args.block_time:g} s")
        while True:
            time.sleep(0.5)
            for line in sup.keep_alive():
                say(line)
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
            f"devnet: FAILED: {type(e).__name__}: {e}\n(logs of the processes it started: {shown(state_dir / 'logs')})",
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


def _build_into(errors: list[BaseException]) -> None:
    try:
        build_frontend()
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.devnet", description=DESCRIPTION)
    parser.add_argument("--once", action="store_true", help="run everything, print the summary and exit 0")
    parser.add_argument("--stop", action="store_true", help="stop a devnet started earlier and exit")
    parser.add_argument("--port", type=int, default=5173, help="port of the web page (another if busy)")
    parser.add_argument("--anvil-port", type=int, default=8545, help="port of anvil (another if busy)")
    parser.add_argument(
        "--block-time",
        type=float,
        default=None,
        help="mine an empty block whenever none came for SECONDS, so time-based flows (votes, "
        "timelocks, unbonding) move on an idle chain (make demo: 2; default: only on transactions)",
    )
    parser.add_argument(
        "--agent-port", type=int, default=8600, help="port of the provider agent (another if busy)"
    )
    parser.add_argument(
        "--paid-port", type=int, default=8700, help="port of the paid inference endpoint (another if busy)"
    )
    parser.add_argument("--no-page", action="store_true", help="do not build or serve the web page")
    parser.add_argument(
        "--no-oracle", action="store_true", help="no provider agent or validators (contracts and page only)"
    )
    parser.add_argument(
        "--state-dir", default=str(DEVNET_DIR), help="where deployment.json, pids.json and logs go (.devnet)"
    )
    return run(parser.parse_args(argv))
