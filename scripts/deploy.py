"""Deploy and wire the protocol's contracts.

``deploy_protocol`` is used by the tests (through a fixture), the gas report and the devnet demo;
``main`` is the Ape script entry point (``ape run deploy``), which deploys with the defaults and
writes the deployment file the oracle and the web page read.

Other areas add their contracts by extending ``deploy_protocol`` (keep the returned dict keyed by
contract name, the same names the deployment file uses).
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ape import accounts, chain, networks, project

DEFAULT_DEPLOYMENT_FILE = Path(".devnet/deployment.json")
TOKEN_SUPPLY = 100_000_000 * 10**18


class DeployError(Exception):
    """The deployment could not be set up as asked (the message says what to change)."""


@dataclass(frozen=True)
class ProtocolParams:
    """Initial governed parameters. Every value is bound-checked again by the contracts' setters."""

    token_supply: int = TOKEN_SUPPLY
    min_stake_per_gpu: int = 1_000 * 10**18
    unbonding_period: int = 7 * 24 * 3600
    finder_share_bps: int = 1_000
    harmed_share_bps: int = 5_000
    fee_bps: int = 250
    collateral_bps: int = 10_000
    challenge_window: int = 24 * 3600
    dispute_bond: int = 10 * 10**18  # JobEscrow.disputeBond: what a dispute costs the requester
    max_royalty_bps: int = 1_000
    model_base_uri: str = "ipfs://models/"
    score_oracle: str | None = None
    arbiters: tuple[str, ...] = ()
    # AttestationRegistry (deployed when `oracles` is non-empty; it then becomes a staking slasher
    # and, unless `score_oracle` is given, the escrow's score oracle). Threshold 0 = majority.
    oracles: tuple[str, ...] = ()
    oracle_threshold: int = 0
    attestation_max_validity: int = 7 * 24 * 3600
    attestation_max_slash: int = 10_000 * 10**18

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> "ProtocolParams":
        """Defaults overridden by ``params``; unknown keys are an error (typos would pass silently)."""
        params = dict(params or {})
        params.pop("token", None)  # handled by deploy_protocol
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DeployError(f"unknown deploy parameter(s) {unknown}; known: {sorted(known)}")
        if "arbiters" in params:
            params["arbiters"] = tuple(params["arbiters"])
        if "oracles" in params:
            params["oracles"] = tuple(str(o) for o in params["oracles"])
        return cls(**params)


def deploy_protocol(
    deployer,
    treasury=None,
    params: Mapping[str, Any] | None = None,
    *,
    token=None,
    write_to: Path | str | None = None,
) -> dict[str, Any]:
    """Deploy ComputeToken (unless one is passed), ComputeStaking, ModelNFT and JobEscrow, and wire them.

    ``treasury`` defaults to the deployer. ``params`` overrides ``ProtocolParams`` fields; an existing
    token may be given as ``token=`` or ``params["token"]``. The escrow is made the staking contract's
    locker and slasher. Ownership of every contract stays with ``deployer`` (governance later accepts
    it through Ownable2Step). Returns ``{contract name: ContractInstance}``; with ``write_to`` it
    also writes the deployment file there.
    """
    token = token if token is not None else (params or {}).get("token")
    p = ProtocolParams.from_mapping(params)
    treasury = treasury if treasury is not None else deployer
    deploy_block = chain.blocks.height + 1

    if token is None:
        token = deployer.deploy(project.ComputeToken, deployer, p.token_supply)
    staking = deployer.deploy(
        project.ComputeStaking,
        token,
        treasury,
        p.min_stake_per_gpu,
        p.unbonding_period,
        p.finder_share_bps,
        p.harmed_share_bps,
    )
    model_nft = deployer.deploy(project.ModelNFT, p.max_royalty_bps, p.model_base_uri)
    escrow = deployer.deploy(
        project.JobEscrow,
        token,
        staking,
        model_nft,
        treasury,
        p.fee_bps,
        p.collateral_bps,
        p.challenge_window,
    )
    if p.dispute_bond:
        escrow.setDisputeBond(p.dispute_bond, sender=deployer)
    staking.setLocker(escrow, True, sender=deployer)
    staking.setSlasher(escrow, True, sender=deployer)
    if p.score_oracle:
        escrow.setScoreOracle(p.score_oracle, sender=deployer)
    for arbiter in p.arbiters:
        escrow.setArbiter(arbiter, True, sender=deployer)

    contracts = {
        "ComputeToken": token,
        "ComputeStaking": staking,
        "ModelNFT": model_nft,
        "JobEscrow": escrow,
    }
    if p.oracles:
        threshold = p.oracle_threshold or len(p.oracles) // 2 + 1
        registry = deployer.deploy(
            project.AttestationRegistry,
            staking,
            deployer,
            list(p.oracles),
            threshold,
            p.attestation_max_validity,
            p.attestation_max_slash,
        )
        staking.setSlasher(registry, True, sender=deployer)
        if not p.score_oracle:
            escrow.setScoreOracle(registry, sender=deployer)
        contracts["AttestationRegistry"] = registry
    if write_to is not None:
        write_deployment(contracts, write_to, deploy_block)
    return contracts


def deployment_document(contracts: Mapping[str, Any], deploy_block: int) -> dict[str, Any]:
    """The deployment file's content: chain id, each contract's address and ABI, first block."""
    return {
        "chainId": chain.chain_id,
        "contracts": {
            name: {
                "address": str(contract.address),
                "abi": [abi.model_dump(mode="json", by_alias=True) for abi in contract.contract_type.abi],
            }
            for name, contract in contracts.items()
        },
        "deployBlock": int(deploy_block),
    }


def write_deployment(contracts: Mapping[str, Any], path: Path | str, deploy_block: int) -> Path:
    """Write the deployment file (creating its folder) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment_document(contracts, deploy_block), indent=2) + "\n")
    return path


def _deployer_account():
    """The local test account 0 on a local network; otherwise the account alias in DEPLOYER_ALIAS."""
    if networks.provider.network.name == "local":
        return accounts.test_accounts[0]
    alias = os.environ.get("DEPLOYER_ALIAS")
    if not alias:
        raise DeployError(
            "set DEPLOYER_ALIAS to an account imported with `ape accounts import <alias>` "
            "to deploy on a public network"
        )
    return accounts.load(alias)


def main() -> None:
    """``ape run deploy``: deploy with the defaults and write .devnet/deployment.json."""
    deployer = _deployer_account()
    treasury = os.environ.get("TREASURY") or deployer
    contracts = deploy_protocol(deployer, treasury, write_to=DEFAULT_DEPLOYMENT_FILE)
    for name, contract in contracts.items():
        print(f"{name:16} {contract.address}")
    print(f"wrote {DEFAULT_DEPLOYMENT_FILE}")


__all__ = [
    "DEFAULT_DEPLOYMENT_FILE",
    "DeployError",
    "ProtocolParams",
    "deploy_protocol",
    "deployment_document",
    "write_deployment",
]
