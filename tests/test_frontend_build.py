"""The page's production bundle (built once per session by the devnet fixture or here) and the
one-command devnet: `python scripts/devnet.py --once` end to end, then nothing left running."""

import gzip
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.frontend_support import (
    ROOT,
    devnet_command,
    pids_alive,
    processes_mentioning,
    start_devnet,
    stop_devnet,
)

BUDGET_GZIP = 250 * 1024


def _build():
    sys.path.insert(0, str(ROOT / "scripts"))
    import devnet as devnet_script

    return devnet_script.build_frontend()


def test_bundle_is_under_250_kb_gzipped():
    dist = _build()
    files = [p for p in dist.rglob("*") if p.is_file() and p.suffix in {".js", ".css", ".html"}]
    sizes = {str(p.relative_to(dist)): len(gzip.compress(p.read_bytes(), 9)) for p in files}
    total = sum(sizes.values())
    print(
        f"\nbundle (gzip -9): {total / 1024:.1f} kB total; "
        + ", ".join(f"{k} {v / 1024:.1f} kB" for k, v in sizes.items())
    )
    assert total <= BUDGET_GZIP, f"bundle is {total / 1024:.1f} kB gzipped, budget 250 kB"


def test_devnet_once_runs_end_to_end_and_leaves_nothing_running(tmp_path):
    state = tmp_path / "once"
    out = subprocess.run(
        devnet_command(state, "--once"), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for expected in (
        "GPU compute devnet is up",
        "AttestationRegistry",
        "ComputeGovernor",
        "settled: provider",
    ):
        assert expected in text, f"{expected!r} missing from the summary:\n{text[-3000:]}"
    assert "attestation" in text and "recorded on chain" in text
    summary = json.loads((state / "summary.json").read_text())
    assert summary["pageUrl"].startswith("http://127.0.0.1:")
    assert not (state / "pids.json").exists()
    assert processes_mentioning(str(state)) == []
    for url in (summary["rpcUrl"], summary["pageUrl"]):  # anvil and the page server are gone
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_a_second_run_stops_the_stale_devnet_first(tmp_path):
    state = tmp_path / "stale"
    proc, _ = start_devnet(state, "--no-page")
    recorded = json.loads((state / "pids.json").read_text())
    children = [c["pid"] for c in recorded["children"]]
    assert pids_alive(children)
    try:
        out = subprocess.run(
            devnet_command(state, "--stop"), cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0 and "stopped a stale devnet" in out.stdout
        assert pids_alive(children) == []
        proc.wait(timeout=15)
        assert processes_mentioning(str(state)) == []
    finally:
        stop_devnet(proc)


def test_deployment_file_has_the_shared_format(devnet):
    doc = json.loads(Path(devnet.state_dir / "deployment.json").read_text())
    assert doc["chainId"] == 31337 and isinstance(doc["deployBlock"], int)
    for name in (
        "ComputeToken",
        "ComputeStaking",
        "ModelNFT",
        "JobEscrow",
        "AttestationRegistry",
        "Treasury",
        "ComputeGovernor",
        "ModelMarketplace",
    ):
        entry = doc["contracts"][name]
        assert entry["address"].startswith("0x") and any(
            item.get("type") == "function" for item in entry["abi"]
        )
    assert [a["index"] for a in doc["devAccounts"]] == list(range(10))
