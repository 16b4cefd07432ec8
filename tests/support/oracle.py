"""Helpers shared by the attestation-registry and oracle tests: deterministic oracle keys,
attestation builders, and the registry deployment on top of the staking contract."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak

from oracle.attest import (
    Attestation,
    Domain,
    Fault,
    aggregate,
    attestation_digest,
    fault_digest,
    sign_attestation,
    sign_fault,
)
from scripts.gas_oracle import sample_attestation
from tests.support import core
from tests.support.core import gpu_uuid

# Deterministic oracle keys (not Ape accounts: oracles only sign, they never send transactions).
ORACLE_KEYS = [keccak(text=f"oracle-{i}") for i in range(5)]
ORACLES = [Account.from_key(k).address for k in ORACLE_KEYS]
OUTSIDER_KEYS = [keccak(text=f"outsider-{i}") for i in range(3)]
MAX_VALIDITY = 7 * 24 * 3600
MAX_SLASH = 1_000 * 10**18


node_id = core.node_id
"""The node id of a test label's GPU (re-exported: the oracle tests import it from here)."""


def make_attestation(provider: str, node: bytes, epoch: int, expiry: int, **overrides) -> Attestation:
    return sample_attestation(provider, node, epoch, expiry, **overrides)


def domain_of(registry, chain_id: int) -> Domain:
    return Domain(chain_id=chain_id, verifying_contract=str(registry.address))


def quorum_sigs(domain: Domain, att: Attestation, keys=None, k: int = 3) -> list[bytes]:
    keys = ORACLE_KEYS[:k] if keys is None else keys
    sigs = [sign_attestation(key, domain, att) for key in keys]
    return aggregate(sigs, threshold=len(sigs), digest=attestation_digest(domain, att))


def fault_sigs(domain: Domain, fault: Fault, keys=None, k: int = 3) -> list[bytes]:
    keys = ORACLE_KEYS[:k] if keys is None else keys
    sigs = [sign_fault(key, domain, fault) for key in keys]
    return aggregate(sigs, threshold=len(sigs), digest=fault_digest(domain, fault))


GPU_MODEL = "NVIDIA H100 80GB HBM3"
STAKE = 5_000 * 10**18


def deploy_with_registry(deployer, treasury, oracles, threshold, **params):
    """The whole protocol (scripts/deploy.py) with the AttestationRegistry over ``oracles``."""
    from scripts.deploy import deploy_protocol

    return deploy_protocol(
        deployer,
        treasury,
        {
            "oracles": list(oracles),
            "oracle_threshold": threshold,
            "attestation_max_validity": params.pop("max_validity", MAX_VALIDITY),
            "attestation_max_slash": params.pop("max_slash", MAX_SLASH),
            **params,
        },
    )


def register_node(
    contracts, deployer, provider, gpu: str, uri: str = "", stake: int = STAKE, vram: int = 81559
):
    """Fund ``provider``, stake and register the GPU of label ``gpu`` (node id :func:`node_id`)."""
    token, staking = contracts["ComputeToken"], contracts["ComputeStaking"]
    token.transfer(provider, stake, sender=deployer)
    token.approve(staking, stake, sender=provider)
    staking.stake(stake, sender=provider)
    return staking.registerNode(gpu_uuid(gpu), GPU_MODEL, vram, uri, sender=provider)


def epoch_validators(chain, rpc: str, contracts, tmp, oracles, prober=None, **settings):
    """The deployment file of `contracts` in `tmp`, epoch 1 starting after the blocks so far, and one
    started validator per oracle account (journal in `tmp`), each the others' peer; `settings` go to
    every ValidatorConfig. Returns (validators, genesis)."""
    from oracle.validator.config import ValidatorConfig
    from oracle.validator.daemon import Validator
    from scripts.deployment_file import write_deployment

    dep = write_deployment(contracts, tmp / "deployment.json", 0)
    chain.mine(1)
    genesis = chain.pending_timestamp + 1  # epoch 1 starts after the registrations
    chain.mine(1, timestamp=genesis + 1)
    vals = []
    for i, acct in enumerate(oracles):
        cfg = ValidatorConfig(
            deployment_path=str(dep),
            rpc=rpc,
            account=acct,
            journal_path=str(tmp / f"journal-{i}.sqlite"),
            genesis=genesis,
            **settings,
        )
        vals.append(Validator(cfg, prober))
    urls = [v.start() for v in vals]
    for v in vals:
        v.cfg.peers = [u for u in urls if u != v.url]
    return vals, genesis
