"""The validator daemon's settings (``oracle run`` fills them from its options)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from oracle.errors import OracleError

DEFAULT_OPEN_GRACE_S = 3600.0
"""After a dispute, how long a provider may fail to open its items before they count against it."""
MODES = ("single", "batch")
"""``single``: one submit per node (records stored on chain); ``batch``: one quorum-signed Merkle
root per epoch (see :mod:`oracle.validator.batch`)."""


class ValidatorError(OracleError):
    """The validator cannot run as configured (the message says what to change)."""


@dataclass
class ValidatorConfig:
    deployment_path: str
    rpc: Any  # URL or a Web3 instance
    account: LocalAccount
    journal_path: str
    peers: Sequence[str] = ()
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    metrics_port: int | None = None
    genesis: int = 0
    epoch_seconds: int = 3600
    validity_seconds: int = 2 * 3600
    slash_amount: int = 100 * 10**18
    finder: str | None = None  # default: the fault is paid to no one in particular (treasury)
    challenge_n: int = 8192
    challenge_target_s: float = 1.0
    challenge_allowance_s: float = 0.25
    """n, target and allowance size every challenge and so the figures attested: all validators of a
    network must use the same (like the threshold, they are the network's settings)."""
    samples: int = 16
    workers: int = 8
    collect_timeout: float = 60.0
    failover_s: float = 30.0
    poll_s: float = 0.2
    submit_delay: float = 0.0  # testing aid: pause between posts
    mode: str = "single"  # one of MODES
    # Disputes (oracle.validator.disputes): where the files a judgement needs are fetched from and kept.
    blob_dir: str | None = None  # default: beside the journal (<journal>.blobs)
    manifest_sources: Sequence[str] = ()  # base URLs serving /blobs/<specHash>, besides the provider
    ipfs_gateway: str | None = None
    dispute_device: str = "auto"  # where the disputed items are re-run (ONNX Runtime)
    open_grace_s: float = DEFAULT_OPEN_GRACE_S
