"""The one revert helper of the tests: a custom error with ALL its arguments.

Stricter than ``ape.reverts(Err, name=value)``, which skips unknown names and, when Ape cannot
decode the error (an error bubbling up from another contract, or a constructor), checks nothing
at all. Decoded errors are compared by name and inputs, undecoded ones by their raw revert data
(decoded with the error's ABI). :data:`ANY` stands for an argument the test cannot know in
advance (the timestamp of the block a transaction lands in); every other one is compared.
"""

from contextlib import contextmanager

import eth_abi
import pytest
from ape.exceptions import ContractLogicError, CustomError
from eth_utils import keccak
from hexbytes import HexBytes


def _encoded(error, args) -> bytes:
    abi = error.abi
    types = [ipt.canonical_type for ipt in abi.inputs]
    return keccak(text=abi.selector)[:4] + eth_abi.encode(types, list(args))


def _revert_data(exc: ContractLogicError) -> bytes:
    """Raw revert data of an undecoded error: hex for transactions and deployments; for calls anvil
    reports "custom error 0x<selector>: <data>", the data in hex, or as text when the bytes happen
    to be valid UTF-8 (so a timestamp's bytes can come back as any character, not only latin-1)."""
    message = exc.revert_message or ""
    if message.startswith("custom error 0x"):
        selector, _, data = message[len("custom error ") :].partition(": ")
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            raw = data.encode("utf-8")
        return bytes.fromhex(selector[2:]) + raw
    return bytes(HexBytes(message))


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()
"""An argument whose value the test cannot know in advance (still counted, and still decoded)."""


def _plain(value):
    return str(value.address) if hasattr(value, "address") else value


def _same(expected, actual) -> bool:
    if expected is ANY:
        return True
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.lower() == actual.lower()
    if isinstance(expected, bytes | bytearray) and isinstance(actual, bytes | bytearray | str):
        actual = bytes(HexBytes(actual))
    return expected == actual


def _matches(values, actual) -> bool:
    return len(values) == len(actual) and all(_same(e, a) for e, a in zip(values, actual, strict=True))


@contextmanager
def reverts(error, *args):
    """Expect a revert with custom error ``error`` and ALL its arguments, given positionally."""
    names = [ipt.name for ipt in error.abi.inputs]
    if len(args) != len(names):
        raise TypeError(f"{error.abi.name} takes {names}, got {len(args)} value(s)")
    values = [_plain(a) for a in args]
    with pytest.raises(ContractLogicError) as info:
        yield info
    exc = info.value
    if isinstance(exc, CustomError):
        assert type(exc).__name__ == error.abi.name, f"expected {error.abi.name}, got {type(exc).__name__}"
        actual = [exc.inputs[name] for name in names]
        assert _matches(values, actual), f"{error.abi.name}: expected {values}, got {actual}"
    elif ANY not in values:
        expected = _encoded(error, values)
        assert _revert_data(exc) == expected, (
            f"expected {error.abi.name}{tuple(values)}, got {exc.revert_message!r}"
        )
    else:
        data = _revert_data(exc)
        selector = keccak(text=error.abi.selector)[:4]
        assert data[:4] == selector, f"expected {error.abi.name}, got {exc.revert_message!r}"
        actual = list(eth_abi.decode([i.canonical_type for i in error.abi.inputs], data[4:]))
        assert _matches(values, actual), f"{error.abi.name}: expected {values}, got {actual}"


@contextmanager
def reverts_on_deploy(error, *args):
    """Like :func:`reverts`, for a reverting deployment: Ape does not decode custom errors of a
    constructor, so the raw revert data is compared with the ABI encoding of ``error(args)``."""
    with reverts(error, *args) as info:
        yield info
