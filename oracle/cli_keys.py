"""``oracle keys new|list|show|import``: encrypted signing keys (the keystore is :mod:`oracle.keys`).

``new``, ``show`` and ``import`` print one JSON line ``{"address", "keystore"}``; ``list`` prints
``address  path`` lines (a JSON list with ``--json``). The keystore directory defaults to
``$ORACLE_KEYSTORE`` (else ``~/.oracle/keystore``), the password to ``$ORACLE_KEY_PASSWORD``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from eth_account import Account

from oracle import keys
from oracle.cli_ui import Ui, common_options
from oracle.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys", parents=[common_options()], help="manage encrypted oracle signing keys"
    )
    # The shared options are accepted before or after the action (`keys --password-file F new` and
    # `keys new --password-file F`); the actions' default SUPPRESS keeps an option given at one
    # level from being overwritten by the other level's absence.
    for action in _shared_options()._actions:
        parser._add_action(action)
    parser.set_defaults(keystore_dir=str(keys.DEFAULT_KEYSTORE_DIR), password_file=None)
    sub = parser.add_subparsers(dest="keys_command", required=True)
    shared_parents = [common_options(), _shared_options()]
    p = sub.add_parser("new", parents=shared_parents, help="generate a key and store it encrypted (scrypt)")
    p.add_argument("--scrypt-n", type=int, default=keys.DEFAULT_SCRYPT_N, help="scrypt cost parameter N")
    p.set_defaults(func=run, action=_new)
    p = sub.add_parser("list", parents=shared_parents, help="list stored keys")
    p.set_defaults(func=run, action=_list)
    p = sub.add_parser(
        "show", parents=shared_parents, help="decrypt a key and print its address (checks the password)"
    )
    p.add_argument("key", help="address or keystore path")
    p.set_defaults(func=run, action=_show)
    p = sub.add_parser(
        "import",
        parents=shared_parents,
        help=f"encrypt an existing key (from --private-key-file, ${keys.PRIVATE_KEY_ENV} or stdin)",
    )
    p.add_argument("--private-key-file", help="file holding the hex private key")
    p.add_argument("--scrypt-n", type=int, default=keys.DEFAULT_SCRYPT_N, help="scrypt cost parameter N")
    p.set_defaults(func=run, action=_import)


def _shared_options() -> argparse.ArgumentParser:
    """A fresh parser per use: argparse shares action objects with children, and set_defaults on
    one level would otherwise change the other's."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--keystore-dir",
        default=argparse.SUPPRESS,
        help=f"directory of keystore files (${keys.KEYSTORE_ENV})",
    )
    shared.add_argument(
        "--password-file",
        default=argparse.SUPPRESS,
        help=f"file holding the password (else ${keys.PASSWORD_ENV}, else prompt)",
    )
    return shared


def run(args: argparse.Namespace, ui: Ui) -> int:
    return args.action(args, ui)


def _key_line(ui: Ui, address: str, path: Path) -> int:
    doc = {"address": address, "keystore": str(path)}
    if ui.json:
        ui.emit(doc)
    else:
        ui.line(json.dumps(doc))
    return EXIT_OK


def _new(args: argparse.Namespace, ui: Ui) -> int:
    password = keys.resolve_password(args.password_file, confirm=True)
    address, path = keys.new_key(args.keystore_dir, password, args.scrypt_n)
    return _key_line(ui, address, path)


def _list(args: argparse.Namespace, ui: Ui) -> int:
    found = keys.list_keys(args.keystore_dir)
    if ui.json:
        ui.emit([{"address": address, "keystore": str(path)} for address, path in found])
        return EXIT_OK
    for address, path in found:
        ui.line(f"{address}  {path}")
    return EXIT_OK


def _show(args: argparse.Namespace, ui: Ui) -> int:
    path = keys.find_keystore(args.keystore_dir, args.key)
    acct = keys.decrypt_keystore(path, keys.resolve_password(args.password_file))
    return _key_line(ui, acct.address, path)


def _import(args: argparse.Namespace, ui: Ui) -> int:
    if args.private_key_file:
        raw = Path(args.private_key_file).read_text().strip()
    elif os.environ.get(keys.PRIVATE_KEY_ENV):
        raw = os.environ[keys.PRIVATE_KEY_ENV]
    elif sys.stdin.isatty():
        raw = getpass.getpass("Private key (hex): ")
    else:
        raw = sys.stdin.readline().strip()
    password = keys.resolve_password(args.password_file, confirm=True)
    path = keys.write_keystore(args.keystore_dir, raw, password, args.scrypt_n)
    return _key_line(ui, Account.from_key(raw).address, path)
