"""Fuzzed operations on JobEscrow: the job lifecycle, timeouts, disputes (arbiter, governance,
expiry)."""

from __future__ import annotations

from types import SimpleNamespace

from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import strategies as st

from scripts._signing import dispute_verdict_typed_data, evidence_hash, sign_dispute_verdict
from tests.fuzz.base import STATS, MachineBase, op
from tests.fuzz.model import Job
from tests.fuzz.params import (
    BPS,
    DISPUTE_ITEMS,
    DISPUTE_TIMEOUT,
    ETHER,
    EXPIRED_SHARE_BPS,
    NODES,
    RESULT_HASH,
    SCORE,
    SIGNER_MODES,
)


class EscrowOps(MachineBase):
    @op(
        4,
        r=st.integers(0, 1),
        budget=st.integers(1, 20_000 * ETHER),
        duration=st.sampled_from([3_600, 600, 86_400, 60]),
        min_score=st.sampled_from([0, 0, 0, 0, 1, SCORE, SCORE + 1]),
        model=st.integers(-2, 3),
    )
    def post_job(self, r, budget, duration, min_score, model):
        """`model`: -2 an unminted id (refused), -1 none, 0..3 a minted model (none while there is none)."""
        requester = self.w.actors["requesters"][r]
        nft_ids = sorted(self.m.nfts)
        minted = nft_ids[model % len(nft_ids)] if model >= 0 and nft_ids else 0
        model_id = 12345 if model == -2 else minted
        deadline = self.t + duration
        nft = self.m.nfts.get(model_id)
        if model_id and nft is None:
            expected = "JobEscrowUnknownModel"
        elif self.m.balances[requester] < budget:
            expected = "ERC20InsufficientBalance"
        else:
            expected = None
        args = (budget, deadline, min_score, model_id, b"\x01" * 32)
        if self.expect(expected, "JobEscrow", "postJob", *args, sender=requester):
            jid = len(self.m.jobs) + 1
            collateral = budget * self.w.params["collateral_bps"] // BPS
            self.m.jobs[jid] = Job(requester, budget, deadline, min_score, model_id, collateral)
            if nft is not None and nft["bps"]:
                self.m.jobs[jid].royalty = (nft["receiver"], nft["bps"])
            self.move(requester, self.w.addr["JobEscrow"], budget)

    @op(1, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def cancel_job(self, j, other):
        jid, job = self.pick_job(j, "open")
        sender, expected = self._requester_call(job, other, "open")
        if self.expect(expected, "JobEscrow", "cancelJob", jid, sender=sender):
            job.state = "closed"
            self.move(self.w.addr["JobEscrow"], job.requester, job.budget)

    def _other_requester(self, requester: str) -> str:
        return next(r for r in self.w.actors["requesters"] if r != requester)

    def _requester_call(self, job: Job, other: bool, state: str) -> tuple[str, str | None]:
        """Sender of a requester-only call (the job's requester, or another requester when
        ``other``) and the first error the escrow must give for it (None: it passes)."""
        sender = self._other_requester(job.requester) if other else job.requester
        if job.state != state:
            return sender, "JobEscrowWrongStatus"
        if sender != job.requester:
            return sender, "JobEscrowNotRequester"
        return sender, None

    @op(
        8,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        p=st.integers(0, 2),
        n=st.integers(0, len(NODES) - 1),
    )
    def accept_job(self, j, p, n):
        jid, job = self.pick_job(j, "open")
        prov = self.m.providers[self.w.actors["providers"][p]]
        own = sorted(prov.nodes)
        node = own[n % len(own)] if own and n != 3 else NODES[n]
        t = self.t
        rec = self.m.records.get(node)
        if job.state != "open":
            expected = "JobEscrowWrongStatus"
        elif t > job.deadline:
            expected = "JobEscrowDeadlinePassed"
        elif self.m.node_owner.get(node) != prov.addr:
            expected = "JobEscrowNotNodeOwner"
        elif job.min_score > 0 and (rec is None or rec[0] != prov.addr):
            expected = "AttestationRegistryNoRecord"
        elif job.min_score > 0 and rec[2] <= t:
            expected = "AttestationRegistryExpired"
        elif job.min_score > 0 and rec[3] < job.min_score:
            expected = "AttestationRegistryScoreTooLow"
        elif job.collateral > self.free(prov):
            expected = "ComputeStakingInsufficientFreeStake"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "acceptJob", jid, node, b"", sender=prov.addr):
            job.provider = prov.addr
            job.state = "accepted"
            prov.locked += job.collateral

    @op(8, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def submit_result(self, j, other):
        jid, job = self.pick_job(j, "accepted")
        providers = self.w.actors["providers"]
        sender = job.provider or providers[0]
        if other:
            sender = next(p for p in providers if p != sender)
        t = self.t
        if job.state != "accepted":
            expected = "JobEscrowWrongStatus"
        elif sender != job.provider:
            expected = "JobEscrowNotProvider"
        elif t > job.deadline:
            expected = "JobEscrowDeadlinePassed"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "submitResult", jid, RESULT_HASH, sender=sender):
            job.state = "submitted"
            job.end = t + self.w.params["challenge_window"]

    def _settle(self, job: Job) -> None:
        job.state = "closed"
        self.pay(job, job.budget)
        self.unlock(self.m.providers[job.provider], job.collateral)

    @op(2, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), other=st.booleans())
    def approve_result(self, j, other):
        jid, job = self.pick_job(j, "submitted")
        sender, expected = self._requester_call(job, other, "submitted")
        if self.expect(expected, "JobEscrow", "approveResult", jid, sender=sender):
            self._settle(job)

    @op(
        5,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        other=st.booleans(),
        items=st.integers(0, len(DISPUTE_ITEMS) - 1).map(DISPUTE_ITEMS.__getitem__),
    )
    def dispute(self, j, other, items):
        """The requester names the items it claims wrong (two of the sets are refused) and pays the bond."""
        jid, job = self.pick_job(j, "submitted")
        sender, expected = self._requester_call(job, other, "submitted")
        bond = self.w.params["dispute_bond"]
        if expected is None and self.t > job.end:
            expected = "JobEscrowChallengeWindowClosed"
        elif expected is None and not items:
            expected = "JobEscrowInvalidItemCount"
        elif expected is None and any(b <= a for a, b in zip(items, items[1:], strict=False)):
            expected = "JobEscrowItemsNotAscending"
        elif expected is None and self.m.balances[sender] < bond:
            expected = "ERC20InsufficientBalance"
        if self.expect(expected, "JobEscrow", "dispute", jid, RESULT_HASH, items, sender=sender):
            job.state, job.end = "disputed", self.t + DISPUTE_TIMEOUT
            job.bond, job.evidence = bond, evidence_hash(items)
            self.move(sender, self.w.addr["JobEscrow"], bond)

    @op(
        5,
        pre=lambda self: any(j.state == "disputed" for j in self.m.jobs.values()),
        j=st.integers(0, 10**6),
        at_fault=st.booleans(),
        signers=st.integers(0, len(SIGNER_MODES) - 1).map(SIGNER_MODES.__getitem__),
        variant=st.sampled_from(["good"] * 5 + ["wrong_result", "other_items", "expired", "other_job"]),
    )
    def settle_dispute(self, j, at_fault, signers, variant):
        """Anyone submits the oracles' verdict: refund + slash, or pay the provider and give it the bond."""
        jid, job = self.pick_job(j, "disputed")
        t = self.t
        result = keccak(text="not the result") if variant == "wrong_result" else RESULT_HASH
        evidence = evidence_hash([2, 3]) if variant == "other_items" else (job.evidence or evidence_hash([0]))
        expiry = t - 1 if variant == "expired" else t + 600
        signed_job = jid + 1 if variant == "other_job" else jid  # signed for another job: a replay
        data = dispute_verdict_typed_data(
            self.w.w3.eth.chain_id, self.w.addr["JobEscrow"], signed_job, result, evidence, at_fault, expiry
        )
        encoded = encode_typed_data(full_message=data)
        digest = keccak(b"\x19" + encoded.version + encoded.header + encoded.body)

        def sign(key):
            signer, signature = sign_dispute_verdict(key, data)
            return SimpleNamespace(signer=signer, signature=signature)

        sigs, sig_error = self.signatures(digest, signers, sign)
        if job.state != "disputed":
            expected = "JobEscrowWrongStatus"
        elif variant == "expired":
            expected = "JobEscrowVerdictExpired"
        elif variant in ("wrong_result", "other_items"):
            expected = "JobEscrowVerdictMismatch"
        elif variant == "other_job":
            # over another digest the first signature recovers to a stranger (sig_error for
            # too_few stays: the count is checked first)
            expected = (
                sig_error
                if sig_error == "AttestationRegistryTooFewSignatures"
                else "AttestationRegistryUnknownSigner"
            )
        else:
            expected = sig_error
        args = (jid, result, evidence, at_fault, expiry, sigs)
        if self.expect(expected, "JobEscrow", "settleDispute", *args, sender=self.w.actors["outsider"]):
            if at_fault:
                self._resolve_model(job, 0, job.collateral)
            else:
                self._resolve_model(job, BPS, 0)
            STATS[f"verdicts_settled_{'fault' if at_fault else 'false_claim'}"] += 1

    @op(3, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6))
    def finalize(self, j):
        jid, job = self.pick_job(j, "submitted")
        if job.state != "submitted":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.end:
            expected = "JobEscrowChallengeWindowOpen"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "finalize", jid, sender=self.w.actors["outsider"]):
            self._settle(job)

    @op(
        2,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        caller=st.sampled_from(["outsider", "provider"]),
    )
    def claim_timeout(self, j, caller):
        jid, job = self.pick_job(j, "accepted")
        outsider = self.w.actors["outsider"]
        if caller == "provider" and job.provider:
            outsider = job.provider  # the late provider claims its own timeout
        if job.state != "accepted":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.deadline:
            expected = "JobEscrowDeadlineNotPassed"
        else:
            expected = None
        balance = self.w.c["ComputeToken"].functions.balanceOf
        before = (balance(job.requester).call(), balance(job.provider).call()) if job.provider else (0, 0)
        if self.expect(expected, "JobEscrow", "claimTimeout", jid, sender=outsider):
            job.state = "closed"
            self.move(self.w.addr["JobEscrow"], job.requester, job.budget)
            if job.collateral:
                self.slash_locked(self.m.providers[job.provider], job.collateral, outsider, job.requester)
            # The requester got the budget back and the designed harmed share of the whole collateral
            # (plus the finder share when the late provider called), read from the chain, not the model.
            params = self.w.params
            harmed = job.collateral * params["harmed_share_bps"] // BPS
            finder = job.collateral * params["finder_share_bps"] // BPS if outsider == job.provider else 0
            gained = balance(job.requester).call() - before[0]
            assert gained == job.budget + harmed + finder, f"timed-out job {jid}: requester got {gained}"
            if outsider == job.provider:
                assert balance(job.provider).call() == before[1], "the late provider was paid"
            STATS["timeouts_harmed_share_checked"] += 1

    def _resolution_error(self, job: Job, share: int, slash: int) -> str | None:
        if job.state != "disputed":
            return "JobEscrowWrongStatus"
        if share > BPS:
            return "JobEscrowInvalidShare"
        if slash > job.collateral:
            return "JobEscrowSlashExceedsCollateral"
        return None

    def _resolve_model(self, job: Job, share: int, slash: int) -> None:
        """A dispute closes: `share` of the budget paid, and of the bond (the bond follows the budget)."""
        job.state = "closed"
        escrow = self.w.addr["JobEscrow"]
        price = job.budget * share // BPS
        bond_to_provider = job.bond * share // BPS
        if price:
            self.pay(job, price)
        if bond_to_provider:
            self.move(escrow, job.provider, bond_to_provider)
        back = (job.budget - price) + (job.bond - bond_to_provider)
        if back:
            self.move(escrow, job.requester, back)
        job.bond = 0
        prov = self.m.providers[job.provider]
        if slash:
            self.slash_locked(prov, slash, job.requester, job.requester)
        if job.collateral > slash:
            self.unlock(prov, job.collateral - slash)

    @op(
        3,
        pre=lambda self: self.m.jobs,
        j=st.integers(0, 10**6),
        share=st.integers(0, BPS + 1),
        slash_pct=st.integers(0, 101),
    )
    def resolve_by_arbiter(self, j, share, slash_pct):
        jid, job = self.pick_job(j, "disputed")
        slash = job.collateral * slash_pct // 100 + (1 if slash_pct == 101 else 0)
        expected = self._resolution_error(job, share, slash)
        args = (jid, share, slash)
        if self.expect(expected, "JobEscrow", "resolveDispute", *args, sender=self.w.actors["arbiter"]):
            self._resolve_model(job, share, slash)

    @op(2, pre=lambda self: self.m.jobs, j=st.integers(0, 10**6), wait=st.booleans())
    def expire_dispute(self, j, wait):
        """Anyone closes a dispute nobody resolved in time: 50/50, collateral unlocked, no slash.
        With ``wait`` the arbiters' 14 days first pass without a decision."""
        jid, job = self.pick_job(j, "disputed")
        if wait and job.state == "disputed" and self.t <= job.end:
            self.w.set_time(job.end)  # the next transaction is mined at job.end + 1
            self.m.now = self.w.latest_timestamp()
        if job.state != "disputed":
            expected = "JobEscrowWrongStatus"
        elif self.t <= job.end:
            expected = "JobEscrowDisputeNotExpired"
        else:
            expected = None
        if self.expect(expected, "JobEscrow", "expireDispute", jid, sender=self.w.actors["outsider"]):
            self._resolve_model(job, EXPIRED_SHARE_BPS, 0)

    @op(
        3,
        pre=lambda self: any(j.state == "disputed" for j in self.m.jobs.values()),
        j=st.integers(0, 10**6),
        share=st.integers(0, BPS),
        slash_pct=st.integers(0, 100),
    )
    def resolve_through_governance(self, j, share, slash_pct):
        """A full proposal: propose, vote, queue, wait the timelock delay, execute."""
        disputed = [jid for jid in self.job_ids() if self.m.jobs[jid].state == "disputed"]
        jid = disputed[j % len(disputed)]
        job = self.m.jobs[jid]
        slash = job.collateral * slash_pct // 100
        w, voter = self.w, self.w.actors["deployer"]
        calldata = w.c["JobEscrow"].encode_abi("resolveDispute", args=[jid, share, slash])
        self.proposals += 1
        description = f"fuzz: resolve job {jid} ({self.proposals}, {self.m.now})"
        targets, values, calldatas = [w.addr["JobEscrow"]], [0], [calldata]
        dhash = keccak(text=description)
        gov = w.c["ComputeGovernor"].functions
        assert self.expect(
            None, "ComputeGovernor", "propose", targets, values, calldatas, description, sender=voter
        )
        pid = gov.hashProposal(targets, values, calldatas, dhash).call()
        w.set_time(gov.proposalSnapshot(pid).call() + 1)
        assert self.expect(None, "ComputeGovernor", "castVote", pid, 1, sender=voter)
        w.set_time(gov.proposalDeadline(pid).call() + 1)
        assert self.expect(None, "ComputeGovernor", "queue", targets, values, calldatas, dhash, sender=voter)
        w.set_time(gov.proposalEta(pid).call())
        self.m.now = w.latest_timestamp()
        assert self.expect(
            None, "ComputeGovernor", "execute", targets, values, calldatas, dhash, sender=voter
        )
        self._resolve_model(job, share, slash)
        STATS["governance_proposals_executed"] += 1
