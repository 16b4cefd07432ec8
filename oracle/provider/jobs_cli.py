"""Run the provider's job agent: ``python -m oracle.provider.jobs_cli --config provider.toml``.

    python -m oracle.provider.jobs_cli --config provider.toml --deployment .devnet/deployment.json \\
        --rpc http://127.0.0.1:8545 --keystore ADDR --state-dir .provider-jobs --port 8601 [--once]

The config file's ``[jobs]`` table is described in :mod:`oracle.provider.jobs_policy`. Requesters
find this agent from the node's ``metadataURI``: name it there with ``oracle serve --jobs-url URL``
(the challenge server's ``GET /services``), or register the agent's URL itself as the
``metadataURI``; they fetch outputs and proofs from ``<agent>/jobs/<id>`` and a page hands it the
job's files with ``PUT <agent>/blobs/<sha256>`` (:mod:`oracle.provider.jobs_serve`). Progress goes to stderr, one line per step; errors are one
line ``jobs: error: ...`` with the error's exit code.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from oracle.chain import ChainClient
from oracle.deployment import load_deployment
from oracle.errors import OracleError
from oracle.keys import load_signer
from oracle.provider.jobs_agent import JobAgent, print_progress
from oracle.provider.jobs_policy import JobPolicy
from oracle.work.escrow import Escrow


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m oracle.provider.jobs_cli", description=__doc__.splitlines()[0]
    )
    p.add_argument("--config", required=True, help="TOML file with a [jobs] table")
    p.add_argument("--deployment", default=".devnet/deployment.json")
    p.add_argument("--rpc", default="http://127.0.0.1:8545")
    p.add_argument("--keystore", default=None)
    p.add_argument("--password-file", default=None)
    p.add_argument("--private-key", default=None, help="dev chains only")
    p.add_argument("--state-dir", default=".provider-jobs", help="journal and blob store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8601)
    p.add_argument("--once", action="store_true", help="one poll, then exit")
    return p


class _Terminated(BaseException):  # like KeyboardInterrupt: no handler of errors swallows it
    """SIGTERM (a supervisor or systemd stopping the agent): stop cleanly, exit 0."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    agent = None
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main else None
    try:
        policy = JobPolicy.load(args.config)
        deployment = load_deployment(args.deployment)
        account = load_signer(
            deployment.chain_id,
            keystore=args.keystore,
            password_file=args.password_file,
            private_key=args.private_key,
        )
        agent = JobAgent(
            Escrow(ChainClient(args.rpc, deployment, account)),
            policy,
            args.state_dir,
            host=args.host,
            port=args.port,
            on_step=print_progress,
        )
        url = agent.start()
        print(f"jobs: serving outputs at {url}/jobs/<id>; watching {agent.escrow.address}", file=sys.stderr)
        if args.once:
            agent.poll_once()
        else:
            agent.run_forever()
        return 0
    except KeyboardInterrupt:
        return 130
    except _Terminated:
        return 0
    except (OracleError, OSError) as exc:
        print(f"jobs: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 3))
    finally:
        if agent is not None:
            agent.stop()
        if on_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
