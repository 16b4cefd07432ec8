"""Deploy and wire the protocol's contracts.

``deploy_protocol`` is used by the tests (through a fixture), the gas report and the devnet demo;
``main`` is the Ape script entry point (``ape run deploy``), which deploys with the defaults and
writes the deployment file the oracle and the web page read (:mod:`scripts.deployment_file`).

The AttestationRegistry is deployed here and only here (:func:`deploy_registry`, defaults in
:class:`RegistryParams`), whether the protocol stays with the deployer or is handed to the DAO
(``scripts/deploy_dao.py`` calls :func:`deploy_protocol`).

Other areas add their contracts by extending ``deploy_protocol`` (keep the returned dict keyed by
contract name, the same names the deployment file uses).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ape import accounts, chain, networks, project

from scripts.deployment_file import DEFAULT_DEPLOYMENT_FILE, write_deployment

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
    channel_fee_bps: int = 250
    """PaymentChannels: protocol fee on each redeemed increment."""
    channel_close_delay: int = 24 * 3600
    """PaymentChannels: the provider's last redemption window after a close request (also a
    rotated signer's grace period)."""
    dispute_bond: int = 10 * 10**18  # JobEscrow.disputeBond: what a dispute costs the requester
    max_royalty_bps: int = 1_000
    model_base_uri: str = "ipfs://models/"
    score_oracle: str | None = None
    arbiters: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> "ProtocolParams":
        """Defaults overridden by ``params`` (its registry keys are :class:`RegistryParams`'s);
        unknown keys are an error (typos would pass silently)."""
        params = {k: v for k, v in (params or {}).items() if k not in REGISTRY_KEYS}
        params.pop("token", None)  # handled by deploy_protocol
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            known_all = sorted(known | REGISTRY_KEYS)
            raise DeployError(f"unknown deploy parameter(s) {unknown}; known: {known_all}")
        if "arbiters" in params:
            params["arbiters"] = tuple(params["arbiters"])
        return cls(**params)


@dataclass(frozen=True)
class RegistryParams:
    """The AttestationRegistry's parameters, the one set of defaults for every deployment."""

    oracles: tuple[str, ...] = ()
    oracle_threshold: int = 0
    """k of the k-of-n oracle set; 0 = a majority of ``oracles``."""
    attestation_max_validity: int = 7 * 24 * 3600
    attestation_max_slash: int = 1_000 * 10**18

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> "RegistryParams":
        """Defaults overridden by the registry keys of ``params`` (other keys are ignored)."""
        values = {k: v for k, v in (params or {}).items() if k in REGISTRY_KEYS}
        if "oracles" in values:
            values["oracles"] = tuple(str(o) for o in values["oracles"])
        return cls(**values)

    @property
    def threshold(self) -> int:
        return self.oracle_threshold or len(self.oracles) // 2 + 1


REGISTRY_KEYS = frozenset(f.name for f in fields(RegistryParams))


def deploy_registry(deployer, staking, params: RegistryParams):
    """AttestationRegistry over ``params.oracles`` (owner = deployer), made a slasher of the staking."""
    if not params.oracles:
        raise DeployError('pass the oracle set as params["oracles"] (addresses of the oracle nodes)')
    registry = deployer.deploy(
        project.AttestationRegistry,
        staking,
        deployer,
        list(params.oracles),
        params.threshold,
        params.attestation_max_validity,
        params.attestation_max_slash,
    )
    staking.setSlasher(registry, True, sender=deployer)
    return registry


CHANNEL_DEFAULTS: dict[str, int] = {
    "channel_fee_bps": ProtocolParams.channel_fee_bps,
    "channel_close_delay": ProtocolParams.channel_close_delay,
}


def deploy_channels(deployer, token, model_nft, treasury, channel_params: Mapping[str, Any]):
    """PaymentChannels (owner = deployer until governance accepts it), fees to ``treasury``."""
    return deployer.deploy(
        project.PaymentChannels,
        token,
        model_nft,
        treasury,
        int(channel_params["channel_fee_bps"]),
        int(channel_params["channel_close_delay"]),
    )


def deploy_protocol(
    deployer,
    treasury=None,
    params: Mapping[str, Any] | None = None,
    *,
    token=None,
    write_to: Path | str | None = None,
) -> dict[str, Any]:
    """Deploy ComputeToken (unless one is passed), ComputeStaking, ModelNFT and JobEscrow, and wire them.

    ``treasury`` defaults to the deployer. ``params`` overrides ``ProtocolParams`` fields and, when
    it names ``oracles``, deploys the AttestationRegistry (:class:`RegistryParams`) too; an existing
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

    channels = deploy_channels(
        deployer,
        token,
        model_nft,
        treasury,
        {"channel_fee_bps": p.channel_fee_bps, "channel_close_delay": p.channel_close_delay},
    )
    contracts = {
        "ComputeToken": token,
        "ComputeStaking": staking,
        "ModelNFT": model_nft,
        "JobEscrow": escrow,
        "PaymentChannels": channels,
    }
    registry_params = RegistryParams.from_mapping(params)
    if registry_params.oracles:
        registry = deploy_registry(deployer, staking, registry_params)
        if not p.score_oracle:
            escrow.setScoreOracle(registry, sender=deployer)
        contracts["AttestationRegistry"] = registry
    if write_to is not None:
        write_deployment(contracts, write_to, deploy_block)
    return contracts


def deployer_account():
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
    deployer = deployer_account()
    treasury = os.environ.get("TREASURY") or deployer
    contracts = deploy_protocol(deployer, treasury, write_to=DEFAULT_DEPLOYMENT_FILE)
    for name, contract in contracts.items():
        print(f"{name:16} {contract.address}")
    print(f"wrote {DEFAULT_DEPLOYMENT_FILE}")


__all__ = [
    "REGISTRY_KEYS",
    "DeployError",
    "ProtocolParams",
    "RegistryParams",
    "CHANNEL_DEFAULTS",
    "deploy_channels",
    "deploy_protocol",
    "deploy_registry",
]
