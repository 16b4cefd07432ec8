"""Oracle signing keys: encrypted keystore files (Web3 Secret Storage, scrypt); the command
``oracle keys new|list|show|import`` is :mod:`oracle.cli_keys`.

The password comes from ``--password-file``, else the environment variable
``ORACLE_KEY_PASSWORD``, else an interactive prompt. A plain private key (``--private-key`` /
``ORACLE_PRIVATE_KEY``) is accepted only on a local development chain (chain id 31337 or 1337);
anywhere else :func:`load_signer` refuses it and says to use a keystore.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from oracle.errors import OracleError

LOCAL_CHAIN_IDS = frozenset({31337, 1337})
PASSWORD_ENV = "ORACLE_KEY_PASSWORD"
PRIVATE_KEY_ENV = "ORACLE_PRIVATE_KEY"
KEYSTORE_ENV = "ORACLE_KEYSTORE"
DEFAULT_KEYSTORE_DIR = Path(os.environ.get(KEYSTORE_ENV, "~/.oracle/keystore")).expanduser()
DEFAULT_SCRYPT_N = 2**18  # the Web3 Secret Storage default


class KeystoreError(OracleError):
    """A key could not be created, found, decrypted or used (the message says what to do)."""


def resolve_password(
    password_file: str | Path | None = None, *, confirm: bool = False, prompt: bool = True
) -> str:
    """The keystore password: from ``password_file``, else $ORACLE_KEY_PASSWORD, else a prompt."""
    if password_file:
        p = Path(password_file)
        if not p.is_file():
            raise KeystoreError(f"password file {p} not found")
        return p.read_text().rstrip("\r\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not prompt or not sys.stdin.isatty():
        raise KeystoreError(
            f"no password: pass --password-file, set {PASSWORD_ENV}, or run in a terminal to be prompted"
        )
    pw = getpass.getpass("Keystore password: ")
    if confirm and getpass.getpass("Repeat password: ") != pw:
        raise KeystoreError("the two passwords differ")
    return pw


def _keystore_path(directory: Path, address: str) -> Path:
    return directory / f"{to_checksum_address(address)}.json"


def write_keystore(
    directory: str | Path, private_key: bytes | str, password: str, scrypt_n: int = DEFAULT_SCRYPT_N
) -> Path:
    """Encrypt ``private_key`` (scrypt) into ``directory/<address>.json`` (mode 0600)."""
    if not password:
        raise KeystoreError("refusing an empty keystore password")
    d = Path(directory).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    try:
        acct = Account.from_key(private_key)
    except Exception as exc:
        raise KeystoreError(f"not a valid secp256k1 private key: {exc}") from None
    path = _keystore_path(d, acct.address)
    if path.exists():
        raise KeystoreError(f"{path} already exists: the key for {acct.address} is already stored")
    data = Account.encrypt(acct.key, password, kdf="scrypt", iterations=scrypt_n)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def new_key(directory: str | Path, password: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> tuple[str, Path]:
    """Generate a fresh key and store it encrypted; returns (address, path)."""
    acct = Account.create()
    return acct.address, write_keystore(directory, acct.key, password, scrypt_n)


def list_keys(directory: str | Path) -> list[tuple[str, Path]]:
    """(address, path) of every keystore file in ``directory``."""
    d = Path(directory).expanduser()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out.append(
                (to_checksum_address("0x" + json.loads(p.read_text())["address"].removeprefix("0x")), p)
            )
        except (KeyError, ValueError, json.JSONDecodeError):
            continue
    return out


def find_keystore(directory: str | Path, key: str) -> Path:
    """A keystore by path or by address."""
    p = Path(key).expanduser()
    if p.is_file():
        return p
    for address, path in list_keys(directory):
        if address.lower() == key.lower():
            return path
    raise KeystoreError(
        f"no keystore for {key} in {directory}: create one with `oracle keys new` or `oracle keys import`"
    )


def decrypt_keystore(path: str | Path, password: str) -> LocalAccount:
    try:
        data = json.loads(Path(path).read_text())
        return Account.from_key(Account.decrypt(data, password))
    except ValueError as exc:
        raise KeystoreError(f"cannot decrypt {path}: wrong password or corrupt file ({exc})") from None


def load_signer(
    chain_id: int,
    *,
    keystore: str | Path | None = None,
    keystore_dir: str | Path = DEFAULT_KEYSTORE_DIR,
    password_file: str | Path | None = None,
    private_key: str | None = None,
) -> LocalAccount:
    """The validator's account: a keystore (by path or address), or a plain key on a local
    dev chain only."""
    private_key = private_key or os.environ.get(PRIVATE_KEY_ENV)
    if keystore:
        return decrypt_keystore(find_keystore(keystore_dir, str(keystore)), resolve_password(password_file))
    if private_key:
        if chain_id not in LOCAL_CHAIN_IDS:
            raise KeystoreError(
                f"plain private keys are only accepted on a local dev chain (31337/1337), this is chain {chain_id}: "
                "store the key with `oracle keys import` and pass --keystore"
            )
        return Account.from_key(private_key)
    raise KeystoreError(
        "no signing key: pass --keystore (see `oracle keys list`) or, on a dev chain, --private-key"
    )
