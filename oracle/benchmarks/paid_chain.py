"""The paid-endpoint benchmark's chain (:mod:`oracle.benchmarks.paid`): a throwaway anvil with
ComputeToken, ModelNFT (the demo model minted) and PaymentChannels deployed straight from the
compiled artifacts in ``.build/`` (``ape compile``), and funded accounts -- no Ape, no devnet."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from oracle.chain import ChainClient
from oracle.deployment import ContractInfo, Deployment
from oracle.work import demo_model

ROOT = Path(__file__).resolve().parents[2]
ETHER = 10**18
MODEL = "digits"
"""The oracle/work demo model minted (and served by the benchmark)."""
#: anvil's well-known dev keys (accounts 0-9 of its default mnemonic)
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_anvil() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("anvil") or str(ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--silent", "--accounts", "20"], stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url))
    for _ in range(100):
        try:
            if w3.eth.block_number >= 0:
                return proc, url
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"anvil did not start on {url}")


def deploy_from_build(rpc: str) -> Deployment:
    """ComputeToken, ModelNFT (demo model minted, 5% royalty) and PaymentChannels (fee 2.5%)."""
    types = json.loads((ROOT / ".build/__local__.json").read_text())["contractTypes"]
    w3 = Web3(Web3.HTTPProvider(rpc))
    owner = Account.from_key(DEV_KEYS[0])

    def deploy(name: str, *args: Any) -> ContractInfo:
        ct = types[name]
        factory = w3.eth.contract(abi=ct["abi"], bytecode=ct["deploymentBytecode"]["bytecode"])
        tx = factory.constructor(*args).build_transaction(
            {"from": owner.address, "nonce": w3.eth.get_transaction_count(owner.address)}
        )
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(owner.sign_transaction(tx).raw_transaction)
        )
        return ContractInfo(name, receipt["contractAddress"], ct["abi"])

    token = deploy("ComputeToken", owner.address, 100_000_000 * ETHER)
    nft = deploy("ModelNFT", 1_000, "ipfs://models/")
    channels = deploy("PaymentChannels", token.address, nft.address, owner.address, 250, 600)
    deployment = Deployment(w3.eth.chain_id, {c.name: c for c in (token, nft, channels)}, 0)
    client = ChainClient(w3, deployment, owner, base_delay=0.01)
    model_id = demo_model.model_id(MODEL)
    client.transact(
        "ModelNFT", "mint", owner.address, model_id.to_bytes(32, "big"), "ipfs://digits", owner.address, 500
    )
    return deployment


def fund(client: ChainClient, addresses: list[str], amount: int) -> None:
    for a in addresses:
        client.transact("ComputeToken", "transfer", a, amount)
        # gas money from an unlocked anvil account that no ChainClient here sends from (own nonces)
        client.w3.eth.send_transaction({"from": client.w3.eth.accounts[5], "to": a, "value": ETHER})
