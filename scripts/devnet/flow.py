"""The devnet's walk-through after the deploy: fund the dev accounts, start the provider agent and
register its node, start the validators and wait for the first epoch's attestation, mint and list
a model, run a job to settlement, open a governance proposal. Returns the summary's sections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.devnet.accounts import ROLE_VALIDATORS, VALIDATOR_THRESHOLD
from scripts.devnet.context import FlowContext
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
) -> list[dict[str, Any]]:
    ctx = FlowContext(ape, contracts, doc, sup, rpc_url, say, state_dir)
    fund_accounts(ctx)
    node_id: bytes | None = None
    min_score = 0
    if with_oracle:
        facts = start_provider_agent(ctx, agent_port)
        register_provider(ctx, facts)
        node_id = facts.node_id
        ctx.section(
            "provider",
            [
                f"{facts.gpu_model} ({facts.vram_mib} MiB), node id 0x{facts.node_id.hex()}",
                f"agent {facts.url}",
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
                f"fp32 {a['fp32']:.3f} TFLOPS, fp16 {a['fp16']:.4f} TFLOPS",
                "(by the validator daemons: challenged the provider agent, signed, aggregated, submitted)",
            ],
        )
    model_id = mint_and_list_model(ctx)
    ctx.section("sample job", run_sample_job(ctx, model_id, node_id, min_score))
    ctx.section("governance", open_sample_proposal(ctx))
    return ctx.sections
