"""Benchmark: one validator epoch over many providers, on anvil with the real contracts.

``python -m scripts.bench_epoch [--providers 100] [--n 32] [--samples 4] [--no-record]``
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
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "oracle" / "benchmarks" / "RESULTS.md"
START, END = "<!-- epoch-benchmark:start -->", "<!-- epoch-benchmark:end -->"
BENCHMARK = {
    "tflops": {"fp32": 0.5, "tf32": 0.5, "fp16": 0.25, "bf16": 0.25},
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
) -> dict:
    from ape import accounts, networks
    from ape.logging import logger
    from eth_account import Account
    from eth_utils import keccak

    from oracle.provider.server import ProviderServer
    from oracle.validator.config import ValidatorConfig
    from oracle.validator.daemon import Validator
    from oracle.validator.prober import ChallengeProber
    from scripts.deploy import deploy_protocol, write_deployment

    logger.set_level("ERROR")
    with networks.parse_network_choice("ethereum:local:foundry") as provider_ctx:
        test = accounts.test_accounts
        deployer, provider = test[0], test[2]
        oracle_accts = [Account.from_key(test[5 + i].private_key) for i in range(validators)]
        contracts = deploy_protocol(
            deployer, params={"oracles": [a.address for a in oracle_accts], "oracle_threshold": threshold}
        )
        token, staking = contracts["ComputeToken"], contracts["ComputeStaking"]
        stake = providers * staking.minStakePerGpu()
        token.transfer(provider, stake, sender=deployer)
        token.approve(staking, stake, sender=provider)
        staking.stake(stake, sender=provider)

        servers = [
            ProviderServer(inventory_fn=lambda: {"benchmark": BENCHMARK}).start() for _ in range(providers)
        ]
        t_reg = time.monotonic()
        for i, srv in enumerate(servers):
            staking.registerNode(
                keccak(text=f"bench-node-{i}"), "CPU (numpy)", 16384, srv.url, sender=provider
            )
        setup_s = time.monotonic() - t_reg

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
            vals.append(Validator(cfg, ChallengeProber(n=n, samples=samples)))
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
                recorded += registry.checkScore(provider, nid, 1, proof) > 0
        else:
            recorded = sum(
                1 for i in range(providers) if registry.recordOf(keccak(text=f"bench-node-{i}")).epoch == 1
            )
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
        f"One epoch: {r0['providers']} provider servers (CPU, n={r0['n']}, {r0['samples']} rows opened per "
        f"challenge, all in one process) checked by {r0['validators']} validators (threads, own journals and "
        f"signature servers), threshold {r0['threshold']}; the epoch's leader posts. `single` = one `submit` per "
        "node (first attestation of each node: one fresh storage slot); `batch` = one `submitBatch` root for "
        "the epoch (nodes then prove their attestation with a Merkle proof).",
        "",
        "| mode | epoch wall time | nodes verified on chain | transactions | gas per node |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['epoch_seconds']} s | {r['recorded']} / {r['providers']} | {r['transactions']} "
            f"| {r['gas_per_node']:,} |"
        )
    lines += [
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {r0['machine']}, "
        f"{os.cpu_count()} cores, 1-minute load average {os.getloadavg()[0]:.2f} at the end. Target: under "
        f"60 s per epoch. The wall time covers {r0['validators']} x {r0['providers']} challenges, signing, "
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
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    modes = ("single", "batch") if args.mode == "both" else (args.mode,)
    results = [run(args.providers, args.n, args.samples, mode=m) for m in modes]
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
