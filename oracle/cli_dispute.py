"""``oracle dispute judge JOB_ID``: judge one disputed job by hand, as the validator daemon does
(:mod:`oracle.validator.disputes`), and print the judgement and the signed verdict.

It fetches the manifest, model and inputs (checked by hash), asks the provider for its openings
of the disputed items, re-runs them as one batch and signs the EIP-712 ``DisputeVerdict`` with
the validator's key. The verdict goes into the same journal as ``oracle run``'s (``--journal``,
default ``.oracle/journal-<address>.sqlite``), so a key never signs two different verdicts for
one dispute: judged before, the journaled verdict is printed again as it was signed. The daemon
then serves it to the other validators and submits ``settleDispute`` once k of them agree.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from oracle.cli_ui import CliError, Ui, chain_options, common_options, connect
from oracle.errors import EXIT_OK
from oracle.journal import Journal
from oracle.validator.config import DEFAULT_OPEN_GRACE_S

log = logging.getLogger("oracle.dispute")


def dispute_options() -> argparse.ArgumentParser:
    """Where a judgement's files come from and are kept (shared with ``oracle run``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--blob-dir", help="folder for fetched manifests, models, inputs (default: beside the journal)"
    )
    parent.add_argument(
        "--manifest-sources",
        help="comma-separated base URLs serving /blobs/<specHash>, tried after the provider's endpoint",
    )
    parent.add_argument(
        "--ipfs-gateway", help="IPFS path gateway for ipfs:// addresses, e.g. http://127.0.0.1:8080"
    )
    parent.add_argument(
        "--dispute-device",
        default="auto",
        help="where disputed items are re-run: auto, cpu or gpu (default auto)",
    )
    parent.add_argument(
        "--open-grace",
        type=float,
        default=DEFAULT_OPEN_GRACE_S,
        help="seconds after a dispute before items the provider does not open count against it (default 3600)",
    )
    return parent


def sources(args: argparse.Namespace) -> list[str]:
    return [s for s in (args.manifest_sources or "").split(",") if s]


def journal_path(args: argparse.Namespace, address: str) -> str:
    return args.journal or str(Path(".oracle") / f"journal-{address}.sqlite")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dispute", parents=[common_options()], help="judge a disputed job by hand")
    sub = parser.add_subparsers(dest="dispute_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "judge",
        parents=[common_options(), chain_options(), dispute_options()],
        help="re-run a dispute's items, print the judgement and the signed verdict",
    )
    p.add_argument("job_id", type=int, help="the disputed job's id")
    p.add_argument("--journal", help="the validator's journal (default .oracle/journal-<address>.sqlite)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.validator.disputes import Disputes  # ONNX Runtime: only for this command

    chain = connect(args)
    if "JobEscrow" not in chain.deployment.contracts:
        raise CliError(
            f"the deployment {args.deployment} has no JobEscrow: point --deployment at a full deployment"
        )
    assert chain.account is not None
    path = journal_path(args, chain.account.address)
    journal = Journal(path)
    try:
        disputes = Disputes(
            journal,
            chain,
            chain.account,
            lambda event, level=logging.INFO, **fields: log.log(level, {"event": event, **fields}),
            lambda address: bool(chain.call("AttestationRegistry", "isOracle", address)),
            args.blob_dir or Path(path).with_suffix(".blobs"),
            manifest_sources=sources(args),
            ipfs_gateway=args.ipfs_gateway,
            device=args.dispute_device,
            open_grace_s=args.open_grace,
        )
        ui.progress(f"judging the dispute of job {args.job_id}")
        rec = disputes.judge_one(args.job_id)
    finally:
        journal.close()
    if rec.signature is None:
        raise CliError(f"job {args.job_id}: nothing signed ({rec.step}): {rec.reason}")
    doc: dict[str, Any] = {
        "job_id": rec.job_id,
        "step": rec.step,
        "judgement": rec.judgement,
        "verdict": rec.verdict,
        "signer": chain.account.address,
        "signature": rec.signature,
        "journal": path,
    }
    if ui.json:
        ui.emit(doc)
        return EXIT_OK
    judgement, verdict = rec.judgement or {}, rec.verdict or {}
    ui.fields(
        [
            ("job", rec.job_id),
            ("items", ",".join(str(i) for i in rec.items)),
            ("provider at fault", verdict.get("providerAtFault")),
            ("wrong items", ",".join(str(i) for i in judgement.get("wrong", [])) or None),
            ("unopened items", ",".join(str(i) for i in judgement.get("unopened", [])) or None),
            ("re-run seconds", judgement.get("rerun_seconds")),
            ("result hash", verdict.get("resultHash")),
            ("evidence hash", verdict.get("evidenceHash")),
            ("expiry", verdict.get("expiry")),
            ("signer", chain.account.address),
            ("signature", rec.signature),
            ("state", rec.step),
        ]
    )
    ui.line("`oracle run` serves this verdict to the other validators and submits it once k agree.")
    return EXIT_OK
