"""``oracle run``: the validator daemon (see :mod:`oracle.validator`)."""

from __future__ import annotations

import argparse

from oracle import validator
from oracle.chain import ChainError
from oracle.cli import EXIT_OPERATIONAL, CliError, common_options
from oracle.journal import JournalError
from oracle.keys import KeystoreError


def _wrap(fn):
    def handler(args: argparse.Namespace, ui=None) -> int:
        try:
            return fn(args, ui)
        except (ChainError, KeystoreError, JournalError, validator.ValidatorError) as exc:
            raise CliError(str(exc), EXIT_OPERATIONAL) from None

    return handler


def register(subparsers: argparse._SubParsersAction) -> None:
    validator.register(subparsers, parents=[common_options()], wrap=_wrap)
