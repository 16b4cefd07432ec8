"""The latency signals of :mod:`oracle.validator.anomaly` (issue 18: challenge latencies that do not
fit the claimed speed).

A challenge's *ratio* is its elapsed time over the time its work takes at the node's claimed speed
(ppm). :func:`latency_reasons` tests a node's ratios against its GPU model's latency level and
spread (learned by :func:`oracle.validator.anomaly_model.learn`; fallback bounds without enough
peers): ``latency_too_fast`` (median below the fast bound: work not done, cached or precomputed)
and ``latency_inconsistent`` (median far above the level, or a spread far above the model's:
outsourced). Each validator's timings are its own, so the signed assessment does not read them:
each validator runs these tests on its own timings of an epoch and signs a zero-slash *flag*
(:mod:`oracle.validator.latency_flags`); a flag reaches the chain only with k signatures, and
:func:`latency_signals` turns the flags of the window into the reasons every validator agrees on.
"""

from __future__ import annotations

from oracle.validator.anomaly_model import MIN_LATENCY_RECORDS, NetworkModel
from oracle.validator.anomaly_reason import Reason
from oracle.validator.robust import PPM, mad, median

FAST_RATIO_PPM = 500_000
FAST_RATIO_CAP_PPM = 800_000
SLOW_EXCESS_PPM = 300_000
SLOW_FALLBACK_PPM = 2_000_000
VARIABLE_MIN_PPM = 150_000
VARIABLE_FALLBACK_PPM = 300_000
LATENCY_SEVERITY = {"latency_too_fast": 800_000, "latency_inconsistent": 500_000}


def _ratio(ppm: int) -> str:
    return f"{ppm // PPM}.{ppm % PPM // 1_000:03d}"


FLAG_MEANING = {
    "latency_too_fast": "answers faster than its claimed speed allows (cached or precomputed)",
    "latency_inconsistent": "answers far slower or more jittery than its peers (work done elsewhere)",
}


def latency_signals(
    m: NetworkModel, model: str, ratios: list[int], flags: dict[str, list[int]]
) -> list[Reason]:
    """The latency signals: from the flags k validators posted (what the daemon has), and from
    signed timings where the evidence holds them; one reason per kind."""
    out = [
        Reason(
            kind,
            LATENCY_SEVERITY[kind],
            f"flagged on chain by k validators in epoch(s) {', '.join(map(str, epochs))}: {FLAG_MEANING[kind]}",
        )
        for kind, epochs in sorted(flags.items())
    ]
    if ratios:
        out += [r for r in latency_reasons(m, model, ratios) if r.kind not in flags]
    if not out and not ratios:
        out.append(
            Reason(
                "no_latency", 0, "no latency flag on chain and no signed challenge timings: nothing to check"
            )
        )
    return out


def latency_reasons(m: NetworkModel, model: str, ratios: list[int]) -> list[Reason]:
    """The two latency tests on challenge timings (ratios elapsed / time at the claimed speed, ppm)
    against the model's latency level and spread for ``model`` (fallback bounds without one). A
    validator runs them on its own timings of an epoch to decide its latency flags."""
    if not ratios:
        return []
    med = median(ratios)
    lv, var = m.latency_level.get(model), m.latency_var.get(model)
    fast = (
        FAST_RATIO_PPM
        if lv is None
        else min(FAST_RATIO_CAP_PPM, max(FAST_RATIO_PPM, lv.centre - 6 * lv.sigma))
    )
    out = []
    if med < fast:
        out.append(
            Reason(
                "latency_too_fast",
                LATENCY_SEVERITY["latency_too_fast"],
                f"median challenge time is {_ratio(med)} x the time its claimed speed needs (< {_ratio(fast)}): "
                "answers without the work (cached or precomputed)",
            )
        )
    slow = SLOW_FALLBACK_PPM if lv is None else max(lv.centre + SLOW_EXCESS_PPM, lv.centre + 6 * lv.sigma)
    spread_limit = VARIABLE_FALLBACK_PPM if var is None else max(VARIABLE_MIN_PPM, var.centre + 6 * var.sigma)
    why = []
    if med > slow:
        why.append(f"median time {_ratio(med)} x the claimed speed's (> {_ratio(slow)})")
    if len(ratios) >= MIN_LATENCY_RECORDS and (d := mad(ratios)) > spread_limit:
        why.append(f"its spread {_ratio(d)} over {len(ratios)} challenges (> {_ratio(spread_limit)})")
    if why:
        out.append(
            Reason(
                "latency_inconsistent",
                LATENCY_SEVERITY["latency_inconsistent"],
                "; ".join(why) + ": work done elsewhere",
            )
        )
    return out
