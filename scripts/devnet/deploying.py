"""The devnet's deployment: the whole governed protocol (``deploy_governed_protocol``, the same
code the tests use) with the DAO's devnet values, the three dev validators as the oracle set, and
the deployment file with the local fields the page's dev wallet needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.devnet.accounts import ROLE_DEPLOYER, ROLE_VALIDATORS, VALIDATOR_THRESHOLD, dev_accounts
from scripts.devnet.validators import EPOCH_SECONDS, VALIDITY_SECONDS

CHAIN_NAME = "Local devnet (anvil)"


def devnet_params(validators: list[str]) -> dict[str, Any]:
    """The DAO's devnet values (``scripts.deploy_dao.DAO_DEVNET``) with what the demo changes:
    a voting period long enough to vote on the page, short core periods so the flows fit in
    minutes, and the dev validators as a k-of-3 oracle set (each within the contracts' bounds)."""
    from scripts.deploy_dao import DAO_DEVNET

    return {
        **DAO_DEVNET,
        "voting_period": 300,
        "unbonding_period": 3600,
        "challenge_window": 600,
        "channel_close_delay": 600,  # PaymentChannels' shortest allowed close delay
        "oracles": list(validators),
        "oracle_threshold": VALIDATOR_THRESHOLD,
        "attestation_max_validity": 24 * 3600,
    }


def deploy_all(ape: Any, deployment_file: Path, rpc_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Deploy every contract (devnet parameters) and write the deployment file, with the local
    fields (rpcUrl, chainName, devAccounts). Returns (contracts, the file's content)."""
    import json

    from scripts.deploy_dao import deploy_governed_protocol
    from scripts.deployment_file import write_deployment

    validators = [ape.accounts.test_accounts[i].address for i in ROLE_VALIDATORS]
    deployer = ape.accounts.test_accounts[ROLE_DEPLOYER]
    deploy_block = ape.chain.blocks.head.number + 1
    contracts = deploy_governed_protocol(deployer, devnet_params(validators))
    local = {
        "rpcUrl": rpc_url,
        "chainName": CHAIN_NAME,
        "devAccounts": [
            {"index": a.index, "address": a.address, "privateKey": a.private_key, "label": a.label}
            for a in dev_accounts()
        ],
    }
    # the validators read their epochs here (genesis: this block's time), as a joining one would
    epochs = {"epochSeconds": EPOCH_SECONDS, "validitySeconds": VALIDITY_SECONDS}
    write_deployment(contracts, deployment_file, deploy_block, local, epochs)
    return contracts, json.loads(deployment_file.read_text())
