"""The keccak Merkle tree of batch attestations, as the AttestationRegistry verifies it
(OpenZeppelin ``MerkleProof``: pairs hashed in sorted order; leaves are attestation struct hashes,
:func:`oracle.attest.attestation_struct_hash`), and the ``checkScore`` proof argument. Not the
SHA-256 row tree of :mod:`oracle.merkle`, which never reaches the chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak

from oracle.attest import ATTESTATION_FIELDS, Attestation, AttestError, as_bytes32


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass
class MerkleTree:
    """A binary Merkle tree over 32-byte leaves (kept in the given order). A node without a
    sibling on its level is carried up unchanged, so its proof simply has no element there."""

    layers: list[list[bytes]]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        if not leaves:
            raise AttestError("a Merkle tree needs at least one leaf")
        layer = [as_bytes32(leaf, "leaf") for leaf in leaves]
        layers = [layer]
        while len(layer) > 1:
            nxt = [hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
            if len(layer) % 2:
                nxt.append(layer[-1])
            layers.append(nxt)
            layer = nxt
        return cls(layers)

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < len(self.layers[0]):
            raise AttestError(f"leaf index {index} out of range (tree has {len(self.layers[0])} leaves)")
        out = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                out.append(layer[sibling])
            index //= 2
        return out


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """OpenZeppelin ``MerkleProof.processProof``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return process_proof(leaf, proof) == root


def encode_score_proof(att: Attestation, root: bytes, proof: Sequence[bytes]) -> bytes:
    """The ``proof`` argument of ``checkScore``: abi.encode(Attestation, bytes32 root, bytes32[])."""
    att_type = "(" + ",".join(t for _, t in ATTESTATION_FIELDS) + ")"
    return abi_encode([att_type, "bytes32", "bytes32[]"], [att.as_tuple(), root, list(proof)])
