"""ComputeStaking: stake, nodes, unbonding, collateral locks, slashing, governance."""

import ape
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.inventory import uuid_index
from tests.conftest import CORE_PARAMS
from tests.support.core import (
    ETHER,
    GPU_MODEL,
    NODE_URI,
    advance,
    events,
    gpu_uuid,
    stake,
    stake_and_register,
    timestamp_of,
)
from tests.support.reverts import reverts

MIN_STAKE = CORE_PARAMS["min_stake_per_gpu"]
UNBONDING = CORE_PARAMS["unbonding_period"]


@pytest.fixture
def locker(staking, deployer, outsider):
    """An account authorised to lock and slash, standing in for the escrow."""
    staking.setLocker(outsider, True, sender=deployer)
    staking.setSlasher(outsider, True, sender=deployer)
    return outsider


def info(staking, who) -> dict:
    staked, locked, unbonding, release, count = staking.providerInfo(who)
    return {"staked": staked, "locked": locked, "unbonding": unbonding, "release": release, "nodes": count}


def assert_backed(token, staking):
    assert staking.totalStaked() + staking.totalUnbonding() == token.balanceOf(staking)


# ---------------------------------------------------------------- stake


def test_stake_pulls_tokens_and_records_them(token, staking, provider):
    before = token.balanceOf(provider)
    tx = stake(token, staking, provider, 5_000 * ETHER)
    assert token.balanceOf(provider) == before - 5_000 * ETHER
    assert info(staking, provider)["staked"] == 5_000 * ETHER
    assert staking.freeStake(provider) == 5_000 * ETHER
    assert events(tx, staking.Staked) == [
        {"provider": provider, "amount": 5_000 * ETHER, "staked": 5_000 * ETHER}
    ]
    assert_backed(token, staking)


def test_stake_of_zero_reverts(staking, provider):
    with reverts(staking.ComputeStakingZeroAmount, provider):
        staking.stake(0, sender=provider)


def test_stake_without_allowance_reverts(token, staking, provider):
    with reverts(token.ERC20InsufficientAllowance, staking, 0, ETHER):
        staking.stake(ETHER, sender=provider)


# ---------------------------------------------------------------- nodes


def test_register_node_reserves_min_stake_and_emits_for_the_oracle(token, staking, provider):
    stake(token, staking, provider, 3_000 * ETHER)
    uuid = "GPU-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e"
    nid = keccak(text=uuid)  # the contract derives the node id from the UUID
    tx = staking.registerNode(uuid, GPU_MODEL, 81_559, NODE_URI, sender=provider)
    assert events(tx, staking.NodeRegistered) == [
        {
            "provider": provider,
            "nodeId": nid,
            "gpuUuid": uuid,
            "gpuModel": GPU_MODEL,
            "vramMiB": 81_559,
            "metadataURI": NODE_URI,
        }
    ]
    assert staking.nodeOwner(nid) == provider
    assert staking.nodeInfo(nid) == (provider, GPU_MODEL, 81_559, NODE_URI, True)
    assert info(staking, provider)["nodes"] == 1
    assert staking.requiredStake(provider) == MIN_STAKE
    assert staking.freeStake(provider) == 3_000 * ETHER - MIN_STAKE


def test_a_mig_instance_registers_under_its_own_uuid(token, staking, provider):
    stake(token, staking, provider, MIN_STAKE)
    uuid = "MIG-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    tx = staking.registerNode(uuid, GPU_MODEL, 9_856, "", sender=provider)
    assert [e["nodeId"] for e in events(tx, staking.NodeRegistered)] == [keccak(text=uuid)]
    assert staking.nodeOwner(keccak(text=uuid)) == provider


CANONICAL = "GPU-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e"
NOT_CANONICAL = {  # a UUID and the first byte where it departs from NVML's form
    "upper-case hex": ("GPU-5E7CD1A2-9B4F-3C6D-8E21-0F4A6B7C8D9E", 5),
    "lower-case prefix": ("gpu-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e", 0),
    "no prefix": ("5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e", 0),
    "half a prefix": ("GPX-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e", 2),
    "pre-R470 MIG form": ("MIG-GPU-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9e/1/0", 4),
    "no dashes": ("GPU-5e7cd1a29b4f3c6d8e210f4a6b7c8d9e", 12),
    "a dash moved": ("GPU-5e7cd1a-29b4f-3c6d-8e21-0f4a6b7c8d9e", 11),
    "braces": ("GPU-{5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9}", 4),
    "trailing newline": (CANONICAL + "\n", 40),
    "leading space": (" " + CANONICAL, 0),
    "cut short": (CANONICAL[:39], 39),
    "empty": ("", 0),
    "'/' (just below '0') in the last group": (CANONICAL[:35] + "/" + CANONICAL[36:], 35),
    "':' (just above '9') as the last byte": (CANONICAL[:39] + ":", 39),
    "'`' (just below 'a') in the second group": (CANONICAL[:14] + "`" + CANONICAL[15:], 14),
    "'g' (just above 'f') in the first group": (CANONICAL[:11] + "g" + CANONICAL[12:], 11),
    "upper-case hex in the last bytes": (CANONICAL[:33] + CANONICAL[33:].upper(), 33),
    "a hex digit where a dash belongs": (CANONICAL[:27] + "0" + CANONICAL[28:], 27),
    "non-ASCII digit": ("GPU-5e7cd1a2-9b4f-3c6d-8e21-0f4a6b7c8d9\u0665", 39),
}


@pytest.mark.parametrize("case", sorted(NOT_CANONICAL))
def test_register_node_refuses_a_uuid_not_in_nvml_form(token, staking, provider, case):
    uuid, index = NOT_CANONICAL[case]
    stake(token, staking, provider, MIN_STAKE)
    assert uuid_index(uuid) == index  # the oracle's and the page's rule, checked against the contract's
    with reverts(staking.ComputeStakingInvalidGpuUuid, uuid, index):
        staking.registerNode(uuid, GPU_MODEL, 1, "", sender=provider)


CHARS = "09af-gAF/:`@GMPU\x00\x7f\u00e9"  # each side of every range the contract tests, and beyond


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.binary(min_size=16, max_size=16),
    mig=st.booleans(),
    edit=st.sampled_from(["none", "replace", "insert", "delete"]),
    at=st.integers(0, 40),
    char=st.sampled_from(CHARS),
)
def test_property_the_contract_and_the_oracle_agree_on_every_near_canonical_uuid(
    staking, outsider, raw, mig, edit, at, char
):
    h = raw.hex()
    uuid = f"{'MIG' if mig else 'GPU'}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if edit == "replace" and at < 40:
        uuid = uuid[:at] + char + uuid[at + 1 :]
    elif edit == "insert":
        uuid = uuid[:at] + char + uuid[at:]
    elif edit == "delete" and at < 40:
        uuid = uuid[:at] + uuid[at + 1 :]
    index = uuid_index(uuid)
    # `outsider` has no stake: a UUID that passes the check is refused next, for the stake
    if index is None:
        with reverts(staking.ComputeStakingInsufficientFreeStake, outsider, MIN_STAKE, 0):
            staking.registerNode(uuid, GPU_MODEL, 1, "", sender=outsider)
    else:
        with reverts(staking.ComputeStakingInvalidGpuUuid, uuid, index):
            staking.registerNode(uuid, GPU_MODEL, 1, "", sender=outsider)


def test_a_variant_spelling_of_a_registered_gpu_is_refused(token, staking, provider, creator):
    stake_and_register(token, staking, provider, MIN_STAKE, CANONICAL)
    stake(token, staking, creator, MIN_STAKE)
    variant = CANONICAL[:4] + CANONICAL[4:].upper()  # what a hand-typed or re-cased UUID looks like
    with reverts(staking.ComputeStakingInvalidGpuUuid, variant, 5):
        staking.registerNode(variant, GPU_MODEL, 1, "", sender=creator)
    with reverts(staking.ComputeStakingNodeAlreadyRegistered, keccak(text=CANONICAL), provider):
        staking.registerNode(CANONICAL, GPU_MODEL, 1, "", sender=creator)


def test_register_node_needs_min_free_stake(token, staking, provider):
    stake(token, staking, provider, MIN_STAKE - 1)
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, MIN_STAKE, MIN_STAKE - 1):
        staking.registerNode(gpu_uuid("GPU-x"), GPU_MODEL, 1, "", sender=provider)


def test_each_node_reserves_its_own_stake(token, staking, provider):
    stake_and_register(token, staking, provider, 2 * MIN_STAKE, "GPU-1")
    staking.registerNode(gpu_uuid("GPU-2"), GPU_MODEL, 1, "", sender=provider)
    assert staking.freeStake(provider) == 0
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, MIN_STAKE, 0):
        staking.registerNode(gpu_uuid("GPU-3"), GPU_MODEL, 1, "", sender=provider)


def test_register_node_rejects_empty_or_long_model(token, staking, provider):
    stake(token, staking, provider, MIN_STAKE)
    with reverts(staking.ComputeStakingInvalidGpuModel, 0, 64):
        staking.registerNode(gpu_uuid("GPU-x"), "", 1, "", sender=provider)
    with reverts(staking.ComputeStakingInvalidGpuModel, 65, 64):
        staking.registerNode(gpu_uuid("GPU-x"), "x" * 65, 1, "", sender=provider)


def test_register_node_rejects_long_uri(token, staking, provider):
    stake(token, staking, provider, MIN_STAKE)
    with reverts(staking.ComputeStakingMetadataURITooLong, 257, 256):
        staking.registerNode(gpu_uuid("GPU-x"), GPU_MODEL, 1, "u" * 257, sender=provider)


def test_register_node_rejects_zero_vram(token, staking, provider):
    stake(token, staking, provider, MIN_STAKE)
    with reverts(staking.ComputeStakingInvalidVram, 0):
        staking.registerNode(gpu_uuid("GPU-x"), GPU_MODEL, 0, "", sender=provider)


def test_a_node_has_one_owner(token, staking, provider, creator):
    nid = stake_and_register(token, staking, provider, MIN_STAKE, "GPU-shared")
    stake(token, staking, creator, MIN_STAKE)
    with reverts(staking.ComputeStakingNodeAlreadyRegistered, nid, provider):
        staking.registerNode(gpu_uuid("GPU-shared"), GPU_MODEL, 1, "", sender=creator)


def test_deregister_frees_stake_and_lets_another_owner_register(token, staking, provider, creator):
    nid = stake_and_register(token, staking, provider, MIN_STAKE, "GPU-sold")
    tx = staking.deregisterNode(nid, sender=provider)
    assert events(tx, staking.NodeDeregistered) == [{"provider": provider, "nodeId": nid}]
    assert staking.nodeOwner(nid) == ape.utils.ZERO_ADDRESS
    assert staking.nodeInfo(nid)[4] is False
    assert staking.freeStake(provider) == MIN_STAKE
    assert info(staking, provider)["nodes"] == 0
    stake(token, staking, creator, MIN_STAKE)
    tx = staking.registerNode(gpu_uuid("GPU-sold"), "NVIDIA A100", 40_960, "", sender=creator)
    assert [e["nodeId"] for e in events(tx, staking.NodeRegistered)] == [nid]  # the same GPU, the same id
    assert staking.nodeOwner(nid) == creator


def test_deregister_by_someone_else_reverts(token, staking, provider, creator):
    nid = stake_and_register(token, staking, provider, MIN_STAKE, "GPU-mine")
    with reverts(staking.ComputeStakingNotNodeOwner, nid, creator, provider):
        staking.deregisterNode(nid, sender=creator)


def test_deregister_of_inactive_node_reverts(token, staking, provider):
    nid = stake_and_register(token, staking, provider, MIN_STAKE, "GPU-gone")
    staking.deregisterNode(nid, sender=provider)
    with reverts(staking.ComputeStakingNotNodeOwner, nid, provider, ape.utils.ZERO_ADDRESS):
        staking.deregisterNode(nid, sender=provider)


# ---------------------------------------------------------------- unbonding


def test_request_unbond_moves_free_stake_to_unbonding(token, staking, provider, chain):
    stake(token, staking, provider, 5_000 * ETHER)
    tx = staking.requestUnbond(2_000 * ETHER, sender=provider)
    release = timestamp_of(chain, tx) + UNBONDING
    assert info(staking, provider) == {
        "staked": 3_000 * ETHER,
        "locked": 0,
        "unbonding": 2_000 * ETHER,
        "release": release,
        "nodes": 0,
    }
    assert events(tx, staking.UnbondRequested) == [
        {"provider": provider, "amount": 2_000 * ETHER, "unbonding": 2_000 * ETHER, "releaseTime": release}
    ]
    assert staking.totalUnbonding() == 2_000 * ETHER
    assert_backed(token, staking)


def test_a_second_unbond_request_restarts_the_wait_for_all(token, staking, provider, chain):
    stake(token, staking, provider, 5_000 * ETHER)
    staking.requestUnbond(1_000 * ETHER, sender=provider)
    advance(chain, 3600)
    tx = staking.requestUnbond(1_000 * ETHER, sender=provider)
    assert info(staking, provider)["unbonding"] == 2_000 * ETHER
    assert info(staking, provider)["release"] == timestamp_of(chain, tx) + UNBONDING


def test_unbond_cannot_take_reserved_stake(token, staking, provider):
    stake_and_register(token, staking, provider, MIN_STAKE + 10, "GPU-r")
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, 11, 10):
        staking.requestUnbond(11, sender=provider)


def test_unbond_of_zero_reverts(staking, provider):
    with reverts(staking.ComputeStakingZeroAmount, provider):
        staking.requestUnbond(0, sender=provider)


def test_withdraw_before_release_reverts(token, staking, provider, chain):
    stake(token, staking, provider, ETHER)
    tx = staking.requestUnbond(ETHER, sender=provider)
    release = timestamp_of(chain, tx) + UNBONDING
    chain.pending_timestamp = release - 1
    with reverts(staking.ComputeStakingStillUnbonding, provider, release, release - 1):
        staking.withdraw(sender=provider)


def test_withdraw_after_release_pays_out(token, staking, provider, chain):
    stake(token, staking, provider, 4 * ETHER)
    staking.requestUnbond(3 * ETHER, sender=provider)
    advance(chain, UNBONDING)
    before = token.balanceOf(provider)
    tx = staking.withdraw(sender=provider)
    assert token.balanceOf(provider) == before + 3 * ETHER
    assert events(tx, staking.Withdrawn) == [{"provider": provider, "amount": 3 * ETHER}]
    assert info(staking, provider)["unbonding"] == 0
    assert info(staking, provider)["release"] == 0
    assert info(staking, provider)["staked"] == ETHER
    assert_backed(token, staking)


def test_withdraw_with_nothing_unbonding_reverts(staking, provider):
    with reverts(staking.ComputeStakingNothingToWithdraw, provider):
        staking.withdraw(sender=provider)


# ---------------------------------------------------------------- collateral locks


def test_lock_reserves_free_stake(token, staking, provider, locker):
    stake(token, staking, provider, 10 * ETHER)
    tx = staking.lockStake(provider, 4 * ETHER, sender=locker)
    assert events(tx, staking.StakeLocked) == [
        {"provider": provider, "locker": locker, "amount": 4 * ETHER, "locked": 4 * ETHER}
    ]
    assert staking.freeStake(provider) == 6 * ETHER
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, 7 * ETHER, 6 * ETHER):
        staking.requestUnbond(7 * ETHER, sender=provider)


def test_lock_beyond_free_stake_reverts(token, staking, provider, locker):
    stake(token, staking, provider, 10 * ETHER)
    with reverts(staking.ComputeStakingInsufficientFreeStake, provider, 11 * ETHER, 10 * ETHER):
        staking.lockStake(provider, 11 * ETHER, sender=locker)


def test_unlock_releases_exactly_and_refuses_more_than_is_locked(token, staking, provider, locker):
    stake(token, staking, provider, 10 * ETHER)
    staking.lockStake(provider, 4 * ETHER, sender=locker)
    tx = staking.unlockStake(provider, 3 * ETHER, sender=locker)
    assert events(tx, staking.StakeUnlocked) == [
        {"provider": provider, "locker": locker, "amount": 3 * ETHER, "locked": ETHER}
    ]
    with reverts(staking.ComputeStakingLockedShort, provider, 5 * ETHER, ETHER):
        staking.unlockStake(provider, 5 * ETHER, sender=locker)
    staking.unlockStake(provider, ETHER, sender=locker)
    assert staking.freeStake(provider) == 10 * ETHER


def test_only_lockers_lock_and_unlock(staking, provider, creator):
    with reverts(staking.ComputeStakingNotLocker, creator):
        staking.lockStake(provider, 1, sender=creator)
    with reverts(staking.ComputeStakingNotLocker, creator):
        staking.unlockStake(provider, 1, sender=creator)


# ---------------------------------------------------------------- slashing


def test_slash_takes_free_then_unbonding_and_never_locked(
    token, staking, provider, locker, creator, requester, chain
):
    stake(token, staking, provider, 10 * ETHER)
    staking.lockStake(provider, 3 * ETHER, sender=locker)
    staking.requestUnbond(4 * ETHER, sender=provider)  # staked 6 (3 locked), unbonding 4
    staking.slash(provider, 2 * ETHER, creator, requester, sender=locker)
    assert info(staking, provider) | {"release": 0} == {
        "staked": 4 * ETHER,
        "locked": 3 * ETHER,
        "unbonding": 4 * ETHER,
        "release": 0,
        "nodes": 0,
    }
    tx = staking.slash(provider, 9 * ETHER, creator, requester, sender=locker)  # 1 free + 4 unbonding
    assert events(tx, staking.Slashed)[0]["slashed"] == 5 * ETHER
    assert (info(staking, provider)["staked"], info(staking, provider)["locked"]) == (3 * ETHER, 3 * ETHER)
    assert info(staking, provider)["unbonding"] == 0
    assert_backed(token, staking)


def test_slash_locked_takes_exactly_the_lock(token, staking, provider, locker, creator, requester):
    stake(token, staking, provider, 10 * ETHER)
    staking.lockStake(provider, 3 * ETHER, sender=locker)
    before = token.balanceOf(requester)
    tx = staking.slashLocked(provider, 2 * ETHER, creator, requester, sender=locker)
    assert events(tx, staking.Slashed)[0]["slashed"] == 2 * ETHER
    assert (info(staking, provider)["staked"], info(staking, provider)["locked"]) == (8 * ETHER, ETHER)
    assert token.balanceOf(requester) - before == 2 * ETHER * staking.harmedShareBps() // 10_000
    with reverts(staking.ComputeStakingLockedShort, provider, 2 * ETHER, ETHER):
        staking.slashLocked(provider, 2 * ETHER, creator, requester, sender=locker)
    assert_backed(token, staking)


def test_slash_locked_is_for_lockers_only(staking, provider, creator):
    with reverts(staking.ComputeStakingNotLocker, creator):
        staking.slashLocked(provider, 1, creator, creator, sender=creator)


def test_a_provider_named_finder_and_harmed_earns_nothing(token, staking, provider, locker, treasury):
    stake(token, staking, provider, 10 * ETHER)
    before = (token.balanceOf(provider), token.balanceOf(treasury))
    tx = staking.slash(provider, 10 * ETHER, provider, provider, sender=locker)
    ev = events(tx, staking.Slashed)[0]
    zero = ape.utils.ZERO_ADDRESS
    assert (ev["finder"], ev["harmed"], ev["treasuryAmount"]) == (zero, zero, 10 * ETHER)
    assert token.balanceOf(provider) == before[0]
    assert token.balanceOf(treasury) - before[1] == 10 * ETHER


def test_a_finder_that_is_the_provider_earns_nothing(token, staking, provider, locker, requester):
    stake(token, staking, provider, 10 * ETHER)
    before = (token.balanceOf(provider), token.balanceOf(requester))
    tx = staking.slash(provider, 10 * ETHER, provider, requester, sender=locker)
    ev = events(tx, staking.Slashed)[0]
    share = 10 * ETHER * (staking.finderShareBps() + staking.harmedShareBps()) // 10_000
    assert ev["finder"] == requester
    assert token.balanceOf(provider) == before[0]
    assert token.balanceOf(requester) - before[1] == share


def test_unbonding_does_not_escape_a_slash(token, staking, provider, locker, chain):
    stake(token, staking, provider, 10 * ETHER)
    staking.requestUnbond(10 * ETHER, sender=provider)
    staking.slash(provider, 4 * ETHER, ape.utils.ZERO_ADDRESS, ape.utils.ZERO_ADDRESS, sender=locker)
    advance(chain, UNBONDING)
    before = token.balanceOf(provider)
    staking.withdraw(sender=provider)
    assert token.balanceOf(provider) == before + 6 * ETHER


def test_slash_splits_between_finder_harmed_and_treasury(
    token, staking, provider, locker, creator, requester, treasury
):
    stake(token, staking, provider, 10 * ETHER)
    balances = {a: token.balanceOf(a) for a in (creator, requester, treasury)}
    tx = staking.slash(provider, 10 * ETHER, creator, requester, sender=locker)
    finder, harmed = ETHER, 5 * ETHER  # 10% and 50% (CORE_PARAMS)
    assert token.balanceOf(creator) == balances[creator] + finder
    assert token.balanceOf(requester) == balances[requester] + harmed
    assert token.balanceOf(treasury) == balances[treasury] + 4 * ETHER
    assert events(tx, staking.Slashed) == [
        {
            "provider": provider,
            "slasher": locker,
            "requested": 10 * ETHER,
            "slashed": 10 * ETHER,
            "finder": creator,
            "finderAmount": finder,
            "harmed": requester,
            "harmedAmount": harmed,
            "treasuryAmount": 4 * ETHER,
        }
    ]
    assert_backed(token, staking)


def test_slash_shares_of_missing_parties_go_to_the_treasury(token, staking, provider, locker, treasury):
    stake(token, staking, provider, 10 * ETHER)
    before = token.balanceOf(treasury)
    staking.slash(provider, 3 * ETHER, ape.utils.ZERO_ADDRESS, ape.utils.ZERO_ADDRESS, sender=locker)
    assert token.balanceOf(treasury) == before + 3 * ETHER


def test_slash_beyond_the_stake_takes_what_there_is(token, staking, provider, locker):
    stake(token, staking, provider, 2 * ETHER)
    tx = staking.slash(provider, 5 * ETHER, ape.utils.ZERO_ADDRESS, ape.utils.ZERO_ADDRESS, sender=locker)
    assert events(tx, staking.Slashed)[0]["slashed"] == 2 * ETHER
    assert tx.return_value == 2 * ETHER
    assert staking.freeStake(provider) == 0


def test_governance_may_slash_without_being_a_slasher(token, staking, provider, deployer):
    stake(token, staking, provider, 2 * ETHER)
    staking.slash(provider, ETHER, ape.utils.ZERO_ADDRESS, ape.utils.ZERO_ADDRESS, sender=deployer)
    assert info(staking, provider)["staked"] == ETHER


def test_only_slashers_or_governance_slash(staking, provider, creator):
    with reverts(staking.ComputeStakingNotSlasher, creator):
        staking.slash(provider, 1, creator, creator, sender=creator)


def test_slash_of_zero_reverts(staking, provider, locker):
    with reverts(staking.ComputeStakingZeroAmount, provider):
        staking.slash(provider, 0, locker, locker, sender=locker)


# ---------------------------------------------------------------- governance


def test_min_stake_setter_is_bounded_and_emits(staking, deployer):
    tx = staking.setMinStakePerGpu(5 * ETHER, sender=deployer)
    assert events(tx, staking.MinStakePerGpuSet) == [{"oldValue": MIN_STAKE, "newValue": 5 * ETHER}]
    too_much = staking.MAX_MIN_STAKE_PER_GPU() + 1
    with reverts(staking.ComputeStakingValueOutOfBounds, "minStakePerGpu", too_much, 0, too_much - 1):
        staking.setMinStakePerGpu(too_much, sender=deployer)


def test_unbonding_period_setter_is_bounded_and_emits(staking, deployer):
    tx = staking.setUnbondingPeriod(2 * 3600, sender=deployer)
    assert events(tx, staking.UnbondingPeriodSet) == [{"oldValue": UNBONDING, "newValue": 2 * 3600}]
    with reverts(staking.ComputeStakingValueOutOfBounds, "unbondingPeriod", 3599, 3600, 90 * 86400):
        staking.setUnbondingPeriod(3599, sender=deployer)
    with reverts(staking.ComputeStakingValueOutOfBounds, "unbondingPeriod", 90 * 86400 + 1, 3600, 90 * 86400):
        staking.setUnbondingPeriod(90 * 86400 + 1, sender=deployer)


def test_slash_shares_setter_is_bounded_and_emits(staking, deployer):
    tx = staking.setSlashShares(2_000, 8_000, sender=deployer)
    assert events(tx, staking.SlashSharesSet) == [{"finderShareBps": 2_000, "harmedShareBps": 8_000}]
    with reverts(staking.ComputeStakingValueOutOfBounds, "finderShareBps", 5_001, 0, 5_000):
        staking.setSlashShares(5_001, 0, sender=deployer)
    with reverts(staking.ComputeStakingValueOutOfBounds, "harmedShareBps", 8_001, 0, 8_000):
        staking.setSlashShares(2_000, 8_001, sender=deployer)


def test_treasury_setter_rejects_zero_and_emits(staking, deployer, treasury, creator):
    tx = staking.setTreasury(creator, sender=deployer)
    assert events(tx, staking.TreasurySet) == [{"oldTreasury": treasury, "newTreasury": creator}]
    with reverts(staking.ComputeStakingZeroAddress, "treasury"):
        staking.setTreasury(ape.utils.ZERO_ADDRESS, sender=deployer)


def test_locker_and_slasher_setters_emit_and_reject_zero(staking, deployer, creator):
    tx = staking.setLocker(creator, True, sender=deployer)
    assert events(tx, staking.LockerSet) == [{"account": creator, "allowed": True}]
    tx = staking.setSlasher(creator, True, sender=deployer)
    assert events(tx, staking.SlasherSet) == [{"account": creator, "allowed": True}]
    assert staking.isLocker(creator) and staking.isSlasher(creator)
    staking.setLocker(creator, False, sender=deployer)
    assert not staking.isLocker(creator)
    with reverts(staking.ComputeStakingZeroAddress, "locker"):
        staking.setLocker(ape.utils.ZERO_ADDRESS, True, sender=deployer)
    with reverts(staking.ComputeStakingZeroAddress, "slasher"):
        staking.setSlasher(ape.utils.ZERO_ADDRESS, True, sender=deployer)


@pytest.mark.parametrize(
    "call",
    [
        ("setMinStakePerGpu", 1),
        ("setUnbondingPeriod", 3600),
        ("setSlashShares", 0, 0),
        ("setTreasury", "self"),
        ("setLocker", "self", True),
        ("setSlasher", "self", True),
    ],
)
def test_governance_setters_are_owner_only(staking, creator, call):
    name, *args = call
    args = [creator if a == "self" else a for a in args]
    with reverts(staking.OwnableUnauthorizedAccount, creator):
        getattr(staking, name)(*args, sender=creator)


def test_ownership_moves_in_two_steps(staking, deployer, creator):
    staking.transferOwnership(creator, sender=deployer)
    assert staking.owner() == deployer
    staking.acceptOwnership(sender=creator)
    assert staking.owner() == creator
