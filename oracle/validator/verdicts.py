"""Validators' verdicts on disputed jobs: judge the disputed items (:mod:`oracle.work.dispute`:
re-run as one batch, compared under the manifest's rules) and sign the EIP-712 verdict that
``JobEscrow.settleDispute`` checks; k of n signatures (signers ascending,
:func:`oracle.attest.aggregate`) settle the dispute on chain.

Typed data (contracts/escrow/README.md on the money branch; domain name "JobEscrow", version "1",
the chain id and the escrow's address)::

    DisputeVerdict(uint256 jobId,bytes32 resultHash,bytes32 evidenceHash,bool providerAtFault,uint64 expiry)

``resultHash`` is the root the provider submitted, ``evidenceHash`` the dispute's commitment to its
items (:func:`oracle.work.dispute.evidence_hash`), ``providerAtFault`` the judgement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from oracle import wire
from oracle.attest import Domain, Signature, sign_digest, typed_data, typed_digest
from oracle.work.dispute import DisputeError, Judgement, evidence_hash
from oracle.work.errors import ProofError
from oracle.work.items import Opening

ESCROW_NAME, ESCROW_VERSION = "JobEscrow", "1"
VERDICT_TYPE = (
    "DisputeVerdict(uint256 jobId,bytes32 resultHash,bytes32 evidenceHash,bool providerAtFault,uint64 expiry)"
)
VERDICT_TYPEHASH = keccak(text=VERDICT_TYPE)
VERDICT_FIELDS = [
    ("jobId", "uint256"),
    ("resultHash", "bytes32"),
    ("evidenceHash", "bytes32"),
    ("providerAtFault", "bool"),
    ("expiry", "uint64"),
]


def escrow_domain(chain_id: int, escrow: str) -> Domain:
    return Domain(chain_id=chain_id, verifying_contract=escrow, name=ESCROW_NAME, version=ESCROW_VERSION)


@dataclass(frozen=True)
class DisputeVerdict:
    job_id: int
    result_hash: bytes
    evidence_hash: bytes
    provider_at_fault: bool
    expiry: int

    def struct_hash(self) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "uint256", "bytes32", "bytes32", "bool", "uint64"],
                [
                    VERDICT_TYPEHASH,
                    self.job_id,
                    self.result_hash,
                    self.evidence_hash,
                    self.provider_at_fault,
                    self.expiry,
                ],
            )
        )

    def digest(self, domain: Domain) -> bytes:
        return typed_digest(domain, self.struct_hash())

    def to_json(self) -> dict[str, Any]:
        """The message as validators publish and compare it (hex bytes, integers)."""
        return {
            "jobId": self.job_id,
            "resultHash": "0x" + self.result_hash.hex(),
            "evidenceHash": "0x" + self.evidence_hash.hex(),
            "providerAtFault": self.provider_at_fault,
            "expiry": self.expiry,
        }

    @classmethod
    def from_json(cls, data: Any) -> DisputeVerdict:
        try:
            verdict = cls(
                int(data["jobId"]),
                bytes.fromhex(data["resultHash"].removeprefix("0x")),
                bytes.fromhex(data["evidenceHash"].removeprefix("0x")),
                data["providerAtFault"],
                int(data["expiry"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DisputeError(f"malformed verdict ({exc}); expected the fields of {VERDICT_TYPE}") from None
        if len(verdict.result_hash) != 32 or len(verdict.evidence_hash) != 32:
            raise DisputeError("malformed verdict: resultHash and evidenceHash are 32 bytes each")
        if not isinstance(verdict.provider_at_fault, bool):
            raise DisputeError("malformed verdict: providerAtFault must be true or false")
        return verdict

    def typed_data(self, domain: Domain) -> dict:
        """The message as a wallet (``eth_signTypedData_v4``) signs it."""
        message = {
            "jobId": self.job_id,
            "resultHash": self.result_hash,
            "evidenceHash": self.evidence_hash,
            "providerAtFault": self.provider_at_fault,
            "expiry": self.expiry,
        }
        return typed_data(domain, "DisputeVerdict", VERDICT_FIELDS, message)


def sign_verdict(private_key: bytes | str, domain: Domain, verdict: DisputeVerdict) -> Signature:
    return sign_digest(private_key, verdict.digest(domain))


def verdict_for(
    job_id: int, result_hash: bytes, items: Sequence[int], judgement: Judgement, expiry: int
) -> DisputeVerdict:
    return DisputeVerdict(
        job_id, result_hash, evidence_hash(sorted(set(items))), judgement.provider_at_fault, expiry
    )


def openings_from_provider(
    base_url: str, job_id: int, items: Sequence[int], timeout: float = 30.0
) -> list[Opening]:
    """The provider's openings of ``items`` (``GET <node uri>/jobs/<id>/open?items=..``), read with
    the bounded client (:mod:`oracle.wire`: one deadline, a size limit, strict JSON). Nothing in
    the answer is trusted: :func:`oracle.work.dispute.judge` checks each against ``resultHash``.
    :class:`DisputeError` when the provider does not answer with openings (unreachable, an error
    status, a malformed answer): the caller decides whether that counts against it yet."""
    query = ",".join(str(i) for i in items)
    try:
        status, body = wire.call_json(
            base_url, "GET", f"/jobs/{job_id}/open?items={query}", timeout_s=timeout
        )
        if status != 200 or not isinstance(body, dict):
            detail = body.get("error", "") if isinstance(body, dict) else ""
            raise DisputeError(f"HTTP {status} {detail}".rstrip())
        return [Opening.from_json(o) for o in body.get("openings", [])]
    except (wire.WireError, ProofError, DisputeError, AttributeError, TypeError) as exc:
        raise DisputeError(
            f"the provider at {base_url} did not open items {list(items)[:8]}: {exc}"
        ) from None
