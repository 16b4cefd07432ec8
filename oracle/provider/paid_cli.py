"""``oracle paid``: the provider's paid inference endpoint in the foreground, and its redemptions.

    oracle paid serve --private-key 0x.. --price 0.001 --port 8700     # demo digits model, Ctrl-C stops
    oracle paid redeem --private-key 0x..                                # redeem every journaled voucher now
    oracle paid status                                                   # journal: served, redeemed

On Ctrl-C (or SIGTERM) ``serve`` stops taking requests and redeems every voucher not yet paid.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from oracle.cli_ui import CliError, Ui, chain_options, common_options, connect
from oracle.errors import EXIT_OK, EXIT_USAGE
from oracle.units import token_arg

DEFAULT_JOURNAL = ".oracle/paid-journal.sqlite"
TOKEN = 10**18


def register(subparsers: argparse._SubParsersAction) -> None:
    paid = subparsers.add_parser("paid", help="the paid inference endpoint (pay per request over channels)")
    subs = paid.add_subparsers(dest="paid_command", required=True)
    serve = subs.add_parser(
        "serve", parents=[common_options(), chain_options()], help="serve the demo model, paid per request"
    )
    serve.add_argument(
        "--journal", default=DEFAULT_JOURNAL, help=f"voucher journal (default {DEFAULT_JOURNAL})"
    )
    serve.add_argument(
        "--price", type=token_arg, default=token_arg("0.001"), help="tokens per request (default 0.001)"
    )
    serve.add_argument(
        "--demo-model", default="digits", help="oracle/work demo model to serve (default digits)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700, help="TCP port (0: any; default 8700)")
    serve.add_argument(
        "--redeem-threshold",
        type=token_arg,
        default=token_arg("1"),
        help="redeem a channel past this many tokens",
    )
    serve.add_argument(
        "--close-margin", type=int, default=60, help="seconds before closesAt to stop accepting"
    )
    serve.add_argument(
        "--journal-durability",
        choices=("disk", "process"),
        default="disk",
        help="disk (default): answer once the voucher is fsynced (group commit); process: once it is "
        "written (a killed process loses nothing; a power loss can lose the last ~5 ms of vouchers, "
        "the provider's own money)",
    )
    serve.add_argument(
        "--max-credit",
        type=int,
        default=256,
        help="the most requests one voucher may prepay (a credit window: later requests of it carry a "
        "hash-chain token, not a signature; the user risks at most this many prices; 1: a voucher per "
        "request; default 256)",
    )
    serve.add_argument(
        "--model-id",
        type=int,
        default=None,
        help="ModelNFT id channels must name (default: the demo model's, which must be minted; 0: none)",
    )
    serve.set_defaults(func=run_serve)
    redeem = subs.add_parser(
        "redeem", parents=[common_options(), chain_options()], help="redeem every journaled voucher now"
    )
    redeem.add_argument(
        "--journal", default=DEFAULT_JOURNAL, help=f"voucher journal (default {DEFAULT_JOURNAL})"
    )
    redeem.add_argument("--demo-model", default="digits")
    redeem.set_defaults(func=run_redeem)
    status = subs.add_parser("status", parents=[common_options()], help="what the journal holds")
    status.add_argument("--journal", default=DEFAULT_JOURNAL)
    status.set_defaults(func=run_status)


def _service(args: argparse.Namespace, price: int, threshold: int, port: int = 0):
    from oracle.client.pay_credit import MAX_CREDIT
    from oracle.provider.paid import onnx_model
    from oracle.provider.paid_service import PaidService, PaidSettings
    from oracle.work import demo_model
    from oracle.work.runtime import OnnxModel

    try:
        data = demo_model.model_bytes(args.demo_model)
    except KeyError as err:
        raise CliError(str(err), EXIT_USAGE) from err
    max_credit = getattr(args, "max_credit", 256)
    if not 1 <= max_credit <= MAX_CREDIT:
        raise CliError(f"--max-credit must be 1..{MAX_CREDIT}, not {max_credit}", EXIT_USAGE)
    model_id = (
        demo_model.model_id(args.demo_model) if getattr(args, "model_id", None) is None else args.model_id
    )
    client = connect(args)
    if model_id != 0 and not client.call("ModelNFT", "exists", model_id):
        raise CliError(
            f"model {args.demo_model} (ModelNFT id {model_id}) is not minted on this chain: mint it "
            "(its id is the SHA-256 of the ONNX file) or serve with --model-id 0 (no royalty)"
        )
    settings = PaidSettings(
        price=price,
        model_id=model_id,
        journal=Path(args.journal),
        redeem_threshold=threshold,
        close_margin_s=getattr(args, "close_margin", 60),
        host=getattr(args, "host", "127.0.0.1"),
        port=port,
        journal_durability=getattr(args, "journal_durability", "disk"),
        max_credit=max_credit,
    )
    return PaidService(client, onnx_model(OnnxModel.from_bytes(data)), settings)


def run_serve(args: argparse.Namespace, ui: Ui) -> int:
    try:
        service = _service(args, args.price, args.redeem_threshold, args.port).start()
    except OSError as err:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {err}; pick another --port") from err
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    info = {"url": service.url, **service.terms.to_json()["accepts"][0]}
    if ui.json:
        ui.emit(info)
    else:
        ui.line(
            f"paid endpoint {service.url}: {args.price / TOKEN} tokens per request, model {args.demo_model}"
        )
        ui.line(f"pay to {service.terms.pay_to} over PaymentChannels {service.terms.channel_contract}")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop (and redeem) like SIGTERM
        stop.wait()
    ui.progress("stopping: redeeming every voucher not yet paid")
    service.stop(redeem=True)
    return EXIT_OK


def run_redeem(args: argparse.Namespace, ui: Ui) -> int:
    service = _service(args, 1, 1)
    try:
        results = service.redeemer.redeem_all()
    finally:
        service.stop(redeem=False)
    rows = [(r.channel_id, r.cumulative, r.outcome, r.tx_hash or "") for r in results]
    if ui.json:
        ui.emit([{"channelId": c, "cumulativeAmount": a, "outcome": o, "tx": t} for c, a, o, t in rows])
    else:
        ui.table(["channel", "cumulative", "outcome", "tx"], rows)
    return EXIT_OK


def run_status(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.provider.paid_ledger import Ledger

    if not Path(args.journal).is_file():
        raise CliError(f"no journal at {args.journal}: start `oracle paid serve` first or pass --journal")
    with Ledger(args.journal) as ledger:
        latest = ledger.latest()
        data = {
            "served": ledger.journaled_requests(),
            "vouchers": ledger.accepted_count(),
            "earned": ledger.accepted_total(),
            "channels": {str(c): str(v.cumulative) for c, v in latest.items()},
            "energy": ledger.energy_totals().to_json(),
            "redemptions": [
                {"channelId": c, "cumulativeAmount": a, "tx": h, "state": s}
                for c, a, h, s in ledger.redemptions()
            ],
        }
    if ui.json:
        ui.emit(data)
    else:
        e = data["energy"]
        per = "none metered yet" if e["mj_per_request"] is None else f"{e['mj_per_request']} mJ per request"
        label = f" (estimate: {e['estimated_requests']} on the CPU)" if e["estimate"] else ""
        ui.fields(
            [
                (
                    "requests served",
                    f"{data['served']} ({data['vouchers']} with a voucher, the rest from credit)",
                ),
                ("earned (wei)", data["earned"]),
                ("channels", len(latest)),
                ("energy", f"{e['mj']} mJ over {e['requests']} requests, {per}{label}"),
            ]
        )
    return EXIT_OK
