"""The revert helper reads back exactly the bytes a contract reverted with, in every form anvil
reports them (a CI run once failed when a timestamp's bytes formed a non-latin-1 character)."""

import eth_abi
import pytest
from ape.exceptions import ContractLogicError

from tests.support.reverts import _revert_data

SELECTOR = bytes.fromhex("a1b2c3d4")


@pytest.mark.parametrize(
    "values",
    [
        (1_796_175_155, 1_796_175_156),  # plain ASCII-range bytes
        (0x6B10C69F, 0x01),  # 0xC6 0x9F is the UTF-8 of U+019F, which latin-1 cannot hold
        (0xE282AC, 0xF09F9880),  # three- and four-byte UTF-8 sequences
    ],
)
def test_call_revert_data_round_trips_as_text(values):
    data = eth_abi.encode(["uint256", "uint256"], list(values))
    text = data.decode("utf-8")
    exc = ContractLogicError(revert_message=f"custom error 0x{SELECTOR.hex()}: {text}")
    assert _revert_data(exc) == SELECTOR + data


def test_call_revert_data_round_trips_as_hex():
    data = eth_abi.encode(["uint256"], [2**255 + 0xFF])  # not valid UTF-8: anvil prints hex
    exc = ContractLogicError(revert_message=f"custom error 0x{SELECTOR.hex()}: {data.hex()}")
    assert _revert_data(exc) == SELECTOR + data


def test_transaction_revert_data_is_hex():
    data = SELECTOR + eth_abi.encode(["uint256"], [7])
    exc = ContractLogicError(revert_message="0x" + data.hex())
    assert _revert_data(exc) == data
