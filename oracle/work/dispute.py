"""Judging a disputed job: what both the requester (who names the items) and the validators (who
re-run them) need.

A dispute names items (indices into the job's items). A judge, independently of who asks:

1. takes the provider's openings of those items (item output record + Merkle proof) and checks
   them against the job's on-chain ``resultHash``; openings are self-authenticating, so who
   delivers them does not matter (the provider's endpoint, or the requester's evidence). An item
   the provider cannot open against its own root counts as wrong: it committed to something it
   cannot show.
2. fetches the model (SHA-256 = the job's model NFT id) and the inputs (checked against the
   manifest), re-runs the disputed items as ONE batch on ONNX Runtime and compares them under the
   manifest's equality rules (:func:`oracle.work.job.compare`).
3. the provider is at fault when some disputed item is wrong; otherwise the claim was false.

The items' on-chain commitment (JobEscrow's ``evidenceHash``) is
``keccak256(abi.encodePacked(uint32[] items))``: each index a 32-byte big-endian word, strictly
ascending (:func:`evidence_hash`). Signing the verdict is the validators' part
(:mod:`oracle.validator.verdicts`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from oracle.errors import EXIT_USAGE
from oracle.work import job as work
from oracle.work.blobs import Fetcher
from oracle.work.errors import InputError, WorkError
from oracle.work.items import Opening
from oracle.work.manifest import Manifest
from oracle.work.runtime import OnnxModel

MAX_DISPUTED_ITEMS = 256
"""As JobEscrow.MAX_DISPUTED_ITEMS: a dispute names at most this many items."""


class DisputeError(WorkError):
    """A dispute cannot be judged as given (the message says why)."""

    exit_code = EXIT_USAGE


def evidence_hash(items: Sequence[int]) -> bytes:
    """``keccak256(abi.encodePacked(uint32[] items))``: each index as a 32-byte word, ascending."""
    items = list(items)
    if any(b <= a for a, b in zip(items, items[1:], strict=False)) or any(not 0 <= i < 2**32 for i in items):
        raise DisputeError("disputed items must be distinct uint32 indices in strictly ascending order")
    return keccak(b"".join(i.to_bytes(32, "big") for i in items))


@dataclass(frozen=True)
class Judgement:
    """What re-running the disputed items showed."""

    items: tuple[int, ...]
    wrong: tuple[int, ...]
    unopened: tuple[int, ...]
    rerun_seconds: float
    tolerance_used: float

    @property
    def provider_at_fault(self) -> bool:
        return bool(self.wrong or self.unopened)

    def to_json(self) -> dict[str, object]:
        return {
            "items": list(self.items),
            "wrong": list(self.wrong),
            "unopened": list(self.unopened),
            "provider_at_fault": self.provider_at_fault,
            "rerun_seconds": round(self.rerun_seconds, 6),
            "tolerance_used": self.tolerance_used,
        }


def judge(
    manifest: Manifest,
    model: OnnxModel,
    inputs: bytes,
    result_hash: bytes,
    items: Sequence[int],
    openings: Sequence[Opening],
) -> Judgement:
    """Re-run ``items`` as one batch and compare with the provider's openings (module doc)."""
    items = sorted(set(int(i) for i in items))
    count = manifest.inputs.count
    if not items or len(items) > MAX_DISPUTED_ITEMS or any(not 0 <= i < count for i in items):
        raise DisputeError(
            f"a dispute names 1 to {MAX_DISPUTED_ITEMS} items in [0, {count}), got {items[:8]}"
        )
    work.check_model(manifest, model)
    if work.input_tree(manifest, inputs).root != manifest.inputs.root:
        raise InputError("the inputs do not match the manifest's Merkle root")
    by_index = {
        o.index: o
        for o in openings
        if len(o.item) == manifest.record_size and o.verify(result_hash, count, manifest.leaf_items)
    }
    opened = [i for i in items if i in by_index]
    unopened = tuple(i for i in items if i not in by_index)
    wrong: tuple[int, ...] = ()
    used, seconds = 0.0, 0.0
    if opened:
        t0 = time.perf_counter()
        rerun = work.run(manifest, model, work.input_array(manifest, inputs, opened))
        seconds = time.perf_counter() - t0
        result = work.compare(manifest, opened, [by_index[i].item for i in opened], rerun)
        wrong, used = result.bad, result.tolerance_used
    return Judgement(tuple(items), wrong, unopened, seconds, used)


def judge_from_sources(
    fetcher: Fetcher,
    manifest: Manifest,
    result_hash: bytes,
    items: Sequence[int],
    openings: Sequence[Opening],
    device: str = "auto",
) -> Judgement:
    """:func:`judge` with the model and inputs fetched (and checked) through ``fetcher``."""
    assert manifest.inputs.blob is not None
    model = OnnxModel(fetcher.fetch(manifest.model), device=device)
    return judge(manifest, model, fetcher.fetch(manifest.inputs.blob), result_hash, items, openings)
