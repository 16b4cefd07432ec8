"""Token amounts as people write them and as contracts count them: ``"2.5"`` tokens <-> wei,
exactly (18 decimals, :class:`decimal.Decimal`; no floats for money anywhere), and the argparse
type every command's amount options share."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from oracle.errors import EXIT_USAGE, OracleError

DECIMALS = 18
TOKEN = 10**DECIMALS


class AmountError(OracleError, ValueError):
    """Not a positive number of tokens with at most 18 decimals (the message shows the text)."""

    exit_code = EXIT_USAGE


def parse_tokens(text: str) -> int:
    """``"2.5"`` tokens -> wei, exactly; refuses negatives, zero, more than 18 decimals and non-numbers."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise AmountError(f"amount {text!r} is not a number of tokens (e.g. 100 or 2.5)") from None
    if not value.is_finite() or value <= 0:
        raise AmountError(f"amount {text!r} must be a positive number of tokens")
    wei = value.scaleb(DECIMALS)
    if wei != wei.to_integral_value():
        raise AmountError(f"amount {text!r} has more than {DECIMALS} decimals")
    return int(wei)


def format_tokens(wei: int) -> str:
    """wei -> tokens as a plain decimal string without trailing zeros (``"2.5"``)."""
    return format(Decimal(int(wei)).scaleb(-DECIMALS).normalize(), "f")


def token_arg(text: str) -> int:
    """argparse ``type=`` of an amount option: wei, or argparse's one-line usage error."""
    try:
        return parse_tokens(text)
    except AmountError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
