"""Shared fixtures. Every test runs against a real anvil chain started by ape-foundry."""

import pytest

TOKEN_SUPPLY = 100_000_000 * 10**18


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def token(project, deployer):
    return deployer.deploy(project.ComputeToken, deployer, TOKEN_SUPPLY)


# Browser-test fixtures (one devnet + one Chromium per session): see tests/frontend_support.py.
from tests.frontend_support import chromium, devnet, open_page  # noqa: E402, F401
