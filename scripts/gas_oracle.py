"""Gas rows for the attestation registry (imported by scripts/gas_report.py and the tests).

``oracle_gas_rows(registry, register_node, sender, chain)`` measures, on a registry whose
threshold is 3: one attestation (first of a node, then the next epoch), a 256-node batch root
(and its cost per node), a batched attestation stored from its Merkle proof, ``checkScore`` with
a proof (the escrow's path), and a fault report. Each row is
(operation, gas, reference, ratio) with reference/ratio None where there is no target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from eth_utils import keccak

from oracle.attest import (
    Attestation,
    Batch,
    Domain,
    Fault,
    aggregate,
    attestation_digest,
    attestation_struct_hash,
    batch_digest,
    fault_digest,
    gpu_model_bytes32,
    sign_digest,
)
from oracle.attest_batch import MerkleTree, encode_score_proof
from oracle.inventory import node_id, synthetic_uuid

ATTEST_TARGET = 90_000
BATCH_PER_NODE_TARGET = 5_000
BATCH_SIZE = 256

Row = tuple[str, int, int | None, float | None]


def sample_attestation(provider: str, node: bytes, epoch: int, expiry: int, **overrides) -> Attestation:
    """An H100-like attestation (published figures) for gas measurements and tests."""
    att = Attestation(
        provider=provider,
        nodeId=node,
        gpuModel=gpu_model_bytes32("NVIDIA H100 80GB HBM3"),
        vramMiB=81559,
        fp32=6700,
        tf32=49500,
        fp16=98900,
        bf16=98900,
        memBandwidth=3350,
        powerW=700,
        score=9000,
        epoch=epoch,
        reportHash=keccak(text=f"report-{epoch}"),
        expiry=expiry,
    )
    return replace(att, **overrides) if overrides else att


def oracle_gas_rows(
    registry,
    oracle_keys: list[bytes],
    register_node: Callable[[str], str],
    sender,
    chain,
    fault_finder: str | None = None,
) -> list[Row]:
    """Measure the registry's operations; ``register_node(gpu_uuid) -> provider`` registers a GPU
    in staking (node id = keccak256 of the UUID) and returns its owner. ``oracle_keys`` are >= 3 keys of the registry's oracles."""
    domain = Domain(chain_id=chain.chain_id, verifying_contract=str(registry.address))
    keys = oracle_keys[:3]

    def quorum(digest: bytes) -> list[bytes]:
        return aggregate([sign_digest(k, digest) for k in keys], 3)

    rows: list[Row] = []
    uuid = synthetic_uuid("gas-node-0")
    node = node_id(uuid)
    provider = register_node(uuid)
    expiry = chain.pending_timestamp + 86400

    a1 = sample_attestation(provider, node, 1, expiry)
    tx = registry.submit(a1.as_tuple(), quorum(attestation_digest(domain, a1)), sender=sender)
    rows.append(
        (
            "registry.submit, k=3, node's first attestation",
            tx.gas_used,
            ATTEST_TARGET,
            tx.gas_used / ATTEST_TARGET,
        )
    )
    # The same for calldata at its most expensive: a 32-character GPU name and every figure using
    # all 4 bytes (zero calldata bytes cost 4 gas, others 16), on a second fresh node.
    uuid_w = synthetic_uuid("gas-node-worst")
    node_w = node_id(uuid_w)
    worst = sample_attestation(
        register_node(uuid_w),
        node_w,
        1,
        expiry,
        gpuModel=b"NVIDIA RTX PRO 6000 Blackwell WS",
        **{
            f: 0xFFFFFFFF
            for f in ("vramMiB", "fp32", "tf32", "fp16", "bf16", "memBandwidth", "powerW", "score")
        },
    )
    tx = registry.submit(worst.as_tuple(), quorum(attestation_digest(domain, worst)), sender=sender)
    rows.append(
        (
            "registry.submit, k=3, first attestation, worst-case calldata",
            tx.gas_used,
            ATTEST_TARGET,
            tx.gas_used / ATTEST_TARGET,
        )
    )
    a2 = replace(a1, epoch=2, score=9100)
    tx = registry.submit(a2.as_tuple(), quorum(attestation_digest(domain, a2)), sender=sender)
    rows.append(("registry.submit, k=3, next epoch", tx.gas_used, ATTEST_TARGET, tx.gas_used / ATTEST_TARGET))

    atts = [replace(a2, epoch=3)] + [
        sample_attestation(provider, keccak(text=f"gas-batch-{i}"), 3, expiry) for i in range(1, BATCH_SIZE)
    ]
    tree = MerkleTree.build([attestation_struct_hash(a) for a in atts])
    batch = Batch(tree.root, 3, expiry)
    tx = registry.submitBatch(batch.root, 3, expiry, quorum(batch_digest(domain, batch)), sender=sender)
    per_node = tx.gas_used / BATCH_SIZE
    rows.append((f"registry.submitBatch, k=3, {BATCH_SIZE} nodes (root)", tx.gas_used, None, None))
    rows.append(
        (
            f"  per node amortised (/{BATCH_SIZE})",
            round(per_node),
            BATCH_PER_NODE_TARGET,
            per_node / BATCH_PER_NODE_TARGET,
        )
    )
    proof = tree.proof(0)
    score_proof = encode_score_proof(atts[0], batch.root, proof)
    check_gas = registry.checkScore.estimate_gas_cost(provider, node, 1, score_proof, sender=sender)
    rows.append(
        (
            f"registry.checkScore with a Merkle proof (depth {len(proof)}, eth_estimateGas)",
            check_gas,
            None,
            None,
        )
    )
    check_latest = registry.checkScore.estimate_gas_cost(provider, node, 1, b"", sender=sender)
    rows.append(("registry.checkScore from the stored record (eth_estimateGas)", check_latest, None, None))
    tx = registry.recordFromBatch(atts[0].as_tuple(), batch.root, proof, sender=sender)
    rows.append((f"registry.recordFromBatch (proof depth {len(proof)})", tx.gas_used, None, None))

    fault = Fault(
        provider, node, 3, keccak(text="challenge failed"), 10**18, fault_finder or str(sender.address)
    )
    tx = registry.reportFault(fault.as_tuple(), quorum(fault_digest(domain, fault)), sender=sender)
    rows.append(("registry.reportFault, k=3 (slash through staking)", tx.gas_used, None, None))
    flag = Fault(provider, node, 3, keccak(text="oracle.latency.inconsistent"), 0, "0x" + "00" * 20)
    tx = registry.reportFault(flag.as_tuple(), quorum(fault_digest(domain, flag)), sender=sender)
    rows.append(
        (
            "registry.reportFault, k=3, zero slash (a latency flag: recorded, no stake moves)",
            tx.gas_used,
            None,
            None,
        )
    )
    return rows


def format_rows(rows: list[Row]) -> str:
    out = [f"{'operation':<72} {'gas':>10} {'reference':>10} {'ratio':>6}"]
    for op, gas, ref, ratio in rows:
        out.append(
            f"{op:<72} {gas:>10,} {'' if ref is None else f'{ref:,}':>10} {'' if ratio is None else f'{ratio:.2f}':>6}"
        )
    return "\n".join(out)


def deploy_gas_registry(ctx, keys: list[bytes]):
    """Deploy a registry (k=3 of the oracles holding ``keys``) on the gas context's staking, make it a
    slasher, stake for ``ctx.provider``; returns (registry, register(gpu_uuid) -> provider address)."""
    from ape import project
    from eth_account import Account

    registry = ctx.deployer.deploy(
        project.AttestationRegistry,
        ctx.staking,
        ctx.deployer,
        [Account.from_key(k).address for k in keys],
        3,
        7 * 24 * 3600,
        10_000 * 10**18,
    )
    ctx.staking.setSlasher(registry, True, sender=ctx.deployer)
    stake = 5_000 * 10**18
    ctx.token.approve(ctx.staking, stake, sender=ctx.provider)
    ctx.staking.stake(stake, sender=ctx.provider)

    def register(uuid: str) -> str:
        ctx.staking.registerNode(
            uuid, "NVIDIA H100 80GB HBM3", 81559, "http://127.0.0.1:9000", sender=ctx.provider
        )
        return str(ctx.provider.address)

    return registry, register


GAS_ORACLE_KEYS = [keccak(text=f"gas-oracle-{i}") for i in range(4)]


def oracle_section(ctx) -> list[tuple[str, list[tuple[str, int, int | None]]]]:
    """The gas_report builder: deploy a registry (k=3 of 4 deterministic oracle keys) on the
    context's staking, make it a slasher, and measure (rows as gas_report's (op, gas, reference))."""
    from ape import chain

    registry, register = deploy_gas_registry(ctx, GAS_ORACLE_KEYS)
    rows = oracle_gas_rows(
        registry, GAS_ORACLE_KEYS, register, ctx.keeper, chain, fault_finder=str(ctx.keeper.address)
    )
    return [("AttestationRegistry (k=3 signatures)", [(op, gas, ref) for op, gas, ref, _ in rows])]
