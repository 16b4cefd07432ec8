"""The devnet's job agent: ``python -m oracle.provider.jobs_cli`` for the provider's node, a
supervised process like the validators, so the page's batch form (and the demo job) run real
inference against it. The provider's challenge server names it in ``GET /services`` (started with
``--jobs-url``), which is how the page finds it from the node's ``metadataURI``.

Its ``[jobs]`` config (written to ``<state>/job-agent/provider.toml``): any model, no price floor,
a short poll. Files come from whoever posts the job: the page and the demo ``PUT`` them at
``/blobs/<sha256>`` before posting, so no ``manifest_sources`` are needed."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scripts.devnet.accounts import ROLE_PROVIDER
from scripts.devnet.context import FlowContext
from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import VENV_BIN
from scripts.devnet.processes import free_port

POLL_S = 0.25
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class JobNode:
    """Where the job agent listens (chosen before the challenge server starts, which names it)."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def reserve_job_node() -> JobNode:
    return JobNode(free_port())


def write_config(path: Path, node_id: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[jobs]\nnode_id = "0x{node_id.hex()}"\nmodels = ["*"]\ndeadline_margin_s = 30\npoll_s = {POLL_S}\n'
    )
    return path


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/jobs/0/outputs", timeout=2).close()
    except urllib.error.HTTPError:
        return True  # 404 "no job 0": it is serving
    except OSError:
        return False
    return True


def start_job_agent(ctx: FlowContext, node: JobNode, node_id: bytes) -> str:
    """Start the agent for ``node_id`` (the provider's registered node) and wait until it serves."""
    state = ctx.state_dir / "job-agent"
    config = write_config(state / "provider.toml", node_id)
    ctx.sup.start(
        "job-agent",
        [
            str(VENV_BIN / "python"),
            "-m",
            "oracle.provider.jobs_cli",
            "--config",
            str(config),
            "--deployment",
            str(ctx.state_dir / "deployment.json"),
            "--rpc",
            ctx.rpc_url,
            "--private-key",
            ctx.acct(ROLE_PROVIDER).private_key,
            "--state-dir",
            str(state),
            "--port",
            str(node.port),
        ],
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _answers(node.url):
        ctx.sup.check_alive()
        if time.monotonic() > deadline:
            raise DevnetError(
                f"the job agent did not answer on {node.url} within {READY_TIMEOUT_S:.0f} s: "
                f"see {ctx.state_dir / 'logs' / 'job-agent.log'}"
            )
        time.sleep(0.2)
    ctx.say(f"job agent for node 0x{node_id.hex()[:12]}… at {node.url} (named in the node's /services)")
    return node.url
