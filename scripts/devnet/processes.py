"""Every child of the devnet in its own process group, recorded in ``pids.json`` so that a later
run (or ``--stop``) can stop a stale devnet; a recorded PID is signalled only while its command
line still matches."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import DEVNET_DIR, ROOT


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


MAX_RESTARTS = 3
"""How often a running devnet starts a crashed service again before it gives up."""


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None, mode: str) -> subprocess.Popen:
    with open(log, mode) as out:
        if mode == "ab":
            out.write(b"\n--- devnet: started again after the process above exited ---\n")
            out.flush()
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _tail(child: Child, size: int = 2000) -> str:
    return child.log.read_text(errors="replace")[-size:] if child.log.exists() else ""


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    restarts: int = 0

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
        child = Child(name, _spawn(argv, log, env, "wb"), argv, log, env)
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
        """While the devnet starts: any child that exited is a failure (never half-up)."""
        for c in self.children:
            code = c.popen.poll()
            if code is not None:
                raise DevnetError(
                    f"{c.name} exited with status {code}; its log ({c.log}) ends with:\n{_tail(c)}"
                )

    def keep_alive(self, max_restarts: int = MAX_RESTARTS) -> list[str]:
        """While the devnet runs: a service that exited is started again with the same command
        (each is crash-safe: the validators', the job agent's and the paid endpoint's journals
        resume their work), its log continued, and what happened is returned for the supervisor
        to say. anvil is never restarted (the chain's state lives in it), nor a service that
        exited ``max_restarts`` times: either stops the devnet, as a failure."""
        said = []
        for c in self.children:
            code = c.popen.poll()
            if code is None:
                continue
            if c.name == "anvil" or c.restarts >= max_restarts:
                raise DevnetError(
                    f"{c.name} exited with status {code}"
                    + (f" after {c.restarts} restarts" if c.restarts else "")
                    + f"; its log ({c.log}) ends with:\n{_tail(c)}"
                )
            said.append(
                f"{c.name} exited with status {code}; starting it again ({c.restarts + 1} of {max_restarts})."
                f" Its log ({c.log}) ended with:\n{_tail(c, 1200)}"
            )
            c.restarts += 1
            c.popen = _spawn(c.argv, c.log, c.env, "ab")
        if said:
            self.record()
        return said

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
