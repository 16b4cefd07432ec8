"""A validator's epochs, and the check at start that they are the network's.

Every validator of a network must number epochs alike (``epoch = (t - genesis) // epoch_seconds
+ 1``), or their signatures never agree and nothing reaches the chain. The deployment file says
what the network's epochs are (``epochs``, :class:`oracle.deployment.Epochs`); ``oracle run``
takes them from there, and refuses a flag that contradicts them. The chain says what the other
validators use: the latest attestation on chain must be for the epoch its block falls in (or the
one before, which may land just after its end) under these settings.
"""

from __future__ import annotations

from oracle.chain import ChainClient
from oracle.deployment import Deployment, Epochs
from oracle.errors import OracleError

REGISTRY = "AttestationRegistry"
DEFAULT_EPOCHS = Epochs(genesis=0, epoch_seconds=3600, validity_seconds=2 * 3600)
"""For a deployment file without ``epochs`` (written before they were kept there)."""
LOOKBACK_BLOCKS = 5000
"""How far back the start-up check looks for the network's latest attestation."""


class EpochMismatchError(OracleError):
    """This validator's epochs are not the network's (the message says which and what to do)."""


def resolve_epochs(
    deployment: Deployment,
    genesis: int | None = None,
    epoch_seconds: int | None = None,
    validity_seconds: int | None = None,
) -> Epochs:
    """The deployment's epochs, or the flags' where the file has none; a flag that differs from
    the file is refused (a validator cannot choose its own epochs)."""
    flags = (
        ("--genesis", genesis),
        ("--epoch-seconds", epoch_seconds),
        ("--validity-seconds", validity_seconds),
    )
    net = deployment.epochs
    if net is None:
        mine = [v if v is not None else d for (_, v), d in zip(flags, _values(DEFAULT_EPOCHS), strict=True)]
        return Epochs(*mine)
    for (flag, mine), theirs in zip(flags, _values(net), strict=True):
        if mine is not None and mine != theirs:
            raise EpochMismatchError(
                f"{flag} {mine} differs from the deployment file's epochs ({flag[2:]} {theirs}): every "
                f"validator of the network must use the same epochs; drop {flag} to use the file's"
            )
    return net


def _values(e: Epochs) -> tuple[int, int, int]:
    return e.genesis, e.epoch_seconds, e.validity_seconds


def epoch_at(epochs: Epochs, timestamp: int) -> int:
    """The epoch a time falls in (below 1 before genesis)."""
    return (timestamp - epochs.genesis) // epochs.epoch_seconds + 1


def latest_attested_epoch(chain: ChainClient, lookback: int = LOOKBACK_BLOCKS) -> tuple[int, int] | None:
    """(epoch, block) of the newest attestation or batch on chain within ``lookback`` blocks."""
    head = int(chain.retry(lambda: chain.w3.eth.block_number, "eth_blockNumber"))
    start = max(chain.deployment.deploy_block, head - lookback)
    found = [
        (int(log["blockNumber"]), int(log["args"]["attestation"]["epoch"]))
        for log in chain.events(REGISTRY, "AttestationRecorded", from_block=start)
    ] + [
        (int(log["blockNumber"]), int(log["args"]["epoch"]))
        for log in chain.events(REGISTRY, "BatchSubmitted", from_block=start)
    ]
    if not found:
        return None
    block, epoch = max(found)
    return epoch, block


def check_chain_epochs(chain: ChainClient, epochs: Epochs) -> None:
    """Refuse epochs the chain contradicts: a genesis after the chain's time, or a latest
    attestation whose epoch is not the one its block falls in under these epochs."""
    now = chain.block_timestamp()
    if now < epochs.genesis:
        raise EpochMismatchError(
            f"genesis {epochs.genesis} is {epochs.genesis - now} s after the chain's time {now}: epoch 1 has "
            "not begun; use the network's genesis (the deployment file's epochs)"
        )
    latest = latest_attested_epoch(chain)
    if latest is None:
        return
    epoch, block = latest
    expected = epoch_at(epochs, chain.block_timestamp(block))
    if epoch not in (expected, expected - 1):
        raise EpochMismatchError(
            f"the network's latest attestation (block {block}) is for epoch {epoch}, but under genesis "
            f"{epochs.genesis} and {epochs.epoch_seconds} s epochs that block falls in epoch {expected}: this "
            "validator's epochs are not the network's; use the deployment file's epochs"
        )
