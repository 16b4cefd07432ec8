"""EIP-712 attestations, batches and fault reports, byte for byte as AttestationRegistry.sol.

Pure functions: typed-data hashing (struct hashes, the domain separator, digests), signing with
eth-account, Merkle trees whose proofs OpenZeppelin's ``MerkleProof`` accepts (pairs hashed
sorted), and signature aggregation (signatures ordered by signer address, as the contract
requires). ``typed_data_*`` build the same messages as plain EIP-712 dicts for wallets and for the
cross-check with ``eth_account.messages.encode_typed_data``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from oracle.errors import OracleError

REGISTRY_NAME = "AttestationRegistry"
REGISTRY_VERSION = "1"

ATTESTATION_FIELDS: list[tuple[str, str]] = [
    ("provider", "address"),
    ("nodeId", "bytes32"),
    ("gpuModel", "bytes32"),
    ("vramMiB", "uint32"),
    ("fp32", "uint32"),
    ("tf32", "uint32"),
    ("fp16", "uint32"),
    ("bf16", "uint32"),
    ("memBandwidth", "uint32"),
    ("powerW", "uint32"),
    ("score", "uint32"),
    ("epoch", "uint64"),
    ("reportHash", "bytes32"),
    ("expiry", "uint64"),
]
BATCH_FIELDS: list[tuple[str, str]] = [("root", "bytes32"), ("epoch", "uint64"), ("expiry", "uint64")]
FAULT_FIELDS: list[tuple[str, str]] = [
    ("provider", "address"),
    ("nodeId", "bytes32"),
    ("epoch", "uint64"),
    ("reasonHash", "bytes32"),
    ("slashAmount", "uint256"),
    ("finder", "address"),
]
DOMAIN_FIELDS: list[tuple[str, str]] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
]


class AttestError(OracleError, ValueError):
    """A value cannot be encoded as the registry expects (the message says which and why)."""


def _type_string(name: str, spec: list[tuple[str, str]]) -> str:
    return f"{name}(" + ",".join(f"{t} {n}" for n, t in spec) + ")"


ATTESTATION_TYPEHASH = keccak(text=_type_string("Attestation", ATTESTATION_FIELDS))
BATCH_TYPEHASH = keccak(text=_type_string("Batch", BATCH_FIELDS))
FAULT_TYPEHASH = keccak(text=_type_string("Fault", FAULT_FIELDS))
DOMAIN_TYPEHASH = keccak(text=_type_string("EIP712Domain", DOMAIN_FIELDS))

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def as_bytes32(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        value = bytes.fromhex(value.removeprefix("0x"))
    if len(value) != 32:
        raise AttestError(f"{what} must be 32 bytes, got {len(value)}")
    return bytes(value)


def gpu_model_bytes32(name: str) -> bytes:
    """A GPU model name as the registry's ``bytes32 gpuModel``: UTF-8, zero right-padded,
    truncated to 32 bytes."""
    raw = name.encode("utf-8")[:32]
    return raw.ljust(32, b"\0")


def gpu_model_name(value: bytes) -> str:
    """The inverse of :func:`gpu_model_bytes32` (up to truncation)."""
    return bytes(value).rstrip(b"\0").decode("utf-8", errors="replace")


def tflops_fixed(tflops: float) -> int:
    """TFLOPS as the registry's fixed point (TFLOPS * 100, rounded, clamped to uint32)."""
    return max(0, min(UINT32_MAX, round(tflops * 100)))


@dataclass(frozen=True)
class Attestation:
    """One node's verified figures for one epoch (the Solidity struct, field for field)."""

    provider: str
    nodeId: bytes
    gpuModel: bytes
    vramMiB: int
    fp32: int
    tf32: int
    fp16: int
    bf16: int
    memBandwidth: int
    powerW: int
    score: int
    epoch: int
    reportHash: bytes
    expiry: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", to_checksum_address(self.provider))
        object.__setattr__(self, "nodeId", as_bytes32(self.nodeId, "nodeId"))
        object.__setattr__(self, "gpuModel", as_bytes32(self.gpuModel, "gpuModel"))
        object.__setattr__(self, "reportHash", as_bytes32(self.reportHash, "reportHash"))
        for name, typ in ATTESTATION_FIELDS:
            if typ.startswith("uint"):
                bits = int(typ[4:])
                value = getattr(self, name)
                if not isinstance(value, int) or value < 0 or value >= 2**bits:
                    raise AttestError(f"{name}={value!r} does not fit {typ}")

    def as_tuple(self) -> tuple:
        """The ABI tuple (field order of the Solidity struct) for contract calls."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (bytes as 0x hex)."""
        return {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attestation:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Batch:
    """A quorum-signed Merkle root over one epoch's attestations."""

    root: bytes
    epoch: int
    expiry: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", as_bytes32(self.root, "root"))


@dataclass(frozen=True)
class Fault:
    """A fault (e.g. a failed challenge) that k validators sign to slash the provider."""

    provider: str
    nodeId: bytes
    epoch: int
    reasonHash: bytes
    slashAmount: int
    finder: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", to_checksum_address(self.provider))
        object.__setattr__(self, "finder", to_checksum_address(self.finder))
        object.__setattr__(self, "nodeId", as_bytes32(self.nodeId, "nodeId"))
        object.__setattr__(self, "reasonHash", as_bytes32(self.reasonHash, "reasonHash"))

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Domain:
    """The registry's EIP-712 domain: bound to the chain id and the registry's address."""

    chain_id: int
    verifying_contract: str
    name: str = REGISTRY_NAME
    version: str = REGISTRY_VERSION

    def separator(self) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    DOMAIN_TYPEHASH,
                    keccak(text=self.name),
                    keccak(text=self.version),
                    self.chain_id,
                    to_checksum_address(self.verifying_contract),
                ],
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def _struct_hash(typehash: bytes, spec: list[tuple[str, str]], obj: Any) -> bytes:
    return keccak(
        abi_encode(["bytes32"] + [t for _, t in spec], [typehash] + [getattr(obj, n) for n, _ in spec])
    )


def attestation_struct_hash(att: Attestation) -> bytes:
    """EIP-712 ``hashStruct`` of an attestation; also its Merkle leaf in a batch."""
    return _struct_hash(ATTESTATION_TYPEHASH, ATTESTATION_FIELDS, att)


def batch_struct_hash(batch: Batch) -> bytes:
    return _struct_hash(BATCH_TYPEHASH, BATCH_FIELDS, batch)


def fault_struct_hash(fault: Fault) -> bytes:
    """EIP-712 ``hashStruct`` of a fault (the registry's replay key)."""
    return _struct_hash(FAULT_TYPEHASH, FAULT_FIELDS, fault)


def typed_digest(domain: Domain, struct_hash: bytes) -> bytes:
    """keccak256("\\x19\\x01" || domainSeparator || structHash)."""
    return keccak(b"\x19\x01" + domain.separator() + struct_hash)


def attestation_digest(domain: Domain, att: Attestation) -> bytes:
    return typed_digest(domain, attestation_struct_hash(att))


def batch_digest(domain: Domain, batch: Batch) -> bytes:
    return typed_digest(domain, batch_struct_hash(batch))


def fault_digest(domain: Domain, fault: Fault) -> bytes:
    return typed_digest(domain, fault_struct_hash(fault))


def typed_data(
    domain: Domain | Mapping[str, Any], primary: str, spec: list[tuple[str, str]], message: Mapping[str, Any]
) -> dict[str, Any]:
    """An EIP-712 message as a wallet (``eth_signTypedData_v4``) signs it: ``primary`` with the
    fields ``spec`` (name, type) and their values in ``message``, in ``domain`` (a :class:`Domain`
    or its four fields)."""
    return {
        "types": {
            "EIP712Domain": [{"name": n, "type": t} for n, t in DOMAIN_FIELDS],
            primary: [{"name": n, "type": t} for n, t in spec],
        },
        "primaryType": primary,
        "domain": domain.as_dict() if isinstance(domain, Domain) else dict(domain),
        "message": {n: message[n] for n, _ in spec},
    }


def _typed_data(domain: Domain, primary: str, spec: list[tuple[str, str]], obj: Any) -> dict[str, Any]:
    return typed_data(domain, primary, spec, {n: getattr(obj, n) for n, _ in spec})


def typed_data_attestation(domain: Domain, att: Attestation) -> dict[str, Any]:
    """The EIP-712 message as a wallet (``eth_signTypedData_v4``) would sign it."""
    return _typed_data(domain, "Attestation", ATTESTATION_FIELDS, att)


def typed_data_batch(domain: Domain, batch: Batch) -> dict[str, Any]:
    return _typed_data(domain, "Batch", BATCH_FIELDS, batch)


def typed_data_fault(domain: Domain, fault: Fault) -> dict[str, Any]:
    return _typed_data(domain, "Fault", FAULT_FIELDS, fault)


# ------------------------------------------------------------------------------------------
# Signing and aggregation
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One oracle's 65-byte (r, s, v) signature over a digest."""

    signer: str
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"signer": self.signer, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Signature:
        return cls(to_checksum_address(data["signer"]), bytes.fromhex(data["signature"].removeprefix("0x")))


def sign_digest(private_key: bytes | str, digest: bytes) -> Signature:
    """Sign an EIP-712 digest (already domain-bound) with a raw private key."""
    signed = Account.unsafe_sign_hash(digest, private_key)
    signer = Account.from_key(private_key).address
    return Signature(signer, bytes(signed.signature))


def recover_signer(digest: bytes, signature: bytes) -> str:
    return to_checksum_address(Account._recover_hash(digest, signature=signature))


def sign_attestation(private_key: bytes | str, domain: Domain, att: Attestation) -> Signature:
    return sign_digest(private_key, attestation_digest(domain, att))


def sign_batch(private_key: bytes | str, domain: Domain, batch: Batch) -> Signature:
    return sign_digest(private_key, batch_digest(domain, batch))


def sign_fault(private_key: bytes | str, domain: Domain, fault: Fault) -> Signature:
    return sign_digest(private_key, fault_digest(domain, fault))


def aggregate(
    signatures: Iterable[Signature],
    threshold: int,
    digest: bytes | None = None,
    oracles: Iterable[str] | None = None,
) -> list[bytes]:
    """The signature list the registry accepts: one per signer, ordered by signer address
    ascending, trimmed to ``threshold``. With ``digest``, signatures that do not recover to their
    claimed signer are dropped; with ``oracles``, so are signers outside the set.

    Raises AttestError if fewer than ``threshold`` usable signatures remain."""
    allowed = {to_checksum_address(o) for o in oracles} if oracles is not None else None
    by_signer: dict[str, bytes] = {}
    for sig in signatures:
        signer = to_checksum_address(sig.signer)
        if allowed is not None and signer not in allowed:
            continue
        if digest is not None:
            try:
                if recover_signer(digest, sig.signature) != signer:
                    continue
            except Exception:  # malformed signature: skip it, count the rest
                continue
        by_signer.setdefault(signer, sig.signature)
    if len(by_signer) < threshold:
        raise AttestError(
            f"only {len(by_signer)} usable signatures from distinct oracles, threshold is {threshold}: "
            "wait for more validators to sign"
        )
    ordered = sorted(by_signer.items(), key=lambda kv: int(kv[0], 16))
    return [sig for _, sig in ordered[:threshold]]
