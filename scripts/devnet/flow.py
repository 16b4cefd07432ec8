"""The devnet's walk-through after the deploy: fund the dev accounts, start the provider agent and
register its node, start the validators and wait for the first epoch's attestation, mint and list
a model, run a job to settlement, start the paid endpoint, open a governance proposal. Returns the
summary's sections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from oracle.client.demo_job import run_demo_job
from scripts.devnet.accounts import (
    ROLE_CREATOR,
    ROLE_PROVIDER,
    ROLE_REQUESTER,
    ROLE_VALIDATORS,
    VALIDATOR_THRESHOLD,
)
from scripts.devnet.context import FlowContext
from scripts.devnet.job_node import reserve_job_node, start_job_agent
from scripts.devnet.paid_node import start_paid_endpoint, summary_lines
from scripts.devnet.processes import Supervisor
from scripts.devnet.provider_node import register_provider, start_provider_agent
from scripts.devnet.samples import fund_accounts, mint_and_list_model, open_sample_proposal, run_sample_job
from scripts.devnet.validators import start_validators, wait_for_attestation


def run_flow(
    ape: Any,
    contracts: dict[str, Any],
    doc: dict[str, Any],
    sup: Supervisor,
    rpc_url: str,
    say: Callable[[str], None],
    state_dir: Path,
    agent_port: int,
    with_oracle: bool = True,
    paid_port: int = 0,
) -> list[dict[str, Any]]:
    ctx = FlowContext(ape, contracts, doc, sup, rpc_url, say, state_dir)
    fund_accounts(ctx)
    node_id: bytes | None = None
    min_score = 0
    jobs = reserve_job_node()
    if with_oracle:
        # the paid endpoint starts after the demo job mints its model; /services names it from the start
        paid_url = f"http://127.0.0.1:{paid_port}" if paid_port else None
        facts = start_provider_agent(ctx, agent_port, jobs.url, paid_url)
        register_provider(ctx, facts)
        start_job_agent(ctx, jobs, facts.node_id)
        node_id = facts.node_id
        ctx.section(
            "provider",
            [
                f"{facts.gpu_model} ({facts.vram_mib} MiB), node id 0x{facts.node_id.hex()}",
                f"agent {facts.url}, job agent {jobs.url} (in {facts.url}/services)",
            ],
        )
        start_validators(ctx)
        a = wait_for_attestation(ctx, node_id)
        min_score = 1
        ctx.section(
            "first epoch",
            [
                f"epoch {a['epoch']}: attestation by {a['signers']} of {len(ROLE_VALIDATORS)} validators "
                f"(threshold {VALIDATOR_THRESHOLD}) recorded on chain: score {a['score']}, "
                f"fp32 {a['fp32'] * 1000:.3g} GFLOP/s"
                + (f", fp16 {a['fp16'] * 1000:.3g} GFLOP/s" if a["fp16"] else " (no fp16 on this CPU)"),
                "(by the validator daemons: challenged the provider agent, signed, aggregated, submitted)",
            ],
        )
    model_id = mint_and_list_model(ctx)
    if with_oracle:  # a real job: the demo classifier minted, run by the provider's job agent, checked
        result = run_demo_job(
            str(ctx.state_dir / "deployment.json"),
            ctx.rpc_url,
            ctx.acct(ROLE_REQUESTER).private_key,
            ctx.acct(ROLE_PROVIDER).private_key,
            ctx.acct(ROLE_CREATOR).private_key,
            jobs_url=jobs.url,
            state_dir=ctx.state_dir / "demo-job",
            say=ctx.say,
        )
        ctx.section("real AI job", result.lines)
        # the model the job minted, now paid per request (oracle paid serve)
        ctx.section("paid endpoint", summary_lines(start_paid_endpoint(ctx, paid_port)))
    else:
        ctx.section("sample job", run_sample_job(ctx, model_id, node_id, min_score))
    ctx.section("governance", open_sample_proposal(ctx))
    return ctx.sections
