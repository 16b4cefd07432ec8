"""EIP-2612 permit signing for scripts and tests (pure: typed data in, signature out)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data

PERMIT_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


@dataclass(frozen=True)
class PermitSignature:
    """The (v, r, s) of a permit, r and s as 32-byte values ready for a contract call."""

    v: int
    r: bytes
    s: bytes


def permit_typed_data(
    token_name: str,
    chain_id: int,
    token_address: str,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
) -> dict:
    """EIP-712 typed data of an ERC-20 permit (domain version "1", as OpenZeppelin's ERC20Permit)."""
    return {
        "types": PERMIT_TYPES,
        "primaryType": "Permit",
        "domain": {
            "name": token_name,
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": token_address,
        },
        "message": {
            "owner": owner,
            "spender": spender,
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def sign_permit(private_key, typed_data: dict) -> PermitSignature:
    """Sign permit typed data with ``private_key``."""
    sig = Account.sign_message(encode_typed_data(full_message=typed_data), private_key)
    return PermitSignature(v=sig.v, r=sig.r.to_bytes(32, "big"), s=sig.s.to_bytes(32, "big"))


def token_permit(
    token, chain_id: int, owner, private_key, spender, value: int, deadline: int
) -> PermitSignature:
    """Sign a permit for ``token`` (an Ape contract instance) letting ``spender`` move ``value``."""
    data = permit_typed_data(
        token.name(),
        chain_id,
        str(token.address),
        str(owner),
        str(spender),
        value,
        token.nonces(owner),
        deadline,
    )
    return sign_permit(private_key, data)
