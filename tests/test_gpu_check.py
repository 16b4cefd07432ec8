"""The GPU check script's dry mode: every section's code path runs on the CPU, so it cannot rot."""

import json
import subprocess
from pathlib import Path

from oracle.benchmarks import gpu_check

ROOT = Path(__file__).resolve().parent.parent


def test_dry_run_measures_every_section_it_can_and_says_why_not_for_the_rest():
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--dry"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((ROOT / "test-artifacts" / "gpu-check-dry.json").read_text())
    assert record["mode"] == "dry" and record["failed"] == []
    sections = record["sections"]
    assert set(sections) == set(gpu_check.SECTIONS)
    for name, result in sections.items():
        assert result["status"] in ("measured", "skipped"), (name, result)
        assert result["status"] == "measured" or result["reason"], name
    assert sections["inventory"]["cpu"]["logical_cores"] >= 1
    assert {g["precision"] for g in sections["bench"]["gemm"]} >= {"fp32"}
    challenge = sections["challenge"]
    assert set(challenge["cpu_reference"]["compute_parts"]) == {
        "derive_a_b",
        "gemm",
        "row_digests",
        "merkle_commit",
    }
    runs = {run["k"]: run["ok"] for run in challenge["tolerance"]["paced"]["runs"]}
    assert runs[3.0] is False  # a claim 3x the real speed misses the deadline
    inference = sections["inference"]
    assert inference["digits"]["cpu_items_per_s"] > 0 and inference["digits-large"]["cpu_items_per_s"] > 0


def test_gpu_mode_refuses_plainly_without_a_gpu():
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3
    assert "no NVIDIA GPU" in done.stderr and "--dry" in done.stderr


def test_results_markdown_section_is_replaced_not_duplicated(tmp_path):
    record = gpu_check.run("dry", only=["bench"])
    target = tmp_path / "RESULTS.md"
    target.write_text("# Results\n\nCPU figures.\n")
    gpu_check.write_results_md(target, record)
    gpu_check.write_results_md(target, record)
    text = target.read_text()
    assert text.startswith("# Results\n\nCPU figures.\n")
    assert text.count(gpu_check.MD_BEGIN) == 1 and text.count(gpu_check.MD_END) == 1
    assert "| fp32 | 128 |" in text
