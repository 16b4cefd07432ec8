"""oracle.chain: deployment file, calls, transactions with decoded custom errors, nonces, retries."""

import json

import pytest
from eth_account import Account
from web3 import Web3

from oracle.attest import Domain
from oracle.chain import ChainClient, ContractRevert, ErrorDecoder, TransportError, with_retries
from oracle.deployment import Deployment, DeploymentError, load_deployment
from tests.support.oracle import (
    ORACLES,
    deploy_with_registry,
    make_attestation,
    node_id,
    quorum_sigs,
    register_node,
)

NODE = node_id("chain-node")


@pytest.fixture(scope="module")
def setup(accounts, chain, tmp_path_factory):
    from scripts.deployment_file import write_deployment

    owner, provider = accounts[0], accounts[3]
    contracts = deploy_with_registry(owner, accounts[1], ORACLES[:3], 2)
    register_node(contracts, owner, provider, "chain-node", uri="http://127.0.0.1:1")
    path = write_deployment(contracts, tmp_path_factory.mktemp("dep") / "deployment.json", 0)
    return path, contracts, provider


@pytest.fixture
def client(setup, accounts, networks):
    path, _, _ = setup
    sender = Account.from_key(accounts[8].private_key)
    return ChainClient(networks.provider.web3, load_deployment(path), sender, base_delay=0.01)


def test_load_deployment_reads_the_devnet_format(setup):
    path, contracts, _ = setup
    dep = load_deployment(path)
    assert dep.chain_id == 31337
    assert dep.get("AttestationRegistry").address == contracts["AttestationRegistry"].address


def test_load_deployment_missing_or_malformed(tmp_path):
    with pytest.raises(DeploymentError, match="not found"):
        load_deployment(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"contracts": {}}))
    with pytest.raises(DeploymentError, match="malformed"):
        load_deployment(bad)
    with pytest.raises(DeploymentError, match="not in the deployment"):
        Deployment(1, {}).get("AttestationRegistry")


def test_client_refuses_deployment_of_another_chain(setup, networks):
    dep = load_deployment(setup[0])
    other = Deployment(dep.chain_id + 1, dep.contracts, dep.deploy_block)
    with pytest.raises(DeploymentError, match="serves chain 31337"):
        ChainClient(networks.provider.web3, other)


def test_view_call_and_events(client, setup):
    assert client.call("AttestationRegistry", "threshold") == 2
    logs = client.events("ComputeStaking", "NodeRegistered")
    assert any(
        log["args"]["nodeId"] == NODE and log["args"]["metadataURI"] == "http://127.0.0.1:1" for log in logs
    )


def test_transaction_succeeds_and_reports_gas(client, setup, chain):
    _, contracts, provider = setup
    registry = contracts["AttestationRegistry"]
    domain = Domain(chain.chain_id, str(registry.address))
    att = make_attestation(provider.address, NODE, epoch=1, expiry=chain.pending_timestamp + 3600)
    res = client.transact("AttestationRegistry", "submit", att.as_tuple(), quorum_sigs(domain, att, k=2))
    assert res.gas_used > 21_000 and res.tx_hash.startswith("0x")
    assert registry.recordOf(NODE).epoch == 1


def test_revert_at_estimation_names_the_custom_error(client, setup, chain):
    _, contracts, provider = setup
    domain = Domain(chain.chain_id, str(contracts["AttestationRegistry"].address))
    att = make_attestation(provider.address, NODE, epoch=1, expiry=chain.pending_timestamp + 3600)
    with pytest.raises(ContractRevert) as err:
        client.transact("AttestationRegistry", "submit", att.as_tuple(), quorum_sigs(domain, att, k=1))
    assert err.value.error == "AttestationRegistryTooFewSignatures"
    assert err.value.error_args == {"given": 1, "threshold": 2}
    assert "AttestationRegistryTooFewSignatures(given=1, threshold=2)" in str(err.value)


def test_failed_receipt_is_decoded_by_replay(client, setup, chain):
    _, contracts, provider = setup
    domain = Domain(chain.chain_id, str(contracts["AttestationRegistry"].address))
    att = make_attestation(provider.address, NODE, epoch=1, expiry=chain.pending_timestamp + 3600)
    with pytest.raises(ContractRevert) as err:  # explicit gas skips estimation: the tx is mined, status 0
        client.transact(
            "AttestationRegistry", "submit", att.as_tuple(), quorum_sigs(domain, att, k=1), gas=300_000
        )
    assert err.value.error == "AttestationRegistryTooFewSignatures"
    assert "(tx 0x" in str(err.value)


def test_view_revert_is_decoded(client):
    with pytest.raises(ContractRevert, match=r"AttestationRegistryNotNodeOwner\(nodeId=0x"):
        client.call("AttestationRegistry", "checkScore", ORACLES[0], node_id("none"), 1, b"")


def test_nonce_manager_resyncs_after_a_foreign_transaction(client, networks):
    w3: Web3 = networks.provider.web3
    client.transact("ComputeToken", "approve", ORACLES[0], 1)  # local counter in use
    # Another program sends from the same key: the local counter is now too low.
    acct = client.account
    tx = {
        "to": ORACLES[1],
        "value": 1,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
        "chainId": 31337,
    }
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    )
    before = w3.eth.get_transaction_count(acct.address)
    res = client.transact("ComputeToken", "approve", ORACLES[0], 2)
    assert res.gas_used > 0
    assert w3.eth.get_transaction_count(acct.address) == before + 1


def test_retries_with_backoff_then_gives_up():
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("down")
        return "ok"

    assert with_retries(flaky, "flaky", retries=4, base_delay=0.001) == "ok"
    assert calls["n"] == 3

    def dead():
        raise ConnectionError("down")

    with pytest.raises(TransportError, match="unreachable after 3 attempts"):
        with_retries(dead, "dead", retries=2, base_delay=0.001)


def test_client_retries_an_unreachable_rpc(setup):
    with pytest.raises(TransportError):
        ChainClient("http://127.0.0.1:9", load_deployment(setup[0]), retries=1, base_delay=0.001)


def test_error_decoder_handles_error_string_and_panic():
    dec = ErrorDecoder([])
    data = bytes.fromhex("08c379a0") + bytes.fromhex(
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000002"
        "6869000000000000000000000000000000000000000000000000000000000000"
    )
    assert dec.decode(data)[2] == "Error('hi')"
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert "overflow" in dec.decode(panic)[2]
    assert dec.decode(b"")[2] == "reverted without a reason"
