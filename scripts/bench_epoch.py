"""Benchmark: one validator epoch over many providers, on anvil with the real contracts.

``python -m scripts.bench_epoch [--providers 100] [--n 32] [--samples 4] [--target-s 0.2]
[--claim-tflops 5e-6] [--no-record]``
(from the repository root with the project environment, e.g. ``source toolchain/env.sh``).

It starts anvil through Ape, deploys the protocol with 3 oracles (threshold 2), registers one
node per provider whose ``metadataURI`` is a local provider server (``oracle.provider.server``, CPU, small
``n``, all in this process), then times one epoch of 3 validators (threads, each with its own
journal and signature server): every node challenged by every validator, attestations signed,
gathered by the leader and posted one transaction per node. It prints the wall time and the gas
per node and (unless ``--no-record``) writes them into ``oracle/benchmarks/RESULTS.md`` between
this benchmark's markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "oracle" / "benchmarks" / "RESULTS.md"
START, END = "<!-- epoch-benchmark:start -->", "<!-- epoch-benchmark:end -->"
CLAIM_TFLOPS = 5e-6
"""What each CPU provider claims per precision (5 MFLOP/s): 100 providers in this one process, 3
validators probing 8 nodes each at a time, on 2 shared cores."""


def benchmark(claim_tflops: float = CLAIM_TFLOPS) -> dict:
    """The benchmark each provider reports: ``claim_tflops`` in every attested precision."""
    return {
        "tflops": {p: claim_tflops for p in ("fp32", "tf32", "fp16", "bf16")},
        "mem_bandwidth_gbps": 20.0,
        "power_w": 65.0,
    }


def run(
    providers: int = 100,
    n: int = 32,
    samples: int = 4,
    validators: int = 3,
    threshold: int = 2,
    mode: str = "single",
    target_s: float = 0.2,
    claim_tflops: float = CLAIM_TFLOPS,
) -> dict:
    from ape import accounts, networks
    from ape.exceptions import ContractLogicError
    from ape.logging import logger
    from eth_account import Account

    from oracle.inventory import node_id, synthetic_uuid
    from oracle.provider.server import ProviderServer
    from oracle.validator.config import ValidatorConfig
    from oracle.validator.daemon import Validator
    from oracle.validator.prober import ChallengeProber
    from scripts.deploy import deploy_protocol
    from scripts.deployment_file import write_deployment

    logger.set_level("ERROR")
    with networks.parse_network_choice("ethereum:local:foundry") as provider_ctx:
        test = accounts.test_accounts
        deployer, provider = test[0], test[2]
        oracle_accts = [Account.from_key(test[5 + i].private_key) for i in range(validators)]
        contracts = deploy_protocol(
            deployer, params={"oracles": [a.address for a in oracle_accts], "oracle_threshold": threshold}
        )
        token, staking = contracts["ComputeToken"], contracts["ComputeStaking"]
        servers = [
            ProviderServer(inventory_fn=lambda: {"benchmark": benchmark(claim_tflops)}).start()
            for _ in range(providers)
        ]
        t_reg = time.monotonic()
        # One account per provider (each node its own machine): the nodes of one provider are
        # challenged at the same moment, which 100 nodes in this one process could not all pass.
        owners = [provider] + [accounts.test_accounts.generate_test_account() for _ in range(providers - 1)]
        per = staking.minStakePerGpu()
        uuids = [synthetic_uuid(f"bench-node-{i}") for i in range(providers)]
        for i, (owner, srv) in enumerate(zip(owners, servers, strict=True)):
            if owner is not provider:
                deployer.transfer(owner, 10**17)
            token.transfer(owner, per, sender=deployer)
            token.approve(staking, per, sender=owner)
            staking.stake(per, sender=owner)
            staking.registerNode(uuids[i], "CPU (numpy)", 16384, srv.url, sender=owner)
        setup_s = time.monotonic() - t_reg
        owner_of = {node_id(uuids[i]): o.address for i, o in enumerate(owners)}

        tmp = Path(tempfile.mkdtemp(prefix="oracle-epoch-bench-"))
        dep = write_deployment(contracts, tmp / "deployment.json", 0)
        genesis = provider_ctx.web3.eth.get_block("latest")["timestamp"] - 10
        vals = []
        for i, acct in enumerate(oracle_accts):
            cfg = ValidatorConfig(
                deployment_path=str(dep),
                rpc=provider_ctx.uri,
                account=acct,
                journal_path=str(tmp / f"journal-{i}.sqlite"),
                genesis=genesis,
                collect_timeout=120,
                failover_s=60,
                poll_s=0.1,
                workers=8,
                mode=mode,
            )
            vals.append(Validator(cfg, ChallengeProber(n=n, samples=samples, target_s=target_s)))
        urls = [v.start() for v in vals]
        for v in vals:
            v.cfg.peers = [u for u in urls if u != v.url]

        summaries: dict[str, dict] = {}
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=lambda v=v: summaries.__setitem__(v.address, v.run_epoch(1)))
            for v in vals
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        epoch_s = time.monotonic() - t0

        registry = contracts["AttestationRegistry"]
        if mode == "batch":  # verified = checkScore accepts the node's Merkle proof
            recorded = 0
            for item in vals[0].proofs_document(1)["proofs"]:
                nid, proof = bytes.fromhex(item["nodeId"][2:]), bytes.fromhex(item["scoreProof"][2:])
                with contextlib.suppress(ContractLogicError):  # the proof is refused
                    recorded += (
                        registry.checkScore(owner_of[nid], nid, 0, proof) >= 0
                    )  # CPU scores round to 0
        else:
            recorded = sum(1 for i in range(providers) if registry.recordOf(node_id(uuids[i])).epoch == 1)
        faults = sum(1 for log in registry.FaultReported.range(0, 10**9) if log.slashAmount > 0)  # not flags
        verdicts = {
            label: int(sum(v.metrics.challenges.labels(label)._value.get() for v in vals))
            for label in ("ok", "failed", "unreachable")
        }
        gas_total = sum(v.metrics.tx_gas._sum.get() for v in vals)
        posts = sum(v.metrics.submissions.labels(k)._value.get() for v in vals for k in ("attest", "batch"))
        for v in vals:
            v.stop()
        for s in servers:
            s.stop()

    return {
        "mode": mode,
        "providers": providers,
        "validators": validators,
        "threshold": threshold,
        "n": n,
        "samples": samples,
        "target_s": target_s,
        "claim_tflops": claim_tflops,
        "faults": faults,
        "verdicts": verdicts,
        "epoch_seconds": round(epoch_s, 2),
        "recorded": recorded,
        "transactions": int(posts),
        "gas_per_node": round(gas_total / providers),
        "registration_seconds": round(setup_s, 2),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }


def record(results: list[dict]) -> None:
    r0 = results[0]
    lines = [
        START,
        "## Epoch throughput (validators on anvil) — `python -m scripts.bench_epoch`",
        "",
        f"One epoch: {r0['providers']} providers (one account and one node each; CPU servers, all in one "
        f"process) checked by {r0['validators']} validators "
        f"(threads, own journals and signature servers), threshold {r0['threshold']}; the epoch's leader posts. "
        f"Each node claims {r0['claim_tflops'] * 1e6:g} MFLOP/s in each of fp32, tf32, fp16 and bf16 and is "
        f"challenged in each, work sized to {r0['target_s']} s at the claim (n={r0['n']}, {r0['samples']} rows "
        "opened, signed requests, a node busy with another validator's challenge shows it and is retried). "
        "`single` = one `submit` per "
        "node (first attestation of each node: one fresh storage slot); `batch` = one `submitBatch` root for "
        "the epoch (nodes then prove their attestation with a Merkle proof).",
        "",
        "| mode | epoch wall time | nodes verified on chain | transactions | gas per node | verdicts ok / failed / unreachable (3 validators) | faults on chain |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['epoch_seconds']} s | {r['recorded']} / {r['providers']} | {r['transactions']} "
            f"| {r['gas_per_node']:,} | {r['verdicts']['ok']} / {r['verdicts']['failed']} / "
            f"{r['verdicts']['unreachable']} | {r['faults']} |"
        )
    lines += [
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {r0['machine']}, "
        f"{os.cpu_count()} cores, 1-minute load average {os.getloadavg()[0]:.2f} at the end. Target: under "
        f"60 s per epoch. The wall time covers {r0['validators']} x {r0['providers']} x 4 challenges, signing, "
        "gathering over HTTP and posting (anvil automine).",
        END,
    ]
    section = "\n".join(lines)
    text = RESULTS.read_text() if RESULTS.exists() else "# Oracle benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--providers", type=int, default=100)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--mode", choices=("single", "batch", "both"), default="both")
    p.add_argument("--target-s", type=float, default=0.2, help="seconds per challenge at the claim")
    p.add_argument("--claim-tflops", type=float, default=CLAIM_TFLOPS, help="each node's claim per precision")
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    modes = ("single", "batch") if args.mode == "both" else (args.mode,)
    results = [
        run(
            args.providers,
            args.n,
            args.samples,
            mode=m,
            target_s=args.target_s,
            claim_tflops=args.claim_tflops,
        )
        for m in modes
    ]
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
