"""The protocol's score of a node: one uint32 from its GEMM throughput and memory bandwidth.

::

    score = min(2^32 - 1, floor(  1.0   * G(fp64) + 1.0   * G(fp32) + 0.25  * G(tf32)
                                + 0.125 * G(fp16) + 0.125 * G(bf16) + 0.5   * BW ))

where ``G(p)`` is the GFLOP/s at precision ``p`` (0 when not measured) and ``BW`` the bandwidth
in GB/s. Lower precisions weigh less per FLOP because they are cheaper per FLOP; an H100 SXM
scores about 3e5, a 2-core CPU about 1e2 -- far inside uint32. :func:`score_of` is the only
implementation: the benchmark report (:mod:`oracle.bench`, over its stored figures) and the
validator's attestation (:mod:`oracle.validator.attesting`, over the attested figures, which
carry no fp64) both call it, so anyone can recompute a score from what was published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

UINT32_MAX = 2**32 - 1
SCORE_WEIGHTS = {"fp64": 1.0, "fp32": 1.0, "tf32": 0.25, "fp16": 0.125, "bf16": 0.125}
BANDWIDTH_WEIGHT = 0.5


def score_of(gflops: Mapping[str, float], bandwidth_gb_s: float | None) -> int:
    """The uint32 score of the module docstring, from GFLOP/s per precision and GB/s (negative
    figures count as 0, unknown precisions do not count)."""
    total = sum(SCORE_WEIGHTS.get(p, 0.0) * max(0.0, g) for p, g in gflops.items())
    total += BANDWIDTH_WEIGHT * max(0.0, bandwidth_gb_s or 0.0)
    return int(min(UINT32_MAX, math.floor(total)))
