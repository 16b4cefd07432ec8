"""The job agent's policy: the config file and each acceptance rule, named when it fails."""

from __future__ import annotations

import dataclasses

import pytest

from oracle.energy import EnergyPolicy, NodeEnergy
from oracle.provider.jobs_policy import JobPolicy, PolicyError, decide
from oracle.work.escrow import Job, Royalty, Status
from tests.support.work import DEADLINE, demo_manifest

NODE = "0x" + "11" * 32
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def manifest():
    return demo_manifest(100)[0]


def job_for(manifest, **kw) -> Job:
    fields = dict(
        job_id=1,
        requester="0x" + "22" * 20,
        deadline=DEADLINE,
        min_score=0,
        status=Status.OPEN,
        collateral_bps=5_000,
        provider=ZERO,
        budget=100 * 10**18,
        royalty_receiver=ZERO,
        royalty_bps=500,
        bond=0,
        model_id=manifest.model_id,
    )
    return Job(**{**fields, **kw})


def ruling(policy, job, manifest, **kw):
    args = dict(
        fee_bps=250,
        royalty=Royalty(ZERO, 5 * 10**18, 500),
        score=10,
        flops_per_s=1e9,
        now=DEADLINE - 3600,
        free_stake=10**24,
    )
    return decide(policy, job, manifest, **{**args, **kw})


def test_a_job_within_every_rule_is_accepted_with_its_net_pay(manifest):
    d = ruling(
        JobPolicy.from_mapping({"node_id": NODE, "min_price_per_item": str(10**17)}),
        job_for(manifest),
        manifest,
    )
    assert d.accept and d.reasons == ()
    assert d.fee == 25 * 10**17 and d.net_per_item == 925 * 10**15


@pytest.mark.parametrize(
    ("policy", "job", "kw", "reason"),
    [
        ({"models": ["0x" + "ab" * 32]}, {}, {}, "is not in jobs.models"),
        ({}, {"model_id": 7}, {}, "the manifest's model is not the job's model NFT"),
        ({}, {"deadline": DEADLINE - 1}, {}, "is not the job's"),
        ({}, {"min_score": 11}, {}, "needs a verified score of 11, this node has 10"),
        ({"min_price_per_item": str(10**18)}, {}, {}, "below jobs.min_price_per_item"),
        ({}, {}, {"free_stake": 1}, "collateral, the free stake is 1"),
        ({"max_items": 99}, {}, {}, "100 items exceed jobs.max_items 99"),
        ({}, {}, {"flops_per_s": 1.0}, "the run needs about 3412200 s"),
    ],
)
def test_each_failing_rule_is_named(manifest, policy, job, kw, reason):
    d = ruling(JobPolicy.from_mapping({"node_id": NODE, **policy}), job_for(manifest, **job), manifest, **kw)
    assert not d.accept and any(reason in r for r in d.reasons), d.reasons


def test_config_file_is_read_and_its_errors_say_what_to_fix(tmp_path):
    path = tmp_path / "provider.toml"
    path.write_text(f'[jobs]\nnode_id = "{NODE}"\nmodels = ["*"]\nmax_active_jobs = 2\nipfs_gateway = ""\n')
    policy = JobPolicy.load(path)
    assert (
        policy.node_id == bytes.fromhex("11" * 32)
        and policy.max_active_jobs == 2
        and policy.ipfs_gateway is None
    )
    with pytest.raises(PolicyError, match="not found"):
        JobPolicy.load(tmp_path / "absent.toml")
    path.write_text("[jobs]\nmodels = 3\n")
    with pytest.raises(PolicyError, match="needs node_id"):
        JobPolicy.load(path)
    path.write_text(f'[jobs]\nnode_id = "{NODE}"\nprice = 1\n')
    with pytest.raises(PolicyError, match="unknown key\\(s\\) price"):
        JobPolicy.load(path)
    path.write_text("[jobs\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        JobPolicy.load(path)


def test_energy_terms_a_node_meets_are_accepted_and_one_it_misses_is_declined_with_the_reason(manifest):
    policy = JobPolicy.from_mapping({"node_id": NODE})
    job = job_for(manifest)
    capped = dataclasses.replace(manifest, energy=EnergyPolicy(max_mj_per_item=5, min_gflops_per_watt=100))
    measured = NodeEnergy(gflops_per_watt=150.0, mj_per_item=2.5, mj_is_estimate=True)
    d = ruling(policy, job, capped, energy=measured)
    assert d.accept and "2.5 mJ per item (estimated on CPU) <= 5" in d.energy
    assert "150.0 GFLOP/s per W >= 100" in d.energy
    over = ruling(policy, job, capped, energy=NodeEnergy(150.0, 7.25, False))
    assert not over.accept
    assert any(
        "energy terms: 7.25 mJ per item (measured) is above the job's cap of 5" in r for r in over.reasons
    )
    slow = ruling(policy, job, capped, energy=NodeEnergy(80.0, 1.0))
    assert not slow.accept and any(
        "80.0 GFLOP/s per W is below the job's minimum 100" in r for r in slow.reasons
    )
    unknown = ruling(policy, job, capped, energy=None)  # no attestation, no config figure, never measured
    assert not unknown.accept and any("no perf/W figure" in r for r in unknown.reasons)
    # never run on this model: mJ per item estimated from the manifest's FLOP per item over perf/W
    first = ruling(policy, job, capped, energy=NodeEnergy(150.0))
    assert first.accept and "(estimated from perf/W)" in first.energy
    assert ruling(policy, job, manifest, energy=None).accept  # no terms: energy is not asked
