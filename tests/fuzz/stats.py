"""The fuzzer's counts, written to test-artifacts/fuzz-stats.json after a run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fuzz.base import STATS

STATS_FILE = Path(__file__).resolve().parents[2] / "test-artifacts" / "fuzz-stats.json"


def write_stats(profile: str, seconds: float) -> dict:
    stats = {
        "profile": profile,
        "seconds": round(seconds, 1),
        "sequences": STATS["sequences"],
        "steps": STATS["invariant_runs"] - STATS["sequences"],
        "invariant_checks": STATS["invariant_checks"],
        "transactions": STATS["transactions"],
        "expected_reverts": STATS["expected_reverts"],
        "replays_rejected": STATS["replays_rejected"],
        "flags_recorded": STATS["flags_recorded"],
        "attestations_accepted": STATS["attestations_accepted"],
        "governance_proposals_executed": STATS["governance_proposals_executed"],
        "marketplace_sales": STATS["marketplace_sales"],
        "privileged_calls_refused": STATS["privileged_calls_refused"],
        "timeouts_harmed_share_checked": STATS["timeouts_harmed_share_checked"],
        "slashes_checked_no_pay_to_fault": STATS["slashes_checked_no_pay_to_fault"],
        "revived_listings_refused": STATS["revived_listings_refused"],
        "verdicts_settled_fault": STATS["verdicts_settled_fault"],
        "verdicts_settled_false_claim": STATS["verdicts_settled_false_claim"],
        "outcomes": {k[5:]: v for k, v in sorted(STATS.items()) if k.startswith("rule:")},
    }
    STATS_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATS_FILE.write_text(json.dumps(stats, indent=2) + "\n")
    return stats
