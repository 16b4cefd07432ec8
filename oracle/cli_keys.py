"""``oracle keys new|list|show|import``: encrypted signing keys (see :mod:`oracle.keys`)."""

from __future__ import annotations

import argparse

from oracle import keys
from oracle.cli import EXIT_OPERATIONAL, CliError, common_options


def _wrap(fn):
    def handler(args: argparse.Namespace, ui=None) -> int:
        try:
            return fn(args)
        except keys.KeystoreError as exc:
            raise CliError(str(exc), EXIT_OPERATIONAL) from None

    return handler


def register(subparsers: argparse._SubParsersAction) -> None:
    keys.register(subparsers, parents=[common_options()], wrap=_wrap)
