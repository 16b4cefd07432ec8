"""The fuzzer's model of the protocol: what every account, provider, job, model NFT and listing
must hold, computed from the published formulas only (never read back from the chain)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fuzz.params import ZERO


@dataclass
class Prov:
    addr: str
    staked: int = 0
    locked: int = 0
    unbonding: int = 0
    release: int = 0
    nodes: set = field(default_factory=set)


@dataclass
class Job:
    requester: str
    budget: int
    deadline: int
    min_score: int
    model_id: int
    collateral: int
    provider: str | None = None
    state: str = "open"  # open | accepted | submitted | disputed | closed
    end: int = 0
    royalty: tuple[str, int] = (ZERO, 0)  # (receiver, bps) snapshotted at post time
    bond: int = 0  # the dispute bond paid, while disputed
    evidence: bytes = b""  # the dispute's evidence hash


@dataclass
class Model:
    """What the chain must hold, computed from the published formulas only."""

    now: int
    balances: dict[str, int]
    providers: dict[str, Prov]
    jobs: dict[int, Job] = field(default_factory=dict)
    nfts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> owner, receiver, bps
    listings: dict[int, tuple[str, int, int, int]] = field(
        default_factory=dict
    )  # seller, price, nonce, expiry
    node_owner: dict[bytes, str] = field(default_factory=dict)
    records: dict[bytes, tuple[str, int, int, int]] = field(
        default_factory=dict
    )  # provider, epoch, expiry, score
    epochs_accepted: dict[bytes, list[int]] = field(default_factory=dict)
    faults: set = field(default_factory=set)
    treasury_owed: int = 0
