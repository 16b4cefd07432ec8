"""``compute job post|status|fetch|check|approve|dispute`` and ``compute serve``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from oracle.client.cli_ui import Out, escrow_from
from oracle.client.jobs import DEFAULT_SAMPLES, JobClient, JobClientError
from oracle.energy import EnergyError, EnergyPolicy
from oracle.units import token_arg
from oracle.work import demo_model
from oracle.work.errors import InputError, ManifestError, ModelError
from oracle.work.escrow import Status
from oracle.work.manifest import energy_json


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} must be HOST:PORT (e.g. 127.0.0.1:8800)")
    return host or "127.0.0.1", int(port)


def register(subs, common: argparse.ArgumentParser) -> None:
    job = subs.add_parser("job", help="batch AI jobs").add_subparsers(dest="command", required=True)
    serve = ["--serve", "127.0.0.1:8800"]

    p = job.add_parser("post", parents=[common], help="post a job: a model on an input file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="an .onnx file (minted as a ModelNFT)")
    src.add_argument(
        "--demo-model", choices=sorted(demo_model.RECIPES), help="a model this repository builds"
    )
    inp = p.add_mutually_exclusive_group(required=True)
    inp.add_argument("--inputs", type=Path, help="a .npy tensor [items, ...] of the model's input dtype")
    inp.add_argument("--demo-inputs", type=int, metavar="N", help="N held-out demo digits")
    p.add_argument("--budget", type=token_arg, required=True, help="tokens paid for the whole job")
    p.add_argument("--deadline-in", type=int, default=3600, help="seconds from now (default 3600)")
    p.add_argument("--min-score", type=int, default=0)
    p.add_argument(
        "--max-mj-per-item",
        type=int,
        default=None,
        metavar="MJ",
        help="energy cap: providers whose energy per item is above MJ millijoules decline the job",
    )
    p.add_argument(
        "--min-gflops-per-watt",
        type=int,
        default=None,
        metavar="G",
        help="only nodes attested at >= G GFLOP/s per W take the job",
    )
    p.add_argument(
        "--prefer-efficient",
        action="store_true",
        help="attested nodes with more GFLOP/s per W get the first chance to take the job",
    )
    p.add_argument(
        "--approve", action="store_true", help="approve + postJob instead of one permit transaction"
    )
    p.add_argument(serve[0], type=_hostport, default=_hostport(serve[1]), help="where to serve the inputs")
    p.add_argument("--wait", type=float, default=0.0, help="serve and wait up to S seconds for the result")
    p.set_defaults(func=cmd_post)

    for name, fn, text in (
        ("status", cmd_status, "where a job is"),
        ("fetch", cmd_fetch, "download the outputs, checked against the on-chain root"),
        ("check", cmd_check, "re-run s random items here and compare"),
        ("approve", cmd_approve, "approve the result (pays the provider)"),
        ("dispute", cmd_dispute, "check, and dispute with the evidence when items are wrong"),
    ):
        p = job.add_parser(name, parents=[common], help=text)
        p.add_argument("job_id", type=int)
        if name in ("check", "dispute"):
            p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
            p.add_argument("--seed", type=int, default=None, help="fix the sample draw (reproducible checks)")
        if name == "fetch":
            p.add_argument("--out", type=Path, default=None, help="write the outputs to this .npz file")
        p.set_defaults(func=fn)

    p = subs.add_parser("serve", parents=[common], help="serve this client's files until Ctrl-C")
    p.add_argument(serve[0], type=_hostport, default=_hostport(serve[1]))
    p.set_defaults(func=cmd_serve)


def _client(args, port: tuple[str, int] | None = None) -> JobClient:
    host, p = port or ("127.0.0.1", 0)
    return JobClient(escrow_from(args), args.state_dir, ipfs_gateway=args.ipfs_gateway, host=host, port=p)


def _load_inputs(args) -> np.ndarray:
    if args.demo_inputs is not None:
        return demo_model.test_set(args.demo_inputs)[0]
    try:
        return np.load(args.inputs, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {args.inputs} as a .npy tensor: {exc}") from None


def _load_model(args) -> bytes:
    if args.demo_model:
        return demo_model.model_bytes(args.demo_model)
    try:
        return args.model.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file {args.model}: {exc.strerror}") from None


def _energy_terms(args) -> EnergyPolicy | None:
    """The manifest's energy terms from --max-mj-per-item / --min-gflops-per-watt /
    --prefer-efficient (None: none of them)."""
    terms = {
        "max_mj_per_item": args.max_mj_per_item,
        "min_gflops_per_watt": args.min_gflops_per_watt,
        "prefer_efficient": True if args.prefer_efficient else None,
    }
    if all(v is None for v in terms.values()):
        return None
    try:
        return EnergyPolicy.from_json({k: v for k, v in terms.items() if v is not None}, "--energy")
    except EnergyError as exc:
        raise ManifestError(str(exc).replace("--energy.", "--").replace("_", "-")) from None


def cmd_post(args, out: Out) -> int:
    energy = _energy_terms(args)  # refused before anything starts
    client = _client(args, args.serve)
    client.start()
    try:
        x = _load_inputs(args)
        deadline = client.escrow.chain.block_timestamp() + args.deadline_in
        posted = client.post(
            _load_model(args),
            x,
            args.budget,
            deadline,
            min_score=args.min_score,
            use_permit=not args.approve,
            energy=energy,
        )
        out.progress(f"job {posted.job_id} posted; serving its files at {client.server.url}")
        status = client.status(posted.job_id)
        end = time.monotonic() + args.wait
        while (
            args.wait > 0
            and time.monotonic() < end
            and client.escrow.job(posted.job_id).status < Status.SUBMITTED
        ):
            time.sleep(0.5)
        status = client.status(posted.job_id)
    finally:
        client.stop()
    data = {
        **status,
        "spec_hash": "0x" + posted.spec_hash.hex(),
        "items": posted.manifest.inputs.count,
        "gas": posted.gas_used,
        "energy": energy_json(posted.manifest.energy) if posted.manifest.energy else None,
    }
    out.result(
        data,
        [f"job {posted.job_id}: {status['status']}, {data['items']} items, specHash {data['spec_hash']}"],
    )
    return 0


def cmd_status(args, out: Out) -> int:
    status = _client(args).status(args.job_id)
    out.result(status, [f"{k}: {v}" for k, v in status.items()])
    return 0


def cmd_fetch(args, out: Out) -> int:
    client = _client(args)
    manifest = client.manifest_of(args.job_id)
    arrays = client.outputs(args.job_id)
    names = [o.name for o in manifest.outputs]
    if args.out is not None:
        np.savez(args.out, **dict(zip(names, arrays, strict=True)))
    data = {
        "job_id": args.job_id,
        "items": manifest.inputs.count,
        "outputs": names,
        "checked_root": True,
        "file": str(args.out) if args.out else None,
    }
    lines = [f"job {args.job_id}: {manifest.inputs.count} items, outputs match the submitted root"]
    if "label" in names:
        labels = arrays[names.index("label")]
        data["labels"] = labels.tolist()
        lines.append(
            "labels: " + " ".join(str(v) for v in labels[:40]) + (" ..." if len(labels) > 40 else "")
        )
    out.result(data, lines)
    return 0


def _check(args, client: JobClient):
    rng = np.random.default_rng(args.seed)
    return client.check(args.job_id, samples=args.samples, rng=rng)


def cmd_check(args, out: Out) -> int:
    report = _check(args, _client(args))
    verdict = "passed" if report.ok else f"FAILED on items {report.bad}"
    out.result(
        report.to_json(),
        [
            f"job {args.job_id}: check of {len(report.indices)} items {verdict} in {report.seconds:.3f} s "
            f"(re-run {report.rerun_seconds * 1000:.1f} ms as one batch)",
            f"a provider wrong on 1% of the items would pass this check with probability <= {report.escape_bound_at_1pct:.3f}",
        ],
    )
    return 0 if report.ok else 1


def cmd_approve(args, out: Out) -> int:
    gas = _client(args).approve(args.job_id)
    out.result(
        {"job_id": args.job_id, "approved": True, "gas": gas}, [f"job {args.job_id} approved (gas {gas})"]
    )
    return 0


def cmd_dispute(args, out: Out) -> int:
    client = _client(args)
    report = _check(args, client)
    if report.ok:
        raise JobClientError(
            f"the check of job {args.job_id} passed on {len(report.indices)} items: nothing to dispute"
        )
    evidence, digest, gas = client.dispute(args.job_id, report)
    out.result(
        {
            "job_id": args.job_id,
            "items": report.bad,
            "evidence_hash": "0x" + evidence.hex(),
            "evidence_file": "0x" + digest.hex(),
            "gas": gas,
        },
        [f"job {args.job_id} disputed: items {report.bad} wrong; evidence file 0x{digest.hex()} (gas {gas})"],
    )
    return 0


def cmd_serve(args, out: Out) -> int:
    client = _client(args, args.serve)
    url = client.start()
    out.progress(f"serving {client.store.root} at {url}/blobs/<sha256> (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    finally:
        client.stop()
