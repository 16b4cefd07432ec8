"""anvil's dev accounts and the role each plays on the devnet. Only anvil's well-known dev keys
are used: never put a real key here."""

from __future__ import annotations

from dataclasses import dataclass

# anvil's public test mnemonic: its keys are published everywhere and hold nothing real.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337
# Roles of the dev accounts (index into anvil's ten accounts).
ROLE_DEPLOYER = 0
ROLE_PROVIDER = 1
ROLE_VALIDATORS = (2, 3, 4)
ROLE_REQUESTER = 5
ROLE_CREATOR = 6
ROLE_LABELS = {
    ROLE_DEPLOYER: "deployer / governance proposer",
    ROLE_PROVIDER: "provider (GPU node)",
    ROLE_VALIDATORS[0]: "validator 1",
    ROLE_VALIDATORS[1]: "validator 2",
    ROLE_VALIDATORS[2]: "validator 3",
    ROLE_REQUESTER: "requester (job poster)",
    ROLE_CREATOR: "model creator",
}
VALIDATOR_THRESHOLD = 2
"""k of the three dev validators (the registry's threshold on the devnet)."""


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: str
    private_key: str
    label: str


def dev_accounts(count: int = 10) -> list[DevAccount]:
    """anvil's default accounts, derived from its public test mnemonic."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        key = "0x" + bytes(acct.key).hex()
        out.append(DevAccount(i, acct.address, key, ROLE_LABELS.get(i, f"dev account {i}")))
    return out
