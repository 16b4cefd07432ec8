"""Token amounts, exactly (oracle/units.py): what every command's amount options parse with."""

import argparse

import pytest

from oracle.units import AmountError, format_tokens, parse_tokens, token_arg


def test_amounts_round_trip_exactly_to_the_wei():
    assert parse_tokens("2.5") == 25 * 10**17
    assert parse_tokens(" 1000 ") == 1000 * 10**18
    assert parse_tokens("0.000000000000000001") == 1
    assert (
        format_tokens(25 * 10**17) == "2.5"
        and format_tokens(10**18) == "1"
        and format_tokens(1) == "0.000000000000000001"
    )
    for text in ("100", "0.5", "123456789.123456789123456789"):
        assert format_tokens(parse_tokens(text)) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("abc", "is not a number of tokens"),
        ("-1", "must be a positive number"),
        ("0", "must be a positive number"),
        ("nan", "must be a positive number"),
        ("0.0000000000000000001", "more than 18 decimals"),
    ],
)
def test_bad_amounts_are_refused_with_the_reason(text, why):
    with pytest.raises(AmountError, match=why):
        parse_tokens(text)
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        token_arg(text)
