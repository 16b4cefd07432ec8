"""The summary's last section: what a newcomer can do with the running devnet -- which account
votes and until when, how to point the page, the operator's `oracle` and the user's `compute`
commands at it."""

from __future__ import annotations

from typing import Any

from scripts.devnet.accounts import ROLE_DEPLOYER, ROLE_PROVIDER, ROLE_REQUESTER, ROLE_VALIDATORS


def next_steps(summary: dict[str, Any], doc: dict[str, Any], once: bool) -> list[str]:
    accounts = {a["index"]: a for a in doc.get("devAccounts", [])}
    dep, rpc = summary["deploymentFile"], summary["rpcUrl"]
    chain = f"--deployment {dep} --rpc {rpc}"
    provider = accounts.get(ROLE_PROVIDER, {}).get("address", "<provider>")
    lines = []
    if once:
        lines.append(
            "this was --once: everything is stopped; `make demo` keeps the devnet up to try what follows"
        )
    if summary.get("pageUrl"):
        lines.append(
            f"page: open {summary['pageUrl']} and choose a dev account in its wallet menu: account "
            f"{ROLE_DEPLOYER} holds the delegated votes, {ROLE_REQUESTER} posts jobs and pays per request, "
            f"{ROLE_PROVIDER} is the provider"
        )
    lines += [
        f"provider: .venv/bin/oracle node status {chain} --address {provider}",
        f"validators: dev accounts {', '.join(map(str, ROLE_VALIDATORS))} are the oracle set (their logs: {summary['logs']}); "
        f"another key is refused by `oracle run {chain} --private-key KEY` until governance adds it",
        f"user: .venv/bin/compute job --help (post, status, fetch, check, approve, dispute) with {chain}",
    ]
    paid = doc.get("paidEndpoint")
    requester = accounts.get(ROLE_REQUESTER, {}).get("privateKey")
    if paid and requester and not once:
        lines.append(
            f"pay per request: .venv/bin/compute pay request {paid}/infer --demo-digits 3 {chain} "
            f"--private-key {requester} (opens a channel on the first request; dev account {ROLE_REQUESTER})"
        )
    return lines
