"""The devnet's validators: three ``oracle run`` daemons (dev accounts 2-4, threshold 2), and the
wait for their first attestation of the provider on chain."""

from __future__ import annotations

import json
import time
from typing import Any

from oracle.attest import Attestation
from scripts.deployment_file import add_local_fields
from scripts.devnet.accounts import ROLE_VALIDATORS, VALIDATOR_THRESHOLD, dev_accounts
from scripts.devnet.context import FlowContext
from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import VENV_BIN
from scripts.devnet.processes import free_port

EPOCH_SECONDS = 300
VALIDITY_SECONDS = 12 * 3600


def start_validators(ctx: FlowContext) -> list[str]:
    """Three validators (dev accounts 2-4, threshold 2 in the registry), each serving its
    signatures on its own port and knowing the other two; their epochs come from the deployment
    file (``epochs``, written at deploy). Their URLs go into the deployment file
    (``validatorEndpoints``: the page reads each one's GET /anomaly). Returns their URLs."""
    keys = {a.index: a.private_key for a in dev_accounts()}
    ports = [free_port() for _ in ROLE_VALIDATORS]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    deployment = ctx.state_dir / "deployment.json"
    ctx.doc = add_local_fields(deployment, validatorEndpoints=urls)
    for n, (index, port) in enumerate(zip(ROLE_VALIDATORS, ports, strict=True)):
        peers = ",".join(u for u in urls if u != urls[n])
        argv = [
            str(VENV_BIN / "oracle"),
            "run",
            "--deployment",
            str(deployment),
            "--rpc",
            ctx.rpc_url,
            "--private-key",
            keys[index],
            "--journal",
            str(ctx.state_dir / "validators" / f"journal-{n + 1}.sqlite"),
            "--peers",
            peers,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--finder",
            ctx.acct(index).address,
            # a CPU provider on a machine shared with the chain, the page and three validators:
            # challenges of n = 1024 sized to 0.5 s at its claim (n = 8192 is for GPUs) and a 2 s
            # allowance, so a loaded laptop is not faulted (tolerated inflation ~5x, not 1.5x)
            "--n",
            "1024",
            "--target-s",
            "0.5",
            "--allowance-s",
            "2.0",
        ]
        ctx.sup.start(f"validator-{n + 1}", argv)
    ctx.say(
        f"started {len(urls)} validators ({', '.join(urls)}), threshold {VALIDATOR_THRESHOLD}, "
        f"{EPOCH_SECONDS} s epochs"
    )
    return urls


def validators_gave_up(ctx: FlowContext) -> str | None:
    """If every validator's JSON log shows a finished epoch with nothing signed, the reason the
    last challenge gave (e.g. the provider reports no benchmark); else None."""
    reasons = []
    logs = sorted((ctx.state_dir / "logs").glob("validator-*.log"))
    if not logs:
        return None
    for log in logs:
        done, reason = False, ""
        for line in log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "challenge":
                reason = f"{event.get('result')}: {event.get('reason')}"
            if event.get("event") == "epoch_done" and event.get("nodes") and not event.get("signed"):
                done = True
        if not done:
            return None
        reasons.append(reason)
    return reasons[-1] or "no reason logged"


def wait_for_attestation(ctx: FlowContext, node_id: bytes, timeout: float = 150.0) -> dict[str, Any]:
    """Wait until the validators' first attestation of `node_id` is on chain; returns it."""
    registry = ctx.contracts["AttestationRegistry"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ctx.sup.check_alive()
        gave_up = validators_gave_up(ctx)
        if gave_up:
            raise DevnetError(f"every validator finished its epoch without signing: {gave_up}")
        record = registry.recordOf(node_id)
        if int(record.epoch) > 0:
            # the stored record holds epoch and score; the figures are in the event of that epoch
            att = next(
                a
                for a in (
                    Attestation(*log.attestation)
                    for log in registry.AttestationRecorded.range(0, registry.chain_manager.blocks.height + 1)
                )
                if a.nodeId == node_id and a.epoch == int(record.epoch)
            )
            return {
                "epoch": int(record.epoch),
                "score": int(record.score),
                "fp32": att.fp32 / 100,
                "fp16": att.fp16 / 100,
                "signers": VALIDATOR_THRESHOLD,
            }
        time.sleep(0.5)
    raise DevnetError(
        f"no attestation of node 0x{node_id.hex()} within {timeout:.0f} s: see the validator logs in "
        f"{ctx.state_dir / 'logs'}"
    )
