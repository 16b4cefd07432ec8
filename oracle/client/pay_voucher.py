"""EIP-712 vouchers of PaymentChannels.sol, byte for byte (pure functions, no I/O).

A voucher says "channel `channelId` owes its provider `cumulativeAmount` in total so far, for
model `modelId`"; the user (or the channel's authorised signer, e.g. a session key) signs it under
the domain ``{name: "PaymentChannels", version: "1", chainId, verifyingContract}``. Only the
latest voucher matters: the contract pays the increment over what it already redeemed and refuses
anything at or below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey
from eth_account import Account
from eth_hash.auto import keccak as keccak256  # bytes only: half the cost of eth_utils.keccak
from eth_utils import keccak, to_checksum_address

from oracle.attest import Domain, typed_data, typed_digest
from oracle.errors import OracleError

CHANNELS_NAME = "PaymentChannels"
CHANNELS_VERSION = "1"
VOUCHER_FIELDS: list[tuple[str, str]] = [
    ("channelId", "uint256"),
    ("cumulativeAmount", "uint256"),
    ("modelId", "uint256"),
]
VOUCHER_TYPE = "Voucher(" + ",".join(f"{t} {n}" for n, t in VOUCHER_FIELDS) + ")"
VOUCHER_TYPEHASH = keccak(text=VOUCHER_TYPE)
SIGNATURE_BYTES = 65
UINT256_MAX = 2**256 - 1
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class VoucherError(OracleError, ValueError):
    """A voucher or its signature cannot be encoded or parsed (the message says which part)."""


def channels_domain(chain_id: int, contract: str) -> Domain:
    """The PaymentChannels EIP-712 domain on `chain_id` at `contract`."""
    return Domain(chain_id, to_checksum_address(contract), CHANNELS_NAME, CHANNELS_VERSION)


@dataclass(frozen=True)
class Voucher:
    channelId: int
    cumulativeAmount: int
    modelId: int = 0

    def __post_init__(self) -> None:
        for name, _ in VOUCHER_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
                raise VoucherError(f"voucher {name} must be an integer in 0..2^256-1, got {value!r}")


def voucher_struct_hash(voucher: Voucher) -> bytes:
    # abi.encode(bytes32, uint256, uint256, uint256) is the four 32-byte words side by side (the
    # fields are range-checked by Voucher); built directly, it is 10x cheaper than eth_abi.encode
    return keccak256(
        VOUCHER_TYPEHASH
        + voucher.channelId.to_bytes(32, "big")
        + voucher.cumulativeAmount.to_bytes(32, "big")
        + voucher.modelId.to_bytes(32, "big")
    )


def voucher_digest(domain: Domain, voucher: Voucher) -> bytes:
    """What the signer signs (the contract's `voucherDigest`)."""
    return typed_digest(domain, voucher_struct_hash(voucher))


def sign_voucher(domain: Domain, voucher: Voucher, private_key: bytes | str) -> bytes:
    """65-byte r || s || v signature of the voucher's digest."""
    signed = Account.unsafe_sign_hash(voucher_digest(domain, voucher), private_key)
    return bytes(signed.signature)


def recover_signer(domain: Domain, voucher: Voucher, signature: bytes) -> str:
    """The checksummed address that signed `voucher`, with the contract's own rules (OpenZeppelin
    ECDSA): 65 bytes, v in {27, 28}, s in the lower half of the curve order; VoucherError otherwise."""
    return recover_digest_signer(voucher_digest(domain, voucher), signature)


def recover_digest_signer(digest: bytes, signature: bytes) -> str:
    """As recover_signer, for a digest already computed (the provider caches the domain)."""
    return to_checksum_address(recover_digest_address(digest, signature))


def recover_digest_address(digest: bytes, signature: bytes) -> bytes:
    """The signer's 20-byte address (the provider's hot path compares bytes: checksumming the
    address costs ~20 us, half the recovery itself); the rules of recover_signer."""
    return address_of(recover_digest_public_key(digest, signature))


def address_of(public_key: bytes) -> bytes:
    """The 20-byte address of a 64-byte uncompressed public key (x || y)."""
    return keccak256(public_key)[-20:]


def recover_digest_public_key(digest: bytes, signature: bytes) -> bytes:
    """The signer's 64-byte public key (x || y), under the rules of recover_signer."""
    if len(signature) != SIGNATURE_BYTES:
        raise VoucherError(f"a voucher signature is {SIGNATURE_BYTES} bytes, got {len(signature)}")
    s, v = int.from_bytes(signature[32:64], "big"), signature[64]
    if s > SECP256K1_HALF_N:
        raise VoucherError("voucher signature has a high s (malleable); sign with a standard library")
    if v not in (27, 28):
        raise VoucherError(f"voucher signature v must be 27 or 28, got {v}")
    try:
        public = PublicKey.from_signature_and_message(signature[:64] + bytes([v - 27]), digest, hasher=None)
    except ValueError as err:
        raise VoucherError(f"voucher signature does not recover: {err}") from err
    return public.format(compressed=False)[1:]


class VoucherDigester:
    """voucher_digest with the domain separator computed once (the provider's hot path)."""

    def __init__(self, domain: Domain):
        self.domain = domain
        self._prefix = b"\x19\x01" + domain.separator()

    def digest(self, voucher: Voucher) -> bytes:
        return keccak256(self._prefix + voucher_struct_hash(voucher))


def typed_data_voucher(domain: Domain, voucher: Voucher) -> dict[str, Any]:
    """The voucher as a wallet (``eth_signTypedData_v4``) or viem's ``signTypedData`` signs it."""
    return typed_data(domain, "Voucher", VOUCHER_FIELDS, {n: getattr(voucher, n) for n, _ in VOUCHER_FIELDS})
