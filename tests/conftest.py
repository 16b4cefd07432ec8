"""Shared fixtures. Every test runs against a real anvil chain started by ape-foundry."""

import functools
import logging

import ape_test.accounts
import pytest

# Speed: on every reverted transaction ape-foundry prints a call trace, and enriching it checks each
# address against the test accounts, which Ape re-derives from the mnemonic (pure-Python secp256k1,
# ~20 ms per account) every time: ~0.3 s per revert. The derivation is deterministic, so memoise it.
ape_test.accounts.generate_dev_accounts = functools.lru_cache(maxsize=None)(
    ape_test.accounts.generate_dev_accounts
)

TOKEN_SUPPLY = 100_000_000 * 10**18


@pytest.fixture(autouse=True)
def _restore_oracle_logging():
    """An in-process `oracle run` (tests/test_validator.py) configures the "oracle" logger for a
    daemon: its own stderr handler and propagate=False. Undo it after each test, or later tests'
    caplog sees none of the validator's records (and logging writes to a closed capture stream)."""
    logger = logging.getLogger("oracle")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[2]
    logger.setLevel(saved[1])  # setLevel, not assignment: it also clears the loggers' level cache


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def token(project, deployer):
    return deployer.deploy(project.ComputeToken, deployer, TOKEN_SUPPLY)


# ---------------------------------------------------------------- protocol core (staking, NFT, escrow)

ETHER = 10**18
# Governed parameters the core tests run with (small stake, short periods, visible shares).
CORE_PARAMS = {
    "min_stake_per_gpu": 1_000 * ETHER,
    "unbonding_period": 7 * 24 * 3600,
    "finder_share_bps": 1_000,
    "harmed_share_bps": 5_000,
    "fee_bps": 250,
    "collateral_bps": 5_000,
    "challenge_window": 24 * 3600,
    "dispute_bond": 0,  # the bond's accounting is tested with a bond in tests/test_dispute_verdict.py
    "max_royalty_bps": 1_000,
    "model_base_uri": "ipfs://models/",
}


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def provider(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def requester(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def creator(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def outsider(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def protocol(deployer, token, treasury, provider, requester, creator, outsider):
    """The core deployed by scripts/deploy.py (so the deploy script is tested), actors funded.

    Module scope: Ape reverts it (and the funding) after each module, so modules that only use
    `token` still see the whole supply with the deployer."""
    from scripts.deploy import deploy_protocol

    contracts = deploy_protocol(deployer, treasury, CORE_PARAMS, token=token)
    for who in (provider, requester, creator, outsider):
        token.transfer(who, 1_000_000 * ETHER, sender=deployer)
    return contracts


@pytest.fixture(scope="module")
def staking(protocol):
    return protocol["ComputeStaking"]


@pytest.fixture(scope="module")
def model_nft(protocol):
    return protocol["ModelNFT"]


@pytest.fixture(scope="module")
def escrow(protocol):
    return protocol["JobEscrow"]


# Browser-test fixtures (one devnet + one Chromium per session): see tests/support/frontend.py.
from tests.support.frontend import chromium, devnet, open_page  # noqa: E402, F401


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into its scheduling keys
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test TEST_WORKERS=2`` runs ``-n 2 --dist loadgroup``) each test module stays on
    one worker, so its module-scoped deployment is built once, and the modules that start a devnet
    or build the page (one devnet and one Chromium per session, one ``frontend/dist``) share one
    worker, so the devnet starts once and two page builds never race."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        module = item.nodeid.split("::")[0]
        name = module.rsplit("/", 1)[-1]
        group = "devnet" if name.startswith(("test_devnet", "test_frontend_")) else module
        item.add_marker(pytest.mark.xdist_group(group))
