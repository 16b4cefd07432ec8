"""What every ``oracle`` command gets (not a command itself): the :class:`Ui` for output (JSON
for machines, tables and progress for people) and the global options ``--json`` / ``--debug``
that are accepted before or after the command name."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from oracle.errors import EXIT_OPERATIONAL, OracleError


class CliError(OracleError):
    """A command's own error, shown on one line as ``oracle: error: <message>`` with ``exit_code``
    (default: operational). The message should say what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_OPERATIONAL):
        super().__init__(message)
        self.exit_code = exit_code


class Ui:
    """Output helpers handed to every command: JSON for machines, tables and progress for people."""

    def __init__(
        self, json_mode: bool, debug: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ):
        self.json = json_mode
        self.debug = debug
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def emit(self, data: Any) -> None:
        """Machine output (``--json``): one JSON document on stdout."""
        print(json.dumps(data, indent=2, default=str), file=self.stdout, flush=True)

    def line(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def progress(self, text: str) -> None:
        """Progress for people, on stderr (silent in ``--json`` mode)."""
        if not self.json:
            print(f"... {text}", file=self.stderr, flush=True)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cells = [[_cell(v) for v in row] for row in rows]
        widths = [
            max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
        ]
        self.line("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
        self.line("  ".join("-" * w for w in widths))
        for row in cells:
            self.line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        pairs = list(pairs)
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            self.line(f"{key.ljust(width)}  {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def common_options() -> argparse.ArgumentParser:
    """Parent parser for sub-commands so ``--json``/``--debug`` also work after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parent


def http_url(text: str) -> str:
    """argparse type of a base URL: ``host:port`` alone gets the fix, not "unknown url type"."""
    if text.startswith(("http://", "https://")):
        return text.rstrip("/")
    if "://" in text:
        raise argparse.ArgumentTypeError(f"{text!r}: only http:// and https:// URLs are served")
    raise argparse.ArgumentTypeError(f"{text!r} has no scheme: add http:// (e.g. http://{text})")


DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_DEPLOYMENT = ".devnet/deployment.json"


def chain_options(with_key: bool = True) -> argparse.ArgumentParser:
    """Parent parser of every command that talks to the chain: where it is, and the signing key.
    Defaults come from the config file and ``ORACLE_*`` variables (:mod:`oracle.config`)."""
    from oracle.keys import DEFAULT_KEYSTORE_DIR

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--rpc", default=DEFAULT_RPC, help="JSON-RPC URL of the chain ($ORACLE_RPC_URL)")
    parent.add_argument(
        "--deployment",
        default=DEFAULT_DEPLOYMENT,
        help="deployment file the deploy wrote ($ORACLE_DEPLOYMENT)",
    )
    if with_key:
        parent.add_argument("--keystore", help="keystore file or address (see `oracle keys list`)")
        parent.add_argument(
            "--keystore-dir", default=str(DEFAULT_KEYSTORE_DIR), help="keystore folder ($ORACLE_KEYSTORE)"
        )
        parent.add_argument("--password-file", help="file holding the key's password ($ORACLE_KEY_PASSWORD)")
        parent.add_argument(
            "--private-key", help="plain key, local dev chains (31337/1337) only ($ORACLE_PRIVATE_KEY)"
        )
    return parent


def connect(args: argparse.Namespace, need_key: bool = True):
    """A :class:`oracle.chain.ChainClient` for ``args`` (from :func:`chain_options`), with the
    signing key loaded when ``need_key``."""
    from oracle.chain import ChainClient
    from oracle.deployment import load_deployment
    from oracle.keys import load_signer

    deployment = load_deployment(args.deployment)
    account = None
    if need_key:
        account = load_signer(
            deployment.chain_id,
            keystore=args.keystore,
            keystore_dir=args.keystore_dir,
            password_file=args.password_file,
            private_key=args.private_key,
        )
    return ChainClient(args.rpc, deployment, account)
