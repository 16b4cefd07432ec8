"""Helpers shared by the DAO / marketplace tests."""

import ape


def reverts_with(error, *values):
    """`ape.reverts` for a custom error with its POSITIONAL values (mapped onto the ABI names)."""
    names = [i.name for i in error.abi.inputs]
    if len(values) != len(names):
        raise TypeError(f"{error.abi.name} takes {len(names)} values ({names}), got {len(values)}")
    return ape.reverts(error, **dict(zip(names, values, strict=True)))
