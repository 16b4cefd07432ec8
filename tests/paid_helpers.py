"""Shared set-up of the paid-endpoint tests: the core + PaymentChannels on Ape's anvil, a deployment
file, ChainClients for the provider and the user, and the endpoint assembled by PaidService."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from oracle.chain import ChainClient
from oracle.client.pay import PayingClient
from oracle.deployment import load_deployment
from oracle.provider.paid import Model, onnx_model
from oracle.provider.paid_service import PaidService, PaidSettings
from oracle.work import demo_model
from oracle.work.runtime import OnnxModel
from scripts.deploy import deploy_channels

ETHER = 10**18
PRICE = 10**15
FEE_BPS = 250
CLOSE_DELAY = 600
ROYALTY_BPS = 500


def demo_endpoint_model() -> Model:
    """The demo digits classifier of oracle/work, run by ONNX Runtime on the CPU."""
    return onnx_model(OnnxModel.from_bytes(demo_model.model_bytes(), device="cpu", threads=1))


def demo_rows(count: int = 4) -> list[list[float]]:
    """Held-out digit images (256 floats each) as a request's ``x``."""
    return demo_model.test_set(count)[0].tolist()


@dataclass
class PaidWorld:
    deployment_path: Path
    contracts: dict
    provider_key: bytes
    user_keys: list[bytes]
    web3: object
    model_id: int

    def client(self, key: bytes) -> ChainClient:
        return ChainClient(
            self.web3, load_deployment(self.deployment_path), Account.from_key(key), base_delay=0.01
        )

    def service(self, model: Model, journal: Path, threshold: int = 10**30, **kw) -> PaidService:
        settings = PaidSettings(
            price=PRICE, model_id=self.model_id, journal=journal, redeem_threshold=threshold, poll_s=0.1, **kw
        )
        return PaidService(self.client(self.provider_key), model, settings)

    def payer(self, index: int = 0, state_path: Path | None = None, credit: int = 1, **kw) -> PayingClient:
        """A paying client; `credit` 1 (a voucher per request) unless a test asks for windows."""
        return PayingClient(
            self.client(self.user_keys[index]),
            state_path=state_path,
            deposit_requests=50,
            credit=credit,
            **kw,
        )


def build_world(deployer, treasury, provider, users, creator, token, networks, tmp: Path) -> PaidWorld:
    """The core + PaymentChannels, the demo model minted as a ModelNFT with a royalty, users funded."""
    from scripts.deploy import deploy_protocol, write_deployment

    contracts = deploy_protocol(deployer, treasury, token=token)
    channels = deploy_channels(
        deployer,
        token,
        contracts["ModelNFT"],
        treasury,
        {"channel_fee_bps": FEE_BPS, "channel_close_delay": CLOSE_DELAY},
    )
    contracts["PaymentChannels"] = channels
    for user in users:
        token.transfer(user, 1_000 * ETHER, sender=deployer)
    model_id = demo_model.model_id()
    weights = model_id.to_bytes(32, "big")
    contracts["ModelNFT"].mint(creator, weights, "ipfs://demo-digits", creator, ROYALTY_BPS, sender=creator)
    path = write_deployment(contracts, tmp / "deployment.json", 0)
    keys = [u.private_key for u in users]
    return PaidWorld(path, contracts, provider.private_key, keys, networks.provider.web3, model_id)


def module_world(tag: str):
    """The module-scoped paid-endpoint world every paid test file uses (the requester and the
    outsider as the two paying clients), its files under a temporary folder named ``tag``."""

    @pytest.fixture(scope="module")
    def world(deployer, treasury, provider, requester, outsider, creator, token, networks, tmp_path_factory):
        return build_world(
            deployer,
            treasury,
            provider,
            [requester, outsider],
            creator,
            token,
            networks,
            tmp_path_factory.mktemp(tag),
        )

    return world
