"""oracle.keys: encrypted keystores, password sources, plain keys only on dev chains, the CLI."""

import json
import stat

import pytest
from eth_account import Account

from oracle import cli, keys
from oracle.errors import EXIT_OPERATIONAL
from oracle.keys import KeystoreError

N = 2**10  # cheap scrypt for tests (files record their own N)


def test_new_key_is_encrypted_with_scrypt_and_private(tmp_path):
    address, path = keys.new_key(tmp_path, "pw", scrypt_n=N)
    data = json.loads(path.read_text())
    assert data["crypto"]["kdf"] == "scrypt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.decrypt_keystore(path, "pw").address == address


def test_wrong_password_is_a_clear_error(tmp_path):
    _, path = keys.new_key(tmp_path, "pw", scrypt_n=N)
    with pytest.raises(KeystoreError, match="wrong password"):
        keys.decrypt_keystore(path, "nope")


def test_import_list_and_find_by_address(tmp_path):
    acct = Account.create()
    keys.write_keystore(tmp_path, acct.key, "pw", scrypt_n=N)
    assert [a for a, _ in keys.list_keys(tmp_path)] == [acct.address]
    assert keys.find_keystore(tmp_path, acct.address.lower()).name == f"{acct.address}.json"
    with pytest.raises(KeystoreError, match="already stored"):
        keys.write_keystore(tmp_path, acct.key, "pw", scrypt_n=N)
    with pytest.raises(KeystoreError, match="no keystore"):
        keys.find_keystore(tmp_path, Account.create().address)


def test_password_from_file_then_env(tmp_path, monkeypatch):
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text("from-file\n")
    monkeypatch.setenv(keys.PASSWORD_ENV, "from-env")
    assert keys.resolve_password(pwfile) == "from-file"
    assert keys.resolve_password(None) == "from-env"
    monkeypatch.delenv(keys.PASSWORD_ENV)
    with pytest.raises(KeystoreError, match="no password"):
        keys.resolve_password(None, prompt=False)


def test_plain_key_only_on_dev_chains(monkeypatch):
    monkeypatch.delenv(keys.PRIVATE_KEY_ENV, raising=False)
    acct = Account.create()
    assert keys.load_signer(31337, private_key=acct.key.hex()).address == acct.address
    assert keys.load_signer(1337, private_key=acct.key.hex()).address == acct.address
    with pytest.raises(KeystoreError, match="only accepted on a local dev chain"):
        keys.load_signer(1, private_key=acct.key.hex())


def test_load_signer_from_keystore_on_any_chain(tmp_path, monkeypatch):
    address, path = keys.new_key(tmp_path, "pw", scrypt_n=N)
    monkeypatch.setenv(keys.PASSWORD_ENV, "pw")
    assert keys.load_signer(8453, keystore=str(path)).address == address
    assert keys.load_signer(8453, keystore=address, keystore_dir=tmp_path).address == address


def test_cli_new_list_show_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(keys.PASSWORD_ENV, "pw")
    d = str(tmp_path)
    assert cli.main(["keys", "--keystore-dir", d, "new", "--scrypt-n", str(N)]) == 0
    made = json.loads(capsys.readouterr().out)
    assert cli.main(["keys", "--keystore-dir", d, "list"]) == 0
    assert made["address"] in capsys.readouterr().out
    assert cli.main(["keys", "--keystore-dir", d, "show", made["address"]]) == 0
    assert json.loads(capsys.readouterr().out)["address"] == made["address"]
    acct = Account.create()
    kf = tmp_path / "key.hex"
    kf.write_text(acct.key.hex())
    assert (
        cli.main(["keys", "--keystore-dir", d, "import", "--private-key-file", str(kf), "--scrypt-n", str(N)])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["address"] == acct.address
    monkeypatch.setenv(keys.PASSWORD_ENV, "bad")
    assert cli.main(["keys", "--keystore-dir", d, "show", acct.address]) == EXIT_OPERATIONAL
    assert "wrong password" in capsys.readouterr().err
