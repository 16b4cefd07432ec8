"""The job escrow as the job agent and the requester's client see it: typed reads of jobs, their
events, model royalties and node endpoints, and the transactions of a job's lifecycle, over
:class:`oracle.chain.ChainClient` (gas estimation, nonces, retries, decoded custom errors).

Node endpoints: a provider's node is registered in ``ComputeStaking`` with a ``metadataURI``; the
job agent's base URL is that URI (as for the capacity challenges), so the requester finds where
outputs are served from the node named in ``JobAccepted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3.logs import DISCARD

from oracle.attest import typed_data
from oracle.chain import ChainClient, TxResult

BPS = 10_000


class Status(IntEnum):
    NONE = 0
    OPEN = 1
    ACCEPTED = 2
    SUBMITTED = 3
    DISPUTED = 4
    CLOSED = 5


@dataclass(frozen=True)
class Job:
    """A job as ``getJob`` returns it, with the model id from its ``JobPosted`` event (the escrow
    keeps only the model's royalty terms, snapshotted at post time)."""

    job_id: int
    requester: str
    deadline: int
    min_score: int
    status: Status
    collateral_bps: int
    provider: str
    budget: int
    royalty_receiver: str
    royalty_bps: int
    bond: int
    model_id: int


@dataclass(frozen=True)
class Royalty:
    receiver: str
    amount: int
    bps: int


PERMIT_FIELDS = [
    ("owner", "address"),
    ("spender", "address"),
    ("value", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]
"""EIP-2612's ``Permit`` struct."""


class Escrow:
    """JobEscrow (+ ModelNFT, ComputeStaking, ComputeToken) through one :class:`ChainClient`."""

    def __init__(self, chain: ChainClient):
        self.chain = chain

    @property
    def address(self) -> str:
        return self.chain.deployment.get("JobEscrow").address

    @property
    def me(self) -> str:
        assert self.chain.account is not None
        return self.chain.account.address

    # -- reads ------------------------------------------------------------------------------

    def job(self, job_id: int) -> Job:
        r = self.chain.call("JobEscrow", "getJob", job_id)
        status = Status(int(r[3]))
        model_id = int(self.posted(job_id)["modelId"]) if status != Status.NONE else 0
        return Job(
            job_id,
            r[0],
            int(r[1]),
            int(r[2]),
            status,
            int(r[4]),
            r[5],
            int(r[6]),
            r[7],
            int(r[8]),
            int(r[9]),
            model_id,
        )

    def job_royalty(self, job: Job) -> Royalty:
        """What settling ``job`` pays the model's creator: its snapshotted terms on the budget."""
        return Royalty(job.royalty_receiver, job.budget * job.royalty_bps // BPS, job.royalty_bps)

    def dispute_bond(self) -> int:
        return int(self.chain.call("JobEscrow", "disputeBond"))

    def job_count(self) -> int:
        return int(self.chain.call("JobEscrow", "jobCount"))

    def fee_bps(self) -> int:
        return int(self.chain.call("JobEscrow", "feeBps"))

    def royalty(self, model_id: int, price: int) -> Royalty:
        receiver, amount = self.chain.call("ModelNFT", "royaltyInfo", model_id, price)
        return Royalty(receiver, int(amount), int(amount) * BPS // price if price else 0)

    def model_exists(self, model_id: int) -> bool:
        return bool(self.chain.call("ModelNFT", "exists", model_id))

    def node_endpoint(self, node_id: bytes) -> str:
        return str(self.chain.call("ComputeStaking", "nodeInfo", node_id)[3])

    def free_stake(self, provider: str) -> int:
        return int(self.chain.call("ComputeStaking", "freeStake", provider))

    def events(self, name: str, job_id: int | None = None, from_block: int | None = None) -> list[Any]:
        logs = self.chain.events("JobEscrow", name, from_block=from_block)
        return [e for e in logs if job_id is None or int(e["args"]["jobId"]) == job_id]

    def posted(self, job_id: int) -> dict[str, Any]:
        found = self.events("JobPosted", job_id)
        if not found:
            raise LookupError(f"no JobPosted event for job {job_id}")
        return dict(found[0]["args"])

    def result_hash(self, job_id: int) -> bytes | None:
        found = self.events("ResultSubmitted", job_id)
        return bytes(found[-1]["args"]["resultHash"]) if found else None

    def accepted_node(self, job_id: int) -> bytes | None:
        found = self.events("JobAccepted", job_id)
        return bytes(found[-1]["args"]["nodeId"]) if found else None

    # -- requester --------------------------------------------------------------------------

    def approve_token(self, amount: int) -> TxResult:
        return self.chain.transact("ComputeToken", "approve", self.address, amount)

    def permit(self, amount: int, deadline: int) -> tuple[int, bytes, bytes]:
        """An EIP-2612 permit for the escrow to take ``amount`` (signed by the client's key)."""
        account = self.chain.account
        assert account is not None
        token = self.chain.deployment.get("ComputeToken").address
        domain = {
            "name": self.chain.call("ComputeToken", "name"),
            "version": "1",
            "chainId": self.chain.deployment.chain_id,
            "verifyingContract": token,
        }
        message = {
            "owner": account.address,
            "spender": self.address,
            "value": amount,
            "nonce": int(self.chain.call("ComputeToken", "nonces", account.address)),
            "deadline": deadline,
        }
        data = typed_data(domain, "Permit", PERMIT_FIELDS, message)
        sig = Account.sign_message(encode_typed_data(full_message=data), account.key)
        return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")

    def post(
        self,
        budget: int,
        deadline: int,
        min_score: int,
        model_id: int,
        spec_hash: bytes,
        *,
        use_permit: bool = True,
    ) -> tuple[int, TxResult]:
        """Post a job (permit in the same transaction, or approve first); returns (job id, tx)."""
        if use_permit:
            permit_deadline = self.chain.block_timestamp() + 3600
            v, r, s = self.permit(budget, permit_deadline)
            tx = self.chain.transact(
                "JobEscrow",
                "postJobWithPermit",
                budget,
                deadline,
                min_score,
                model_id,
                spec_hash,
                permit_deadline,
                v,
                r,
                s,
            )
        else:
            self.approve_token(budget)
            tx = self.chain.transact("JobEscrow", "postJob", budget, deadline, min_score, model_id, spec_hash)
        logs = self.chain.contract("JobEscrow").events.JobPosted().process_receipt(tx.receipt, errors=DISCARD)
        return int(logs[0]["args"]["jobId"]), tx

    def approve_result(self, job_id: int) -> TxResult:
        return self.chain.transact("JobEscrow", "approveResult", job_id)

    def dispute(self, job_id: int, result_hash: bytes, items: list[int]) -> TxResult:
        """Dispute naming ``items`` (strictly ascending), paying the governed bond (approved first)."""
        bond = self.dispute_bond()
        if bond:
            self.approve_token(bond)
        return self.chain.transact("JobEscrow", "dispute", job_id, result_hash, list(items))

    def settle_dispute(
        self,
        job_id: int,
        result_hash: bytes,
        evidence_hash: bytes,
        at_fault: bool,
        expiry: int,
        sigs: list[bytes],
        on_signed=None,
    ) -> TxResult:
        """Submit the validators' verdict (``sigs``: k signatures, signers ascending)."""
        return self.chain.transact(
            "JobEscrow",
            "settleDispute",
            job_id,
            result_hash,
            evidence_hash,
            at_fault,
            expiry,
            sigs,
            on_signed=on_signed,
        )

    # -- provider ---------------------------------------------------------------------------

    def accept(self, job_id: int, node_id: bytes, on_signed=None) -> TxResult:
        return self.chain.transact("JobEscrow", "acceptJob", job_id, node_id, b"", on_signed=on_signed)

    def submit(self, job_id: int, result_hash: bytes, on_signed=None) -> TxResult:
        return self.chain.transact("JobEscrow", "submitResult", job_id, result_hash, on_signed=on_signed)
