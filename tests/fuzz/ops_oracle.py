"""Fuzzed operations on AttestationRegistry: attestations signed k of n, fault reports."""

from __future__ import annotations

from eth_utils import keccak
from hypothesis import strategies as st

from oracle.attest import (
    Attestation,
    Fault,
    attestation_digest,
    fault_digest,
    fault_struct_hash,
    gpu_model_bytes32,
    sign_attestation,
    sign_fault,
)
from tests.fuzz.base import STATS, MachineBase, op
from tests.fuzz.params import ETHER, GPU_MODEL, NODES, SCORE, SIGNER_MODES, ZERO


class OracleOps(MachineBase):
    @op(
        6,
        n=st.integers(0, len(NODES) - 1),
        p=st.integers(0, 2),
        epoch_mode=st.sampled_from(["next", "next", "gap", "replay", "older"]),
        signers=st.integers(0, len(SIGNER_MODES) - 1).map(SIGNER_MODES.__getitem__),
        expiry_mode=st.sampled_from(["valid", "valid", "past", "too_far"]),
        score=st.sampled_from([SCORE, SCORE, 1, 0]),
        submitter=st.integers(0, 2),
    )
    def submit_attestation(self, n, p, epoch_mode, signers, expiry_mode, score, submitter):
        node = NODES[n]
        owner = self.m.node_owner.get(node)
        provider = owner if owner and p != 2 else self.w.actors["providers"][p]
        last = self.m.records.get(node, (None, 0, 0, 0))[1]
        epoch = {"next": last + 1, "gap": last + 7, "replay": last, "older": max(last - 1, 0)}[epoch_mode]
        t = self.t
        max_validity = self.w.params["attestation_max_validity"]
        expiry = {"valid": t + 3_600, "past": t - 1, "too_far": t + max_validity + 1}[expiry_mode]
        att = Attestation(
            provider=provider,
            nodeId=node,
            gpuModel=gpu_model_bytes32(GPU_MODEL),
            vramMiB=81_559,
            fp32=6_700,
            tf32=49_500,
            fp16=98_900,
            bf16=98_900,
            memBandwidth=3_350,
            powerW=700,
            score=score,
            epoch=epoch,
            reportHash=keccak(text=f"report-{epoch}"),
            expiry=expiry,
        )
        digest = attestation_digest(self.w.domain, att)
        sigs, sig_error = self.signatures(digest, signers, lambda k: sign_attestation(k, self.w.domain, att))
        if sig_error:
            expected = sig_error
        elif expiry <= t:
            expected = "AttestationRegistryExpired"
        elif expiry > t + max_validity:
            expected = "AttestationRegistryExpiryTooFar"
        elif epoch <= last:
            expected = "AttestationRegistryStaleEpoch"
        elif self.m.node_owner.get(node) != provider:
            expected = "AttestationRegistryNotNodeOwner"
        else:
            expected = None
        sender = [self.w.actors["outsider"], provider, self.w.actors["deployer"]][submitter]
        ok = self.expect(expected, "AttestationRegistry", "submit", att.as_tuple(), sigs, sender=sender)
        if expected == "AttestationRegistryStaleEpoch":
            STATS["replays_rejected"] += 1
        if ok:
            history = self.m.epochs_accepted.setdefault(node, [])
            assert not history or epoch > history[-1], f"epoch {epoch} accepted after {history}"
            history.append(epoch)
            self.m.records[node] = (provider, epoch, expiry, score)
            STATS["attestations_accepted"] += 1

    @op(
        2,
        p=st.integers(0, 2),
        amount=st.sampled_from([0, 1, 10 * ETHER, 999 * ETHER, 1_000 * ETHER, 1_000 * ETHER + 1]),
        finder=st.sampled_from(["outsider", "none", "provider"]),
        replay=st.booleans(),
        signers=st.sampled_from(["quorum", "quorum", "too_few", "outsider"]),
    )
    def report_fault(self, p, amount, finder, replay, signers):
        provider = self.w.actors["providers"][p]
        # "provider": the faulty provider names itself as the finder; it must earn nothing
        finder_addr = {"outsider": self.w.actors["outsider"], "none": ZERO, "provider": provider}[finder]
        epoch = len(self.m.faults) + 1
        if replay and self.m.faults:
            fault = sorted(self.m.faults, key=lambda f: f.epoch)[0]
        else:
            fault = Fault(provider, NODES[p], epoch, keccak(text="fuzz-fault"), amount, finder_addr)
        digest = fault_digest(self.w.domain, fault)
        sigs, sig_error = self.signatures(digest, signers, lambda k: sign_fault(k, self.w.domain, fault))
        if fault.slashAmount > self.w.params["attestation_max_slash"]:
            expected = "AttestationRegistrySlashTooLarge"
        elif fault in self.m.faults:
            expected = "AttestationRegistryFaultAlreadyReported"
        elif sig_error:
            expected = sig_error
        else:
            expected = None
        if self.expect(
            expected, "AttestationRegistry", "reportFault", fault.as_tuple(), sigs, sender=provider
        ):
            self.m.faults.add(fault)
            if fault.slashAmount == 0:  # a flag (e.g. latency): recorded, no stake moves
                STATS["flags_recorded"] += 1
            else:
                self.slash(self.m.providers[fault.provider], fault.slashAmount, fault.finder, ZERO)
            assert fault_struct_hash(fault)  # the replay key
        if expected == "AttestationRegistryFaultAlreadyReported":
            STATS["replays_rejected"] += 1
