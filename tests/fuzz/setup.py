"""Builds the fuzzer's world once per module: the governed deployment, funded actors with standing
approvals, three staked providers with a node each, and four base jobs (one per lifecycle state)."""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

from oracle.attest import Domain
from scripts._signing import evidence_hash
from scripts.deploy_dao import DAO_DEVNET, deploy_governed_protocol
from tests.fuzz.model import Job, Model, Prov
from tests.fuzz.params import (
    BASE_STAKE,
    BPS,
    DISPUTE_ITEMS,
    DISPUTE_TIMEOUT,
    ETHER,
    FUNDING,
    FUZZ_PARAMS,
    GPU_MODEL,
    NODES,
    RESULT_HASH,
    UUIDS,
)
from tests.fuzz.world import World, impersonate
from tests.support.oracle import ORACLES


def mine(w: World, tx_hash) -> dict:
    """Wait for `tx_hash`'s receipt: anvil mines each transaction right after answering
    eth_sendTransaction, and on a busy machine the next call could otherwise see the state before it."""
    receipt = w.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
    assert receipt["status"] == 1, f"set-up transaction {tx_hash.hex()} reverted"
    return receipt


def build_world(accounts, networks, chain) -> World:
    """The governed protocol, funded actors with standing approvals, the base model. Built eagerly
    at module scope (outside any per-example snapshot)."""
    deployer = accounts[0]
    arbiter = to_checksum_address(keccak(text="fuzz-arbiter")[:20])
    params = {
        **DAO_DEVNET,
        **FUZZ_PARAMS,
        "oracles": [to_checksum_address(o) for o in ORACLES[:3]],
        "arbiters": [arbiter],
    }
    contracts = deploy_governed_protocol(deployer, params)
    w3 = networks.provider.web3
    actors = {
        "deployer": deployer.address,
        "providers": [accounts[i].address for i in (1, 2, 3)],
        "requesters": [accounts[i].address for i in (4, 5)],
        "holders": [accounts[i].address for i in (6, 7, 8)],  # creators 6, 7; buyer 8
        "outsider": accounts[9].address,
        "arbiter": arbiter,
    }
    w = World(contracts, w3, actors, params)
    impersonate(w, arbiter)
    impersonate(w, w.addr["ComputeGovernor"])
    token = w.c["ComputeToken"].functions
    everyone = actors["providers"] + actors["requesters"] + actors["holders"] + [actors["outsider"], arbiter]
    max_uint = 2**256 - 1
    for who in everyone:
        mine(w, token.transfer(who, FUNDING).transact({"from": deployer.address}))
    mine(w, token.delegate(deployer.address).transact({"from": deployer.address}))
    for p in actors["providers"]:
        mine(w, token.approve(w.addr["ComputeStaking"], max_uint).transact({"from": p}))
    for r in actors["requesters"]:
        mine(w, token.approve(w.addr["JobEscrow"], max_uint).transact({"from": r}))
    for h in actors["holders"]:
        mine(w, token.approve(w.addr["ModelMarketplace"], max_uint).transact({"from": h}))
        mine(
            w,
            w.c["ModelNFT"]
            .functions.setApprovalForAll(w.addr["ModelMarketplace"], True)
            .transact({"from": h}),
        )
    # Base state: every provider has staked BASE_STAKE and registered one node (NODES[i]).
    providers = {p: Prov(p) for p in actors["providers"]}
    node_owner = {}
    for i, p in enumerate(actors["providers"]):
        mine(w, w.c["ComputeStaking"].functions.stake(BASE_STAKE).transact({"from": p}))
        mine(
            w,
            w.c["ComputeStaking"]
            .functions.registerNode(UUIDS[i], GPU_MODEL, 81_559, "")
            .transact({"from": p}),
        )
        providers[p].staked = BASE_STAKE
        providers[p].nodes.add(NODES[i])
        node_owner[NODES[i]] = p
    jobs = base_jobs(w, providers)
    chain.mine()
    balances = {a: token.balanceOf(a).call() for a in w.tracked}
    w.base = Model(
        now=w.latest_timestamp(), balances=balances, providers=providers, node_owner=node_owner, jobs=jobs
    )
    w.domain = Domain(w3.eth.chain_id, w.addr["AttestationRegistry"])
    w.privileged = privileged_calls(w)
    return w


def base_jobs(w: World, providers: dict[str, Prov]) -> dict[int, Job]:
    """Jobs every sequence starts with, one per lifecycle state (open, accepted, submitted,
    disputed), so that short sequences reach settlement, disputes and governance resolution."""
    escrow = w.c["JobEscrow"].functions
    requesters, provs = w.actors["requesters"], w.actors["providers"]
    jobs: dict[int, Job] = {}

    def mined_at(tx_hash) -> int:
        return int(w.w3.eth.get_block(mine(w, tx_hash)["blockNumber"])["timestamp"])

    for jid, state in enumerate(["open", "accepted", "submitted", "disputed"], start=1):
        requester, budget = requesters[jid % 2], jid * 1_000 * ETHER
        deadline = w.latest_timestamp() + 2 * 86_400
        mine(w, escrow.postJob(budget, deadline, 0, 0, b"\x01" * 32).transact({"from": requester}))
        job = Job(requester, budget, deadline, 0, 0, budget * w.params["collateral_bps"] // BPS)
        if state != "open":
            p = provs[jid - 2]
            mine(w, escrow.acceptJob(jid, NODES[jid - 2], b"").transact({"from": p}))
            job.provider, job.state = p, "accepted"
            providers[p].locked += job.collateral
        if state in ("submitted", "disputed"):
            t = mined_at(escrow.submitResult(jid, RESULT_HASH).transact({"from": job.provider}))
            job.state, job.end = "submitted", t + w.params["challenge_window"]
        if state == "disputed":
            items = DISPUTE_ITEMS[1]
            t = mined_at(escrow.dispute(jid, RESULT_HASH, items).transact({"from": requester}))
            job.state, job.end = "disputed", t + DISPUTE_TIMEOUT
            job.bond, job.evidence = w.params["dispute_bond"], evidence_hash(items)
        jobs[jid] = job
    return jobs


def privileged_calls(w: World) -> list[tuple[str, str, tuple, str, bool]]:
    """(contract, function, args, expected error, may the governor send it) for the sampled
    "no admin power outside the timelock" check. `args` may use the sender placeholder "$"."""
    role = w.c["Treasury"].functions
    proposer, executor, admin = (
        role.PROPOSER_ROLE().call(),
        role.EXECUTOR_ROLE().call(),
        role.DEFAULT_ADMIN_ROLE().call(),
    )
    p0 = w.actors["providers"][0]
    own = "OwnableUnauthorizedAccount"
    calls = [
        ("ComputeStaking", "setMinStakePerGpu", (0,), own, True),
        ("ComputeStaking", "setTreasury", ("$",), own, True),
        ("ComputeStaking", "setSlasher", ("$", True), own, True),
        ("ComputeStaking", "setLocker", ("$", True), own, True),
        ("ComputeStaking", "slash", (p0, 1, "$", "$"), "ComputeStakingNotSlasher", True),
        ("ComputeStaking", "lockStake", (p0, 1), "ComputeStakingNotLocker", True),
        ("JobEscrow", "setFeeBps", (0,), own, True),
        ("JobEscrow", "setDisputeBond", (0,), own, True),
        ("JobEscrow", "setTreasury", ("$",), own, True),
        ("JobEscrow", "setArbiter", ("$", True), own, True),
        ("JobEscrow", "setScoreOracle", ("$",), own, True),
        ("ModelNFT", "setMaxRoyaltyBps", (5_000,), own, True),
        ("AttestationRegistry", "addOracle", ("$",), own, True),
        ("AttestationRegistry", "setThreshold", (1,), own, True),
        ("ModelMarketplace", "setFeeBps", (0,), own, True),
        ("ModelMarketplace", "setTreasury", ("$",), own, True),
        ("ComputeStaking", "transferOwnership", ("$",), own, True),
        ("JobEscrow", "transferOwnership", ("$",), own, True),
        ("Treasury", "updateDelay", (0,), "TimelockUnauthorizedCaller", True),
        ("Treasury", "grantRole", (proposer, "$"), "AccessControlUnauthorizedAccount", True),
        ("Treasury", "grantRole", (admin, "$"), "AccessControlUnauthorizedAccount", True),
        (
            "Treasury",
            "schedule",
            (p0, 0, b"", b"\0" * 32, b"\0" * 32, 10),
            "AccessControlUnauthorizedAccount",
            False,
        ),
        (
            "Treasury",
            "execute",
            (p0, 0, b"", b"\0" * 32, b"\0" * 32),
            "AccessControlUnauthorizedAccount",
            False,
        ),
        ("ComputeGovernor", "setVotingDelay", (0,), "GovernorOnlyExecutor", True),
        ("ComputeGovernor", "setProposalThreshold", (0,), "GovernorOnlyExecutor", True),
    ]
    del executor
    return calls
