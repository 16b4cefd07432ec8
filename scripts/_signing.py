"""EIP-712 signing for scripts and tests (pure: typed data in, signature out): EIP-2612 permits,
and the validators' dispute verdicts that settle a JobEscrow dispute (`JobEscrow.settleDispute`).

The verdict, exactly as the escrow checks it (contracts/escrow/JobEscrow.sol, contract comment):
  domain   name "JobEscrow", version "1", chainId, verifyingContract = the escrow
  type     DisputeVerdict(uint256 jobId,bytes32 resultHash,bytes32 evidenceHash,bool providerAtFault,uint64 expiry)
  evidenceHash = keccak256 of the disputed item indices, each a 32-byte big-endian word, strictly
  ascending (Solidity abi.encodePacked(uint32[])), 1 to 256 of them
  signatures: 65 bytes (r, s, v), ordered by signer address ascending, at least the registry's threshold
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
#: JobEscrow.MAX_DISPUTED_ITEMS
MAX_DISPUTED_ITEMS = 256
VERDICT_TYPES = {
    "EIP712Domain": EIP712_DOMAIN,
    "DisputeVerdict": [
        {"name": "jobId", "type": "uint256"},
        {"name": "resultHash", "type": "bytes32"},
        {"name": "evidenceHash", "type": "bytes32"},
        {"name": "providerAtFault", "type": "bool"},
        {"name": "expiry", "type": "uint64"},
    ],
}

PERMIT_TYPES = {
    "EIP712Domain": EIP712_DOMAIN,
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


# ---------------------------------------------------------------- dispute verdicts


class EvidenceError(ValueError):
    """The disputed item indices are not 1 to MAX_DISPUTED_ITEMS strictly ascending uint32 values."""


def evidence_hash(items: Sequence[int]) -> bytes:
    """The dispute's commitment to its items, as JobEscrow.evidenceHashOf computes it."""
    if not 1 <= len(items) <= MAX_DISPUTED_ITEMS:
        raise EvidenceError(f"a dispute names 1 to {MAX_DISPUTED_ITEMS} items, got {len(items)}")
    if any(not 0 <= i < 2**32 for i in items) or any(b <= a for a, b in zip(items, items[1:], strict=False)):
        raise EvidenceError(f"item indices must be strictly ascending uint32 values, got {list(items)}")
    return keccak(b"".join(i.to_bytes(32, "big") for i in items))


def dispute_verdict_typed_data(
    chain_id: int,
    escrow: str,
    job_id: int,
    result_hash: bytes,
    evidence: bytes,
    provider_at_fault: bool,
    expiry: int,
) -> dict:
    """EIP-712 typed data of a validators' verdict on job `job_id`'s dispute, in the escrow's domain."""
    return {
        "types": VERDICT_TYPES,
        "primaryType": "DisputeVerdict",
        "domain": {"name": "JobEscrow", "version": "1", "chainId": chain_id, "verifyingContract": escrow},
        "message": {
            "jobId": job_id,
            "resultHash": bytes(result_hash),
            "evidenceHash": bytes(evidence),
            "providerAtFault": provider_at_fault,
            "expiry": expiry,
        },
    }


def sign_dispute_verdict(private_key, typed_data: dict) -> tuple[str, bytes]:
    """(signer address, 65-byte r || s || v signature) of a verdict."""
    sig = Account.sign_message(encode_typed_data(full_message=typed_data), private_key)
    return Account.from_key(private_key).address, bytes(sig.signature)


def verdict_signatures(private_keys: Sequence, typed_data: dict) -> list[bytes]:
    """The verdict signed by each key, ordered by signer address ascending (as the escrow needs)."""
    signed = [sign_dispute_verdict(k, typed_data) for k in private_keys]
    return [sig for _, sig in sorted(signed, key=lambda pair: int(pair[0], 16))]
