"""DAO deployment: the Treasury timelock, the ComputeGovernor, the ModelMarketplace, and the hand-over
of every protocol contract to the timelock.

Design of the hand-over (Ownable2Step needs the NEW owner to call `acceptOwnership`):

1. The Treasury timelock is deployed first with ``minDelay = 0``, no proposers/executors and the
   deployer as temporary admin, so that its address can be every contract's treasury and owner.
2. The protocol contracts are deployed with ``treasury = timelock`` (fees flow there from block one).
3. The governor is deployed against the token and the timelock.
4. The deployer calls ``transferOwnership(timelock)`` on every Ownable2Step contract, grants itself
   PROPOSER_ROLE + EXECUTOR_ROLE for one operation, and schedules ONE batch on the timelock:
   ``acceptOwnership()`` on every contract, the timelock's own optional configuration (the treasury
   balance ceiling, ``setSurplusRouting``, only callable by the timelock itself), then
   ``updateDelay(final_delay)`` on the timelock itself.
   With ``minDelay = 0`` the batch is executed right away (next transaction). Because the delay is
   raised inside the same batch, there is no window in which the deployer could schedule anything
   else under a zero delay after the ownership moved.
5. The governor gets PROPOSER_ROLE, CANCELLER_ROLE and EXECUTOR_ROLE (execution goes through
   ``governor.execute``, which anyone may call for a queued, ready proposal); the deployer renounces
   its PROPOSER/EXECUTOR roles and DEFAULT_ADMIN_ROLE. `verify_handover` then checks that no
   externally owned account keeps any power.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scripts.deploy import DeployError, RegistryParams, deploy_protocol, deployer_account
from scripts.deployment_file import DEFAULT_DEPLOYMENT_FILE, write_deployment

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = b"\x00" * 32
HANDOVER_SALT = b"gpu-compute-dao-handover".ljust(32, b"\x00")

#: Parameters for a real network (periods in seconds: the token's clock is a timestamp clock).
DAO_DEFAULTS: dict[str, int] = {
    "voting_delay": 86_400,  # 1 day between proposal and snapshot
    "voting_period": 432_000,  # 5 days of voting
    "proposal_threshold": 100_000 * 10**18,  # 0.1 % of the 100 M supply
    "quorum_percent": 4,
    "timelock_delay": 172_800,  # 2 days between queue and execute
    "market_fee_bps": 250,  # 2.5 % protocol fee on marketplace sales
    # Treasury balance ceiling (off unless a staker reward distributor is given as "staker_rewards")
    "surplus_ceiling": 0,
    "surplus_share_bps": 0,
}

#: Shortened values for the local devnet and the tests (seconds).
DAO_DEVNET: dict[str, int] = {
    "voting_delay": 1,
    "voting_period": 60,
    "proposal_threshold": 1_000 * 10**18,
    "quorum_percent": 4,
    "timelock_delay": 10,
    "market_fee_bps": 250,
}


class DaoDeploymentError(DeployError):
    """The DAO wiring did not end in the expected state; the message says what to fix."""


@dataclass(frozen=True)
class DaoParams:
    voting_delay: int
    voting_period: int
    proposal_threshold: int
    quorum_percent: int
    timelock_delay: int
    market_fee_bps: int
    surplus_ceiling: int
    surplus_share_bps: int

    @classmethod
    def from_mapping(
        cls, params: Mapping[str, Any] | None, base: Mapping[str, int] = DAO_DEFAULTS
    ) -> "DaoParams":
        merged = {**base, **{k: v for k, v in (params or {}).items() if k in base}}
        p = cls(**{k: int(v) for k, v in merged.items()})
        if p.voting_period <= 0:
            raise DaoDeploymentError("voting_period must be > 0 seconds")
        if not 0 <= p.quorum_percent <= 100:
            raise DaoDeploymentError("quorum_percent must be within 0..100")
        if p.timelock_delay < 0 or p.voting_delay < 0:
            raise DaoDeploymentError("timelock_delay and voting_delay must be >= 0 seconds")
        return p


def _project():
    from ape import project

    return project


def deploy_treasury(deployer):
    """Deploy the Treasury timelock with a zero delay and the deployer as TEMPORARY admin."""
    return deployer.deploy(_project().Treasury, 0, [], [], deployer)


def deploy_marketplace(deployer, token, treasury, params: Mapping[str, Any] | None = None):
    """Deploy the ModelMarketplace (owner = deployer until `handover_to_timelock`)."""
    p = DaoParams.from_mapping(params)
    return deployer.deploy(_project().ModelMarketplace, token, treasury, p.market_fee_bps, deployer)


def deploy_governor(deployer, token, timelock, params: Mapping[str, Any] | None = None):
    p = DaoParams.from_mapping(params)
    return deployer.deploy(
        _project().ComputeGovernor,
        token,
        timelock,
        p.voting_delay,
        p.voting_period,
        p.proposal_threshold,
        p.quorum_percent,
    )


def _calldata(contract, method: str, *args) -> bytes:
    return bytes(getattr(contract, method).encode_input(*args))


def handover_to_timelock(
    deployer, timelock, governor, owned: Iterable, final_delay: int, extra_calls: Iterable = ()
) -> None:
    """Move ownership of every `owned` Ownable2Step contract to `timelock`, run `extra_calls`
    ((target, calldata) pairs, e.g. timelock self-configuration) in the same batch, raise its delay to
    `final_delay`, hand the proposer/canceller/executor roles to `governor`, and strip the deployer."""
    owned = list(owned)
    proposer = timelock.PROPOSER_ROLE()
    executor = timelock.EXECUTOR_ROLE()
    canceller = timelock.CANCELLER_ROLE()
    admin = timelock.DEFAULT_ADMIN_ROLE()
    if timelock.getMinDelay() != 0:
        raise DaoDeploymentError("the timelock must start with minDelay 0 (use deploy_treasury)")

    for c in owned:
        if c.owner() != timelock.address:
            c.transferOwnership(timelock, sender=deployer)

    targets = [c.address for c in owned if c.pendingOwner() == timelock.address]
    payloads = [_calldata(c, "acceptOwnership") for c in owned if c.pendingOwner() == timelock.address]
    for target, calldata in extra_calls:
        targets.append(target)
        payloads.append(calldata)
    targets.append(timelock.address)
    payloads.append(_calldata(timelock, "updateDelay", final_delay))
    values = [0] * len(targets)

    timelock.grantRole(proposer, deployer, sender=deployer)
    timelock.grantRole(executor, deployer, sender=deployer)
    timelock.scheduleBatch(targets, values, payloads, ZERO_BYTES32, HANDOVER_SALT, 0, sender=deployer)
    timelock.executeBatch(targets, values, payloads, ZERO_BYTES32, HANDOVER_SALT, sender=deployer)

    for role in (proposer, canceller, executor):
        timelock.grantRole(role, governor, sender=deployer)
    for role in (proposer, executor, admin):
        timelock.renounceRole(role, deployer, sender=deployer)


def verify_handover(deployer, timelock, governor, owned: Iterable, final_delay: int) -> None:
    """Raise DaoDeploymentError unless the timelock owns everything and the deployer holds nothing."""
    problems: list[str] = []
    for c in owned:
        if c.owner() != timelock.address:
            problems.append(f"{c.address} owner is {c.owner()}, not the timelock")
        if c.pendingOwner() != ZERO_ADDRESS:
            problems.append(f"{c.address} still has a pending owner {c.pendingOwner()}")
        if hasattr(c, "treasury") and c.treasury() != timelock.address:
            problems.append(f"{c.address} treasury is {c.treasury()}, not the timelock")
    roles = {
        name: getattr(timelock, name)()
        for name in ("DEFAULT_ADMIN_ROLE", "PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE")
    }
    for name, role in roles.items():
        if timelock.hasRole(role, deployer):
            problems.append(f"deployer still holds {name}")
        if timelock.hasRole(role, ZERO_ADDRESS):
            problems.append(f"{name} is open to anyone")
    for name in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"):
        if not timelock.hasRole(roles[name], governor):
            problems.append(f"governor lacks {name}")
    if timelock.getMinDelay() != final_delay:
        problems.append(f"timelock delay is {timelock.getMinDelay()}, expected {final_delay}")
    if governor.timelock() != timelock.address:
        problems.append("governor does not point at the timelock")
    if problems:
        raise DaoDeploymentError("DAO hand-over incomplete: " + "; ".join(problems))


def deploy_governance(
    deployer,
    token,
    owned: Iterable = (),
    params: Mapping[str, Any] | None = None,
    timelock=None,
    with_marketplace: bool = True,
) -> dict[str, Any]:
    """Deploy (or reuse) the Treasury timelock, the governor and the marketplace, then hand over
    every contract in `owned` (plus the marketplace) to the timelock.

    `owned` contracts must already use the timelock as their treasury: deploy the timelock first
    with `deploy_treasury` and pass it here as `timelock`. Returns {"Treasury", "ComputeGovernor",
    "ModelMarketplace"?}.
    """
    p = DaoParams.from_mapping(params)
    timelock = timelock or deploy_treasury(deployer)
    out: dict[str, Any] = {"Treasury": timelock}
    owned = list(owned)
    if with_marketplace:
        market = deploy_marketplace(deployer, token, timelock, params)
        out["ModelMarketplace"] = market
        owned.append(market)
    governor = deploy_governor(deployer, token, timelock, params)
    out["ComputeGovernor"] = governor
    extra = []
    rewards = (params or {}).get("staker_rewards")
    if rewards and p.surplus_share_bps:
        routing = (token, rewards, p.surplus_ceiling, p.surplus_share_bps)
        extra.append((timelock.address, _calldata(timelock, "setSurplusRouting", *routing)))
    handover_to_timelock(deployer, timelock, governor, owned, p.timelock_delay, extra)
    verify_handover(deployer, timelock, governor, owned, p.timelock_delay)
    return out


# ------------------------------------------------------------------ the whole protocol, governed


def split_params(params: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """(protocol params for ``deploy_protocol``: core and registry keys, DAO params) from one flat dict."""
    protocol, dao = {}, {}
    for key, value in (params or {}).items():
        if key in DAO_DEFAULTS or key == "staker_rewards":
            dao[key] = value
        else:
            protocol[key] = value
    return protocol, dao


def deploy_governed_protocol(
    deployer, params: Mapping[str, Any] | None = None, *, token=None, write_to=None
) -> dict[str, Any]:
    """Deploy the whole protocol and leave it governed: every contract owned by the Treasury
    timelock, every fee paid to it, no power left with the deployer. `params` is one flat dict of
    core and registry values (scripts/deploy.py ProtocolParams and RegistryParams; "oracles"
    required) and DAO values (DAO_DEFAULTS keys, defaulting to the real-network DAO_DEFAULTS).
    Returns {name: contract}; with `write_to` also writes the deployment file there."""
    from ape import chain

    protocol_params, dao_params = split_params(params)
    if not RegistryParams.from_mapping(protocol_params).oracles:
        raise DaoDeploymentError('pass the oracle set as params["oracles"] (addresses of the oracle nodes)')
    deploy_block = chain.blocks.height + 1
    timelock = deploy_treasury(deployer)
    contracts = deploy_protocol(deployer, timelock, protocol_params, token=token)
    owned = [c for name, c in contracts.items() if name != "ComputeToken"]
    dao = deploy_governance(deployer, contracts["ComputeToken"], owned, dao_params, timelock=timelock)
    result = {**contracts, **dao}
    if write_to is not None:
        write_deployment(result, write_to, deploy_block)
    return result


def main() -> None:
    """`ape run deploy_dao`: deploy the governed protocol and write .devnet/deployment.json.

    Local network: devnet periods (DAO_DEVNET) and test accounts 7, 8, 9 as a 2-of-3 oracle set unless
    ORACLES is set. Other networks: real-network defaults; ORACLES (comma-separated addresses) and
    ORACLE_THRESHOLD are required, the deployer comes from DEPLOYER_ALIAS (see scripts/deploy.py)."""
    import os

    from ape import accounts, networks

    local = networks.provider.network.name == "local"
    oracles = [a.strip() for a in os.environ.get("ORACLES", "").split(",") if a.strip()]
    if not oracles and local:
        oracles = [accounts.test_accounts[i].address for i in (7, 8, 9)]
    if not oracles:
        raise DaoDeploymentError("set ORACLES to the comma-separated addresses of the oracle nodes")
    threshold = int(os.environ.get("ORACLE_THRESHOLD", "2" if local else "0"))
    if threshold <= 0:
        raise DaoDeploymentError("set ORACLE_THRESHOLD (k of the k-of-n oracle set)")
    params = {**(DAO_DEVNET if local else DAO_DEFAULTS), "oracles": oracles, "oracle_threshold": threshold}
    contracts = deploy_governed_protocol(deployer_account(), params, write_to=DEFAULT_DEPLOYMENT_FILE)
    for name, contract in contracts.items():
        print(f"{name:20} {contract.address}")
    print(
        f"wrote {DEFAULT_DEPLOYMENT_FILE}; owner of every contract: {contracts['Treasury'].address} (timelock)"
    )
