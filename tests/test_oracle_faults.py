"""Faults around the oracle, broken on purpose, with the real validator daemon code (in process),
real provider servers (oracle.provider.server, with their misbehaviour modes) and the real chain.

After each fault: no attestation lost, none posted twice, no provider slashed who did not fail,
and the failure reported clearly (log records, metrics, journal notes).

How the faults are made:
- RPC endpoint down and back: a small TCP proxy (``RpcProxy``) sits between the leader and anvil
  and is stopped (listener and live connections closed) and restarted on the same port.
- anvil restarted mid-epoch: the ape-managed anvil cannot be restarted inside a test session, so
  the equivalent is used: the RPC goes away (proxy stopped), the chain is rolled back to a snapshot
  taken at the start of the epoch (what a node restarted from older persisted state serves: the
  blocks and the mempool since are gone), and the RPC comes back.
- a validator killed at every stage of an epoch: an injected crash hook raises ``Crash`` (a
  BaseException, so no handler in the daemon catches it) at each journal transition / around the
  send; the validator object is then thrown away and a new one is built on the same journal, as a
  restarted process would be (test_validator_crash.py does the same with a real SIGKILL).
- a provider answering garbage, late or not at all: ``ProviderServer(behaviour=...)``.
- a clock skewed past expiry: the chain's clock jumps past the attestations' expiry between signing
  and posting.
- a reorg: anvil snapshot before posting, revert after.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import pytest
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import BlockNotFound

from oracle.inventory import synthetic_uuid
from oracle.journal import Journal
from oracle.provider import server
from oracle.validator.config import ValidatorConfig
from oracle.validator.daemon import Validator
from oracle.validator.prober import ChallengeProber
from tests.support.oracle import STAKE, deploy_with_registry, node_id, register_node

BENCH = {
    "tflops": {"fp32": 2e-5, "tf32": 2e-5, "fp16": 1e-5, "bf16": 1e-5},  # sized to this CPU
    "mem_bandwidth_gbps": 20,
    "power_w": 65,
}
HONEST = 3
OTHER_GPU = {
    "index": 0,
    "name": "NVIDIA H100 80GB HBM3",
    "uuid": synthetic_uuid("a card registered by nobody"),
}


class Crash(BaseException):
    """Stands in for the process dying at that exact point (nothing in the daemon catches it)."""


# ------------------------------------------------------------------------------------------
# A TCP proxy in front of anvil that can be taken down and brought back
# ------------------------------------------------------------------------------------------


class RpcProxy:
    """Forwards 127.0.0.1:<port> to the RPC's host:port. ``stop()`` closes the listener AND every
    live connection (keep-alive sessions included), so the client really sees the endpoint gone."""

    def __init__(self, upstream_uri: str):
        hostport = upstream_uri.split("//", 1)[1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        self.upstream = (host, int(port))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.outages = 0

    def start(self) -> RpcProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            self.outages += 1
            listener.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


# ------------------------------------------------------------------------------------------
# Fixtures: 3 validators (k = 2), honest and wrong provider servers, one provider account each
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(accounts, tmp_path_factory):
    from scripts.deployment_file import write_deployment

    owner = accounts[0]
    oracles = sorted(
        (Account.from_key(accounts[i].private_key) for i in (5, 6, 7)), key=lambda a: int(a.address, 16)
    )
    contracts = deploy_with_registry(owner, accounts[9], [a.address for a in oracles], 2)
    servers = [
        server.ProviderServer(behaviour=b, inventory_fn=lambda: {"benchmark": BENCH}).start()
        for b in ["honest"] * HONEST + ["wrong"]
    ]
    providers = [accounts[i] for i in (1, 2, 3, 4)]
    nodes = []
    for i, (srv, prov) in enumerate(zip(servers, providers, strict=True)):
        nid = node_id(f"fault-node-{i}")
        register_node(contracts, owner, prov, f"fault-node-{i}", uri=srv.url)
        nodes.append(nid)
    dep = write_deployment(contracts, tmp_path_factory.mktemp("faults") / "deployment.json", 0)
    yield {
        "contracts": contracts,
        "oracles": oracles,  # ascending: oracles[0] leads
        "honest": nodes[:HONEST],
        "wrong": nodes[HONEST],
        "providers": [p.address for p in providers],
        "deployment": str(dep),
        "accounts": accounts,
        "owner": owner,
    }
    for s in servers:
        s.stop()


@pytest.fixture
def net(deployed, chain, networks, tmp_path):
    vals: list[Validator] = []
    n = {
        **deployed,
        "uri": networks.provider.uri,
        "genesis": chain.pending_timestamp - 10,
        "tmp": tmp_path,
        "w3": networks.provider.web3,
        "chain": chain,
        "vals": vals,
    }
    yield n
    for v in vals:
        with contextlib.suppress(Exception):  # already stopped by the test
            v.stop()


def validator(net, idx: int, rpc=None, port: int = 0, prober_timeout: float = 1.0, **overrides) -> Validator:
    settings = {"collect_timeout": 15, "failover_s": 60, "poll_s": 0.05, **overrides}
    cfg = ValidatorConfig(
        deployment_path=net["deployment"],
        rpc=rpc or net["uri"],
        account=net["oracles"][idx],
        journal_path=str(net["tmp"] / f"journal-{idx}.sqlite"),
        genesis=net["genesis"],
        listen_port=port,
        **settings,
    )
    v = Validator(
        cfg, ChallengeProber(n=16, samples=4, timeout=prober_timeout, target_s=0.2, allowance_s=1.0)
    )
    v.start()
    net["vals"].append(v)
    return v


def followers_sign(net, epoch: int = 1, **kw) -> list[Validator]:
    """Validators 1 and 2 challenge and sign (alone they cannot reach k = 2, so they post nothing)
    and keep serving their signatures to the leader."""
    followers = [validator(net, i, collect_timeout=0.2, **kw) for i in (1, 2)]
    threads = [threading.Thread(target=v.run_epoch, args=(epoch,)) for v in followers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return followers


def leader(net, followers, **kw) -> Validator:
    v = validator(net, 0, **kw)
    v.cfg.peers = [f.url for f in followers]
    return v


def _canonical_topics(net, contract, event_name: str, topic: int) -> list[bytes]:
    """One indexed argument (topic `topic`) of every `event_name` log in the blocks of the chain
    now, read block by block from their transactions' receipts (each transaction once), never
    from the node's log index; a block number anvil names but cannot return is skipped.

    After the snapshot revert anvil's own indexes can keep what the revert removed: full-suite runs
    saw one node's epoch-1 attestation twice in `eth_getLogs` (dropping logs of blocks that are no
    longer canonical and repeated (transaction, log index) pairs did not help), and once
    `eth_blockNumber` named a block that `eth_getBlockByNumber` did not have, and once the latest
    block's parent hash named a block anvil no longer had. The registry (epochs strictly increasing) cannot have accepted an
    attestation twice on it."""
    w3 = net["w3"]
    address = HexBytes(contract.address)
    signature = HexBytes(keccak(text=getattr(contract, event_name).abi.selector))
    found, seen = [], set()
    for number in range(w3.eth.get_block("latest")["number"] + 1):
        try:
            block = w3.eth.get_block(number)
        except BlockNotFound:  # a number anvil names but no longer holds after the revert
            continue
        for tx_hash in block["transactions"]:
            if bytes(tx_hash) in seen:  # a transaction is in one block of one chain
                continue
            seen.add(bytes(tx_hash))
            for log in w3.eth.get_transaction_receipt(tx_hash)["logs"]:
                if HexBytes(log["address"]) == address and HexBytes(log["topics"][0]) == signature:
                    found.append(bytes(HexBytes(log["topics"][topic])))
    return found


def records(net) -> list[bytes]:
    reg = net["contracts"]["AttestationRegistry"]
    return _canonical_topics(net, reg, "AttestationRecorded", 1)


def faults(net) -> list[bytes]:
    reg = net["contracts"]["AttestationRegistry"]
    return _canonical_topics(net, reg, "FaultReported", 2)


def assert_epoch_outcome(net, attested=None, faulted=None) -> None:
    """Every honest node attested exactly once, the wrong one faulted exactly once, and only the
    failing provider lost stake."""
    attested = list(net["honest"]) if attested is None else attested
    faulted = [net["wrong"]] if faulted is None else faulted
    assert sorted(records(net)) == sorted(attested), "an attestation was lost or posted twice"
    assert sorted(faults(net)) == sorted(faulted), "a fault was lost or reported twice"
    staking = net["contracts"]["ComputeStaking"]
    slashed = {_addr(log.event_arguments["provider"]) for log in staking.Slashed.range(0, 100_000)}
    failing = {net["providers"][HONEST]} if faulted else set()
    assert slashed == failing, f"slashed {slashed}, only {failing} failed"
    for p in net["providers"][:HONEST]:
        assert staking.providerInfo(p)[0] == STAKE


def assert_epoch_state(net, epoch: int) -> None:
    """:func:`assert_epoch_outcome` read from the contracts' state, for a chain that went back to a
    snapshot: there anvil's log, block and receipt indexes keep pieces of the removed blocks (full
    runs saw an attestation counted twice by each way of reading them that was tried), while the
    state is exact. Every honest node holds this epoch's attestation, the wrong one none; the
    failing provider alone lost stake, and the registry takes one attestation per node and epoch."""
    reg, staking = net["contracts"]["AttestationRegistry"], net["contracts"]["ComputeStaking"]
    assert [reg.recordOf(n).epoch for n in net["honest"]] == [epoch] * HONEST, "an attestation was lost"
    assert reg.recordOf(net["wrong"]).epoch == 0
    for p in net["providers"][:HONEST]:
        assert staking.providerInfo(p)[0] == STAKE
    slashed = STAKE - staking.providerInfo(net["providers"][HONEST])[0]
    assert slashed == ValidatorConfig.slash_amount, f"the failing provider lost {slashed}: one fault, not two"


def _addr(value) -> str:
    """An event's address argument as a checksummed string (Ape may give an account object)."""
    return str(getattr(value, "address", value))


def sent_by(net, address: str, since: int) -> int:
    return net["w3"].eth.get_transaction_count(address) - since


# ------------------------------------------------------------------------------------------
# Providers answering garbage, late, not at all, or down
# ------------------------------------------------------------------------------------------


def test_garbage_late_silent_providers_are_faulted_and_a_down_one_is_not(net, accounts):
    extra = {
        "garbage": server.ProviderServer(behaviour="garbage", inventory_fn=lambda: {"benchmark": BENCH}),
        "slow": server.ProviderServer(behaviour="slow", inventory_fn=lambda: {"benchmark": BENCH}),
        "silent": server.ProviderServer(
            behaviour="silent", inventory_fn=lambda: {"benchmark": BENCH}, silent_s=4
        ),
        # an honest server, but its inventory's GPU is not the one registered (another card's UUID)
        "other-gpu": server.ProviderServer(inventory_fn=lambda: {"benchmark": BENCH, "gpus": [OTHER_GPU]}),
    }
    for s in extra.values():
        s.start()
    down = server.ProviderServer(inventory_fn=lambda: {"benchmark": BENCH}).start()
    down_url = down.url
    down.stop()  # registered, then gone: unreachable, which is not a proven fault
    bad_provider = accounts[4]  # the same account as the wrong node: only it may be slashed
    nodes = {}
    try:
        for name, s in extra.items():
            nodes[name] = node_id(f"fault-{name}")
            register_node(net["contracts"], net["owner"], bad_provider, f"fault-{name}", uri=s.url)
        nodes["down"] = node_id("fault-down")
        register_node(net["contracts"], net["owner"], accounts[1], "fault-down", uri=down_url)
        # 3.5 s > the 1.25 s deadline + 1 s grace: the slow answer arrives, late; the silent one never does
        followers = followers_sign(net, prober_timeout=3.5)
        lead = leader(net, followers, prober_timeout=3.5)
        summary = lead.run_epoch(1)
    finally:
        for s in extra.values():
            s.stop()
    staking = net["contracts"]["ComputeStaking"]
    assert sorted(records(net)) == sorted(net["honest"])
    failed = [net["wrong"], nodes["garbage"], nodes["slow"], nodes["silent"], nodes["other-gpu"]]
    assert sorted(faults(net)) == sorted(failed)
    slashed = [_addr(log.event_arguments["provider"]) for log in staking.Slashed.range(0, 100_000)]
    assert set(slashed) == {bad_provider.address} and len(slashed) == 5
    assert summary["faults"] == 5 and summary["confirmed"] == HONEST + 5
    m = lead.metrics.challenges
    assert (m.labels("ok")._value.get(), m.labels("failed")._value.get()) == (HONEST, 5)
    assert m.labels("unreachable")._value.get() == 1
    # the reason of each verdict is journaled, readable
    j = Journal(net["tmp"] / "journal-0.sqlite")
    notes = {e.node: e.note for e in j.entries(1, kind="attest")}  # the verdict notes
    j.close()
    key = {name: "0x" + nid.hex() for name, nid in nodes.items()}
    assert notes[key["garbage"]].startswith("failed: fp32: bad answer")
    assert notes[key["slow"]].startswith("failed: fp32: late"), notes[key["slow"]]
    assert notes[key["silent"]].startswith("failed: fp32: no answer")
    assert notes[key["down"]].startswith("unreachable")
    assert notes[key["other-gpu"]].startswith(
        f"failed: its inventory lists 1 GPU(s) ({OTHER_GPU['uuid']}) and none has a UUID whose keccak256 "
        f"is the node id {key['other-gpu']}"
    ), notes[key["other-gpu"]]


# ------------------------------------------------------------------------------------------
# RPC endpoint down and back
# ------------------------------------------------------------------------------------------


def test_rpc_down_mid_post_and_back_posts_everything_once(net, caplog):
    proxy = RpcProxy(net["uri"]).start()
    try:
        followers = followers_sign(net)
        lead = leader(net, followers, rpc=proxy.url)
        send = lead.chain.w3.eth.send_raw_transaction
        calls = []

        def send_then_cut(raw):
            tx_hash = send(raw)
            calls.append(tx_hash)
            if len(calls) == 2:  # the RPC dies with the second post in flight, back 1.5 s later
                proxy.stop()
                threading.Timer(1.5, proxy.start).start()
            return tx_hash

        lead.chain.w3.eth.send_raw_transaction = send_then_cut
        nonce0 = net["w3"].eth.get_transaction_count(lead.address)
        with caplog.at_level(logging.WARNING, logger="oracle.chain"):
            summary = lead.run_epoch(1)
        assert proxy.outages == 1
        assert_epoch_outcome(net)
        assert sent_by(net, lead.address, nonce0) == HONEST + 1  # nothing sent twice
        assert summary["confirmed"] == HONEST + 1
        retries = [
            r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "rpc_retry"
        ]
        assert retries and retries[0]["what"].startswith("receipt of AttestationRegistry.")
    finally:
        proxy.stop()


def test_rpc_down_longer_than_the_retries_fails_the_epoch_clearly_then_recovers(net, caplog):
    proxy = RpcProxy(net["uri"]).start()
    try:
        followers = followers_sign(net)
        lead = leader(net, followers, rpc=proxy.url)
        lead.chain.retries, lead.chain.base_delay = 2, 0.05
        proxy.stop()
        with caplog.at_level(logging.ERROR):
            lead.run(once=True)
        failed = [
            r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "epoch_failed"
        ]
        assert len(failed) == 1 and "RPC unreachable after 3 attempts" in failed[0]["error"]
        assert "check the RPC URL and node" in failed[0]["error"]
        assert lead.metrics.errors.labels("epoch")._value.get() == 1
        assert records(net) == [] and faults(net) == []
        proxy.start()
        lead.run(once=True)
        assert_epoch_outcome(net)
    finally:
        proxy.stop()


# ------------------------------------------------------------------------------------------
# A validator killed at every stage of an epoch
# ------------------------------------------------------------------------------------------

STAGES = ["challenged", "verdict", "signed", "submitted", "sent", "receipt", "confirmed"]


def arm_crash(v: Validator, stage: str) -> None:
    """Make `v` die at `stage` of the first node that reaches it."""
    journal = v.journal
    advance = journal.advance
    fired = threading.Event()

    def hooked(epoch, node, state, **kw):
        if stage == "receipt" and state == "confirmed" and not fired.is_set():
            fired.set()
            raise Crash("after the receipt, before it was journaled")
        entry = advance(epoch, node, state, **kw)
        if state == stage and not fired.is_set():
            fired.set()
            raise Crash(f"right after journaling {stage}")
        return entry

    journal.advance = hooked
    if stage == "sent":
        send = v.chain.w3.eth.send_raw_transaction

        def send_then_die(raw):
            send(raw)
            raise Crash("after sending, before the receipt")

        v.chain.w3.eth.send_raw_transaction = send_then_die


@pytest.mark.parametrize("stage", STAGES)
def test_validator_killed_at_each_stage_resumes_without_loss_or_double_post(net, stage):
    followers = followers_sign(net)
    first = leader(net, followers)
    nonce0 = net["w3"].eth.get_transaction_count(first.address)
    arm_crash(first, stage)
    with pytest.raises(Crash):
        first.run_epoch(1)
    first.stop()  # the process is gone; its journal stays on disk
    net["vals"].remove(first)
    restarted = leader(net, followers)
    summary = restarted.run_epoch(1)
    assert_epoch_outcome(net)
    assert sent_by(net, restarted.address, nonce0) == HONEST + 1, "a post was sent twice"
    assert summary["confirmed"] == HONEST + 1
    j = Journal(net["tmp"] / "journal-0.sqlite")
    assert all(e.state == "confirmed" for e in j.entries(1, min_state="signed"))
    j.close()


# ------------------------------------------------------------------------------------------
# Clock skewed past expiry
# ------------------------------------------------------------------------------------------


def test_attestation_expired_before_posting_is_rejected_once_not_retried_forever(net, caplog):
    followers = followers_sign(net)
    lead = leader(net, followers, collect_timeout=10)
    expiry = lead.expiry_of(1)
    chain = net["chain"]
    chain.pending_timestamp = expiry + 60  # the clock is now past every attestation's expiry
    chain.mine()
    t0 = time.monotonic()
    with caplog.at_level(logging.ERROR):
        summary = lead.run_epoch(1)
    elapsed = time.monotonic() - t0
    assert records(net) == []  # nothing expired is recorded
    assert faults(net) == [net["wrong"]]  # faults do not expire: still reported once
    failures = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "post_failed"
    ]
    assert len(failures) == HONEST, "each expired attestation is tried exactly once"
    assert all("AttestationRegistryExpired(expiry=" in f["error"] for f in failures)
    assert lead.metrics.errors.labels("post")._value.get() == HONEST
    assert elapsed < 10, "the validator must give up at once, not retry until the timeout"
    assert summary["confirmed"] == 1  # the fault


# ------------------------------------------------------------------------------------------
# Reorg and anvil restart (rolled-back posts are re-posted exactly once)
# ------------------------------------------------------------------------------------------


def test_reorg_rolls_back_the_posts_and_each_is_reposted_exactly_once(net):
    chain = net["chain"]
    followers = followers_sign(net)
    lead = leader(net, followers)
    snapshot = chain.snapshot()
    lead.run_epoch(1)
    assert_epoch_outcome(net)
    chain.restore(snapshot)  # the blocks holding the posts are gone
    assert records(net) == [] and faults(net) == []
    nonce0 = net["w3"].eth.get_transaction_count(lead.address)
    summary = lead.run_epoch(1)
    assert_epoch_outcome(net)
    assert sent_by(net, lead.address, nonce0) == HONEST + 1
    assert summary["confirmed"] == HONEST + 1
    again = lead.run_epoch(1)  # nothing left to do: no third post
    assert sent_by(net, lead.address, nonce0) == HONEST + 1 and again["confirmed"] == HONEST + 1


def test_anvil_restart_mid_epoch_loses_recent_blocks_and_the_validator_reposts(net, caplog):
    chain = net["chain"]
    proxy = RpcProxy(net["uri"]).start()
    try:
        followers = followers_sign(net)
        lead = leader(net, followers, rpc=proxy.url)
        lead.chain.receipt_timeout = 2
        snapshot = chain.snapshot()
        send = lead.chain.w3.eth.send_raw_transaction
        sent = []

        def restart_after_second_post(raw):
            tx_hash = send(raw)
            sent.append(tx_hash)
            if len(sent) == 2:  # the node goes down and comes back from older state
                proxy.stop()
                chain.restore(snapshot)
                threading.Timer(1.0, proxy.start).start()
            return tx_hash

        lead.chain.w3.eth.send_raw_transaction = restart_after_second_post
        with caplog.at_level(logging.WARNING):
            lead.run_epoch(1)
            lead.run_epoch(1)  # `oracle run` after the node restart: rolled-back posts are redone
        assert_epoch_state(net, 1)
        assert proxy.outages == 1
        events = [r.msg.get("event") for r in caplog.records if isinstance(r.msg, dict)]
        assert "rpc_retry" in events and "rolled_back" in events
    finally:
        proxy.stop()


def test_journal_reopen_moves_only_posted_entries_back_to_signed(tmp_path):
    from oracle.journal import JournalError

    j = Journal(tmp_path / "j.sqlite")
    node = "0x" + "ab" * 32
    j.advance(1, node, "challenged")
    with pytest.raises(JournalError, match="only submitted or confirmed entries can be reopened"):
        j.reopen(1, node, "attest", note="reorg")
    j.advance(1, node, "signed", payload={"a": 1}, signature="0x01")
    j.advance(1, node, "confirmed", tx_hash="0xfeed")
    e = j.reopen(1, node, "attest", note="rolled back")
    assert (e.state, e.tx_hash, e.payload, e.signature, e.note) == (
        "signed",
        None,
        {"a": 1},
        "0x01",
        "rolled back",
    )
    with pytest.raises(JournalError, match="refusing to sign twice"):
        j.advance(1, node, "signed", payload={"a": 2})
    j.close()
