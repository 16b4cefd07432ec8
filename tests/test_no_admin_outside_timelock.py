"""After deployment no externally owned account keeps any admin power.

Every non-view function of every deployed contract is enumerated from its ABI. A function is either
listed in PERMISSIONLESS (with the reason it is open to anyone) or it is privileged: the test calls it
from the deployer with placeholder arguments and asserts that it reverts with the access-control
custom error of that contract (the error and its values are checked). A function added later without
being classified here fails `test_every_function_is_classified`.
"""

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from scripts.deploy_dao import DAO_DEVNET, ZERO_ADDRESS, deploy_governed_protocol
from tests.support.oracle import ORACLES
from tests.support.reverts import reverts

GOVERNOR_PUBLIC = {
    "propose": "anyone above the proposal threshold (checked by the governor)",
    "castVote": "token holders vote with their own delegated votes",
    "castVoteWithReason": "as castVote",
    "castVoteWithReasonAndParams": "as castVote",
    "castVoteBySig": "the signer's votes, by signature",
    "castVoteWithReasonAndParamsBySig": "as castVoteBySig",
    "queue": "only a Succeeded proposal can be queued",
    "execute": "only a Queued proposal whose timelock delay has passed can run",
    "cancel": "only the proposer, only while Pending",
    "onERC721Received": "token receiver hook (reverts: deposits go to the timelock)",
    "onERC1155Received": "token receiver hook",
    "onERC1155BatchReceived": "token receiver hook",
}
TIMELOCK_PUBLIC = {
    "onERC721Received": "token receiver hook: the treasury may hold NFTs",
    "onERC1155Received": "token receiver hook",
    "onERC1155BatchReceived": "token receiver hook",
    "renounceRole": "only for the caller's own roles (test_renounce_role_cannot_touch_other_accounts)",
    "routeSurplus": "routes the governed share of above-ceiling fees to the configured rewards receiver",
}
MARKET_PUBLIC = {
    "list": "the NFT owner lists their own NFT",
    "listUntil": "as list, with an expiry",
    "updatePrice": "only the listing's seller",
    "cancel": "only the listing's seller",
    "buy": "anyone pays the listed price",
}
STAKING_PUBLIC = {
    "stake": "a provider stakes its own tokens",
    "registerNode": "a provider registers its own node",
    "deregisterNode": "only the node's owner",
    "requestUnbond": "a provider unbonds its own stake",
    "withdraw": "a provider withdraws its own unbonded stake",
}
NFT_PUBLIC = {
    "mint": "anyone mints their own model",
    "approve": "ERC-721 holder",
    "setApprovalForAll": "ERC-721 holder",
    "transferFrom": "ERC-721 holder / approved",
    "safeTransferFrom": "ERC-721 holder / approved",
}
ESCROW_PUBLIC = {
    "postJob": "a requester posts its own job",
    "postJobWithPermit": "as postJob, by permit",
    "cancelJob": "only the job's requester",
    "acceptJob": "a provider with a qualifying node",
    "submitResult": "only the job's provider",
    "approveResult": "only the job's requester",
    "dispute": "only the job's requester",
    "finalize": "anyone, after the challenge window",
    "claimTimeout": "anyone, after the deadline",
    "expireDispute": "anyone, after DISPUTE_TIMEOUT (splits 50/50, slashes nothing)",
    "settleDispute": "anyone, with a verdict signed by a quorum of the registry's oracles",
}
REGISTRY_PUBLIC = {
    "submit": "needs k-of-n oracle signatures",
    "submitBatch": "needs k-of-n oracle signatures",
    "recordFromBatch": "needs a Merkle proof into a quorum-signed batch",
    "reportFault": "needs k-of-n oracle signatures",
}
CHANNELS_PUBLIC = {
    "open": "a user opens a channel with its own deposit",
    "openWithPermit": "as open, by permit",
    "topUp": "only the channel's user",
    "topUpWithPermit": "as topUp, by permit",
    "setSigner": "only the channel's user",
    "requestClose": "only the channel's user",
    "withdraw": "only the channel's user, after the close delay",
    "redeem": "only the channel's provider, with a voucher signed for the channel",
}
TOKEN_PUBLIC = {
    "transfer": "ERC-20",
    "transferFrom": "ERC-20",
    "approve": "ERC-20",
    "permit": "EIP-2612, by signature",
    "delegate": "ERC20Votes, own votes",
    "delegateBySig": "ERC20Votes, by signature",
}

#: contract name -> {function: reason it is open}. Every other non-view function is privileged.
PERMISSIONLESS = {
    "ComputeToken": TOKEN_PUBLIC,
    "ComputeGovernor": GOVERNOR_PUBLIC,
    "Treasury": TIMELOCK_PUBLIC,
    "ModelMarketplace": MARKET_PUBLIC,
    "ComputeStaking": STAKING_PUBLIC,
    "ModelNFT": NFT_PUBLIC,
    "JobEscrow": ESCROW_PUBLIC,
    "AttestationRegistry": REGISTRY_PUBLIC,
    "PaymentChannels": CHANNELS_PUBLIC,
}

#: role-gated functions (not onlyOwner) and the error they revert with for an outsider
ROLE_ERRORS = {
    ("ComputeStaking", "lockStake"): "ComputeStakingNotLocker",
    ("ComputeStaking", "unlockStake"): "ComputeStakingNotLocker",
    ("ComputeStaking", "slashLocked"): "ComputeStakingNotLocker",
    ("ComputeStaking", "slash"): "ComputeStakingNotSlasher",
    ("JobEscrow", "resolveDispute"): "JobEscrowNotArbiter",
}

DEFAULT_ADMIN_ROLE = b"\x00" * 32


def role(name: str) -> bytes:
    return keccak(text=name)


def expected_error(name, contract, fn, deployer):
    """(error class, values) that the privileged `fn` of `contract` must revert with."""
    if name == "Treasury":
        if fn in ("updateDelay", "setSurplusRouting"):
            return contract.TimelockUnauthorizedCaller, (deployer.address,)
        needed = {
            "schedule": role("PROPOSER_ROLE"),
            "scheduleBatch": role("PROPOSER_ROLE"),
            "cancel": role("CANCELLER_ROLE"),
            "execute": role("EXECUTOR_ROLE"),
            "executeBatch": role("EXECUTOR_ROLE"),
            "grantRole": DEFAULT_ADMIN_ROLE,  # placeholder role 0x00 is administered by itself
            "revokeRole": DEFAULT_ADMIN_ROLE,
        }[fn]
        return contract.AccessControlUnauthorizedAccount, (deployer.address, needed)
    if name == "ComputeGovernor":
        return contract.GovernorOnlyExecutor, (deployer.address,)
    if (name, fn) in ROLE_ERRORS:
        return getattr(contract, ROLE_ERRORS[name, fn]), (deployer.address,)
    # Ownable2Step contracts: every privileged function is onlyOwner (acceptOwnership: pendingOwner).
    return contract.OwnableUnauthorizedAccount, (deployer.address,)


def placeholder(abi_type: str, components, filler: str):
    """A well-formed argument of `abi_type` (values are irrelevant: access control comes first)."""
    if abi_type.endswith("]"):
        return []
    if abi_type == "tuple":
        return tuple(placeholder(c.type, c.components, filler) for c in components)
    if abi_type == "address":
        return filler
    if abi_type == "bool":
        return True
    if abi_type.startswith(("uint", "int")):
        return 1
    if abi_type == "bytes":
        return b""
    if abi_type.startswith("bytes"):
        return b"\x00" * int(abi_type[5:])
    if abi_type == "string":
        return ""
    raise AssertionError(f"no placeholder for ABI type {abi_type}")


def mutating_functions(contract):
    return [abi for abi in contract.contract_type.mutable_methods]


@pytest.fixture(scope="module")
def deployment(deployer):
    """The whole protocol as `deploy_governed_protocol` leaves it (devnet periods)."""
    return deploy_governed_protocol(deployer, {**DAO_DEVNET, "oracles": ORACLES[:3], "oracle_threshold": 2})


def privileged(deployment):
    for name, contract in deployment.items():
        for abi in mutating_functions(contract):
            if abi.name not in PERMISSIONLESS[name]:
                yield name, contract, abi


def test_every_function_is_classified(deployment):
    for name, contract in deployment.items():
        assert name in PERMISSIONLESS, f"classify the functions of {name}"
        names = {abi.name for abi in mutating_functions(contract)}
        stale = set(PERMISSIONLESS[name]) - names
        assert not stale, f"{name}: PERMISSIONLESS lists functions that no longer exist: {stale}"


def revert_data(contract, abi, args, sender) -> bytes:
    """Simulate the call from `sender` (eth_call) and return its revert data (fails if no revert).
    40x faster than sending each through Ape's revert machinery, and the comparison below is on the
    exact bytes (selector AND every value)."""
    ecosystem = contract.provider.network.ecosystem
    data = ecosystem.get_method_selector(abi) + ecosystem.encode_calldata(abi, *args)
    try:
        contract.provider.web3.eth.call({"from": sender.address, "to": contract.address, "data": data})
    except ContractLogicError as err:
        return bytes(HexBytes(err.data or "0x"))
    raise AssertionError(f"{abi.selector} did not revert for {sender.address}")


def encoded_error(error, values) -> bytes:
    types = [i.canonical_type for i in error.abi.inputs]
    return keccak(text=error.abi.selector)[:4] + abi_encode(types, list(values))


def test_every_privileged_function_reverts_for_the_deployer(deployment, deployer, accounts):
    filler = accounts[9].address
    tried = []
    for name, contract, abi in privileged(deployment):
        args = [placeholder(i.type, i.components, filler) for i in abi.inputs]
        error, values = expected_error(name, contract, abi.name, deployer)
        got = revert_data(contract, abi, args, deployer)
        assert got == encoded_error(error, values), (
            f"{name}.{abi.name}: {got.hex()} is not {error.abi.selector}"
        )
        tried.append(f"{name}.{abi.name}")
    # The privileged surface is what we expect, and none was skipped.
    assert {
        "Treasury.schedule",
        "Treasury.scheduleBatch",
        "Treasury.cancel",
        "Treasury.execute",
        "Treasury.executeBatch",
        "Treasury.updateDelay",
        "Treasury.setSurplusRouting",
        "Treasury.grantRole",
        "Treasury.revokeRole",
        "ComputeGovernor.relay",
        "ComputeGovernor.setVotingDelay",
        "ComputeGovernor.setVotingPeriod",
        "ComputeGovernor.setProposalThreshold",
        "ComputeGovernor.updateQuorumNumerator",
        "ComputeGovernor.updateTimelock",
        "ModelMarketplace.setFeeBps",
        "ModelMarketplace.setTreasury",
        "ModelMarketplace.transferOwnership",
        "ModelMarketplace.acceptOwnership",
        "ModelMarketplace.renounceOwnership",
        "ComputeStaking.setLocker",
        "ComputeStaking.setSlasher",
        "ComputeStaking.setTreasury",
        "ComputeStaking.lockStake",
        "ComputeStaking.slashLocked",
        "ComputeStaking.slash",
        "ModelNFT.setMaxRoyaltyBps",
        "JobEscrow.setFeeBps",
        "JobEscrow.setArbiter",
        "JobEscrow.setScoreOracle",
        "JobEscrow.resolveDispute",
        "AttestationRegistry.addOracle",
        "AttestationRegistry.removeOracle",
        "AttestationRegistry.setThreshold",
        "PaymentChannels.setFeeBps",
        "PaymentChannels.setCloseDelay",
        "PaymentChannels.setTreasury",
        "PaymentChannels.transferOwnership",
        "PaymentChannels.acceptOwnership",
        "PaymentChannels.renounceOwnership",
    } <= set(tried)


def test_no_account_but_the_governor_holds_a_timelock_role(deployment, deployer, accounts):
    timelock, governor = deployment["Treasury"], deployment["ComputeGovernor"]
    roles = [DEFAULT_ADMIN_ROLE, role("PROPOSER_ROLE"), role("EXECUTOR_ROLE"), role("CANCELLER_ROLE")]
    for r in roles:
        assert timelock.getRoleAdmin(r) == DEFAULT_ADMIN_ROLE
        for acct in [deployer, *accounts[1:10]]:
            assert not timelock.hasRole(r, acct)
        assert not timelock.hasRole(r, ZERO_ADDRESS)
    assert timelock.hasRole(DEFAULT_ADMIN_ROLE, timelock)
    for r in roles[1:]:
        assert timelock.hasRole(r, governor)


def test_every_owned_contract_is_owned_by_the_timelock(deployment):
    timelock = deployment["Treasury"]
    for contract in deployment.values():
        if "owner" in {abi.name for abi in contract.contract_type.view_methods}:
            assert contract.owner() == timelock.address
            assert contract.pendingOwner() == ZERO_ADDRESS
        if "treasury" in {abi.name for abi in contract.contract_type.view_methods}:
            assert contract.treasury() == timelock.address


def test_renounce_role_cannot_touch_other_accounts(deployment, deployer):
    timelock, governor = deployment["Treasury"], deployment["ComputeGovernor"]
    with reverts(timelock.AccessControlBadConfirmation):
        timelock.renounceRole(role("PROPOSER_ROLE"), governor, sender=deployer)


def test_staking_and_escrow_roles_are_held_by_contracts_only(deployment, deployer):
    staking, escrow = deployment["ComputeStaking"], deployment["JobEscrow"]
    registry = deployment["AttestationRegistry"]
    assert staking.isLocker(escrow) and not staking.isLocker(deployer)
    assert staking.isSlasher(escrow) and staking.isSlasher(registry)
    assert not staking.isSlasher(deployer)
    assert not escrow.isArbiter(deployer)
    assert escrow.scoreOracle() == registry.address
