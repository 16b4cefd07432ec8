"""``compute pay ...``: pay a provider's endpoint per request over a payment channel.

    compute pay request URL --demo-digits 3        # meets the 402, opens a channel, pays, prints answers
    compute pay request URL --x-file rows.json     # x = rows of the model's input (JSON)
    compute pay request URL --demo-digits 3 --credit 1   # a signed voucher for every request
    compute pay open URL --deposit 1               # open a channel for URL's terms now (tokens)
    compute pay status URL                         # the channel: deposit, signed, redeemed, state
    compute pay close URL / compute pay withdraw URL

The session key that signs the vouchers lives in ``<state-dir>/pay/session-key`` (created on first
use, mode 0600; it can only pay the channel's provider, up to the deposit); the channels in
``<state-dir>/pay/channels.json`` (with each channel's open credit window: one voucher prepays
``--credit`` requests, default 32, and the window's later requests carry hash-chain tokens instead
of signatures; the most at risk is the unused part of one window). ``register(subs, common)`` plugs these into the ``compute``
command; :func:`main` runs them on their own (``python -m oracle.client.pay_cli``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.chain import ChainClient
from oracle.client.pay import PayError, PayingClient
from oracle.client.pay_wire import PaymentTerms
from oracle.deployment import load_deployment
from oracle.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, OracleError
from oracle.keys import load_signer
from oracle.units import format_tokens, token_arg

STATUS = ("None", "Open", "Closing", "Closed")


def common_options() -> argparse.ArgumentParser:
    """The options `compute pay` needs when it runs on its own (the `compute` command has its own)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--rpc", default=os.environ.get("COMPUTE_RPC", "http://127.0.0.1:8545"))
    p.add_argument("--deployment", default=os.environ.get("COMPUTE_DEPLOYMENT", ".devnet/deployment.json"))
    p.add_argument("--state-dir", default=os.environ.get("COMPUTE_STATE_DIR", ".compute"))
    p.add_argument("--private-key", default=None, help="dev chains only (or $COMPUTE_PRIVATE_KEY)")
    p.add_argument("--keystore", default=None)
    p.add_argument("--password-file", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--debug", action="store_true")
    return p


def register(subs: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    pay = subs.add_parser("pay", help="pay per request over a payment channel").add_subparsers(
        dest="command", required=True
    )
    request = pay.add_parser("request", parents=[common], help="a paid request (opens a channel if needed)")
    request.add_argument("url", help="the provider's paid endpoint, e.g. http://127.0.0.1:8700/infer")
    source = request.add_mutually_exclusive_group(required=True)
    source.add_argument("--x-file", type=Path, help="JSON file: rows of the model's input")
    source.add_argument("--demo-digits", type=int, help="send N held-out demo digit images, one request each")
    request.add_argument(
        "--deposit-requests", type=int, default=1000, help="a new channel's deposit, in requests"
    )
    request.add_argument(
        "--max-price", type=token_arg, default=None, help="refuse endpoints above this price"
    )
    request.add_argument(
        "--credit",
        type=int,
        default=32,
        help="requests one voucher prepays (a credit window: the next ones need no signature; at most "
        "the provider's maxCredit; you risk at most this many prices; 1: a voucher per request; default 32)",
    )
    request.set_defaults(func=cmd_request)
    opener = pay.add_parser("open", parents=[common], help="open a channel for the endpoint's terms")
    opener.add_argument("url")
    opener.add_argument("--deposit", type=token_arg, required=True, help="tokens")
    opener.set_defaults(func=cmd_open)
    for name, fn, text in (
        ("status", cmd_status, "the channel to URL"),
        ("close", cmd_close, "ask to close the channel to URL"),
        ("withdraw", cmd_withdraw, "withdraw the rest once the close delay is over"),
    ):
        p = pay.add_parser(name, parents=[common], help=text)
        p.add_argument("url")
        p.set_defaults(func=fn)


# ------------------------------------------------------------------ plumbing


def _session_key(state_dir: Path) -> LocalAccount:
    path = state_dir / "pay" / "session-key"
    if path.is_file():
        return Account.from_key(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    account = Account.create()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("0x" + bytes(account.key).hex() + "\n")
    return account


def payer_from(args: argparse.Namespace, **kw: Any) -> PayingClient:
    deployment = load_deployment(args.deployment)
    account = load_signer(
        deployment.chain_id,
        keystore=args.keystore,
        password_file=args.password_file,
        private_key=args.private_key or os.environ.get("COMPUTE_PRIVATE_KEY"),
    )
    state_dir = Path(args.state_dir)
    return PayingClient(
        ChainClient(args.rpc, deployment, account),
        session_key=_session_key(state_dir),
        state_path=state_dir / "pay" / "channels.json",
        **kw,
    )


def _emit(out: Any, data: dict[str, Any], lines: list[str]) -> None:
    out.result(data, lines)


def _terms(url: str) -> PaymentTerms:
    terms_url = url.rsplit("/", 1)[0] + "/terms"
    try:
        with urllib.request.urlopen(terms_url, timeout=10) as resp:
            return PaymentTerms.from_json(json.loads(resp.read()))
    except OSError as err:
        raise PayError(f"cannot read the terms at {terms_url}: {err}") from err


# ------------------------------------------------------------------ commands


def cmd_request(args: argparse.Namespace, out: Any) -> int:
    if args.credit < 1:
        raise PayError(f"--credit must be at least 1 (1: a voucher per request), not {args.credit}")
    payer = payer_from(
        args, deposit_requests=args.deposit_requests, max_price=args.max_price, credit=args.credit
    )
    if args.x_file is not None:
        batches = [json.loads(args.x_file.read_text())]
    else:
        from oracle.work import demo_model

        batches = [[row] for row in demo_model.test_set(args.demo_digits)[0].tolist()]
    answers = []
    for x in batches:
        answer = payer.post(args.url, {"x": x})
        if answer.status != 200:
            raise PayError(f"{args.url} answered {answer.status}: {answer.body.get('error', answer.body)}")
        answers.append(answer)
    state = payer.states.get(args.url)
    data = {
        "channelId": state.channel_id,
        "price": str(answers[-1].price),
        "cumulativeAmount": str(state.cumulative),
        "remaining": str(state.deposit - state.cumulative),
        "creditLeft": state.credit_n - 1 - state.credit_used if state.window_open() else 0,
        "answers": [a.body["outputs"] for a in answers],
    }
    lines = [
        f"{i + 1}: {json.dumps(a.body['outputs'].get('label', a.body['outputs']))}"
        for i, a in enumerate(answers)
    ]
    lines.append(
        f"channel {state.channel_id}: paid {format_tokens(state.cumulative)} of {format_tokens(state.deposit)} "
        f"tokens ({format_tokens(answers[-1].price)} per request), "
        f"{format_tokens(state.deposit - state.cumulative)} left"
        + (f"; {data['creditLeft']} more requests prepaid" if data["creditLeft"] else "")
    )
    _emit(out, data, lines)
    return 0


def cmd_open(args: argparse.Namespace, out: Any) -> int:
    payer = payer_from(args)
    state = payer.open_channel(args.url, _terms(args.url), args.deposit)
    _emit(
        out,
        {"channelId": state.channel_id, "deposit": str(state.deposit)},
        [f"opened channel {state.channel_id}"],
    )
    return 0


def cmd_status(args: argparse.Namespace, out: Any) -> int:
    payer = payer_from(args)
    state = payer.states.get(args.url)
    if state is None:
        raise PayError(f"no channel to {args.url} is known here: make a paid request first")
    chain = payer.chain
    stored = chain.call("PaymentChannels", "getChannel", state.channel_id)
    status = STATUS[chain.call("PaymentChannels", "statusOf", state.channel_id)]
    data = {
        "channelId": state.channel_id,
        "status": status,
        "deposit": str(stored[5]),
        "signed": str(state.cumulative),
        "redeemed": str(stored[7]),
        "closesAt": int(stored[1]),
    }
    _emit(out, data, [f"{k}: {v}" for k, v in data.items()])
    return 0


def cmd_close(args: argparse.Namespace, out: Any) -> int:
    closes_at = payer_from(args).close(args.url)
    _emit(
        out, {"closesAt": closes_at}, [f"closing: the provider may redeem until {closes_at}, then withdraw"]
    )
    return 0


def cmd_withdraw(args: argparse.Namespace, out: Any) -> int:
    refund = payer_from(args).withdraw(args.url)
    _emit(out, {"refund": str(refund)}, [f"withdrew {format_tokens(refund)} tokens"])
    return 0


# ------------------------------------------------------------------ standalone entry point


class _Out:
    def __init__(self, json_mode: bool):
        self.json = json_mode

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        print(json.dumps(data, indent=2) if self.json else "\n".join(lines), flush=True)

    def progress(self, text: str) -> None:
        if not self.json:
            print(f"... {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compute", description="Pay per request over payment channels.")
    register(parser.add_subparsers(dest="group", required=True), common_options())
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, _Out(args.json)))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OracleError as exc:
        print(f"compute: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug: one line
        print(f"compute: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
