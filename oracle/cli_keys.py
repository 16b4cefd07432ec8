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
    parser.add_argument(
        "--keystore-dir", default=str(keys.DEFAULT_KEYSTORE_DIR), help="directory of keystore files"
    )
    parser.add_argument(
        "--password-file", help=f"file holding the password (else ${keys.PASSWORD_ENV}, else prompt)"
    )
    sub = parser.add_subparsers(dest="keys_command", required=True)
    p = sub.add_parser("new", help="generate a key and store it encrypted (scrypt)")
    p.add_argument("--scrypt-n", type=int, default=keys.DEFAULT_SCRYPT_N, help="scrypt cost parameter N")
    p.set_defaults(func=run, action=_new)
    p = sub.add_parser("list", help="list stored keys")
    p.set_defaults(func=run, action=_list)
    p = sub.add_parser("show", help="decrypt a key and print its address (checks the password)")
    p.add_argument("key", help="address or keystore path")
    p.set_defaults(func=run, action=_show)
    p = sub.add_parser(
        "import", help=f"encrypt an existing key (from --private-key-file, ${keys.PRIVATE_KEY_ENV} or stdin)"
    )
    p.add_argument("--private-key-file", help="file holding the hex private key")
    p.add_argument("--scrypt-n", type=int, default=keys.DEFAULT_SCRYPT_N, help="scrypt cost parameter N")
    p.set_defaults(func=run, action=_import)


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
