"""Benchmarks: CPU figures for real, the GPU path's clean skip, peaks table, score, power sampling."""

import json
import time
import types

import pytest

from oracle import bench, peaks
from oracle.score import score_of


def test_cpu_bench_reports_medians_bandwidth_and_score():
    report = bench.bench_cpu(n=128, repeats=3, warmup=1, bandwidth_mib=8)
    assert report.device == "cpu" and report.peak_source == "peak unknown"
    assert [g.precision for g in report.gemm] == ["fp64", "fp32"]
    for g in report.gemm:
        assert g.tflops > 0 and g.median_s > 0 and g.peak_tflops is None and g.fraction_of_peak is None
    assert report.bandwidth.gb_s > 0 and report.bandwidth.bytes_moved == 2 * 8 * 2**20
    assert report.score == score_of(report.gflops(), report.bandwidth_gb_s()) > 0
    assert report.flops("fp32") == report.figure("fp32").tflops * 1e12 and report.flops("bf16") is None
    data = json.loads(report.to_json())
    assert data["score"] == report.score and data["gemm"][0]["precision"] == "fp64"


def test_gpu_bench_is_unavailable_cleanly_without_torch_or_cuda():
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    except ImportError:
        pass
    with pytest.raises(bench.BenchUnavailable, match="GPU benchmark needs"):
        bench.bench_gpu(n=64, repeats=1)
    with pytest.raises(bench.BenchUnavailable):
        bench.run_bench("gpu")


def test_auto_falls_back_to_cpu_with_a_note():
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    except ImportError:
        pass
    report = bench.run_bench("auto", n=64, repeats=1)
    assert report.device == "cpu"
    assert any(note.startswith("GPU benchmark skipped") for note in report.notes)


@pytest.mark.parametrize(
    ("nvml_name", "card"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
        ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"),
        ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("Tesla T4", "T4"),
    ],
)
def test_known_cards_map_to_their_published_peaks(nvml_name, card):
    assert peaks.lookup_peaks(nvml_name).name == card


def test_unknown_card_has_no_peak():
    assert peaks.lookup_peaks("Imaginary Accelerator 9000") is None


def test_score_formula():
    gflops = {"fp64": 60000.0, "fp32": 60000.0, "tf32": 400000.0, "fp16": 700000.0, "bf16": 700000.0}
    expected = 60000 + 60000 + 0.25 * 400000 + 0.125 * 700000 * 2 + 0.5 * 3000
    assert score_of(gflops, 3000.0) == int(expected)
    assert score_of({"fp32": 1.9}, None) == 1
    assert score_of({"fp32": 1e12}, None) == 2**32 - 1
    assert score_of({"int4": 1e6}, 0.0) == 0  # unknown precisions do not count


def test_power_sampler_and_work_per_joule_with_a_stand_in_nvml():
    class MeterNvml:
        NVMLError = type("NVMLError", (Exception,), {})

        def __init__(self):
            self.readings = iter([300000, 310000, 320000] + [330000] * 1000)

        def nvmlDeviceGetPowerUsage(self, handle):
            return next(self.readings)

    with bench.PowerSampler(MeterNvml(), handle=types.SimpleNamespace(), interval_s=0.001) as sampler:
        time.sleep(0.05)
    assert sampler.samples_w[:3] == [300.0, 310.0, 320.0]
    assert 300.0 <= sampler.mean_w <= 330.0
    assert bench.work_per_joule(1e12, 2.0, 250.0) == pytest.approx(2.0)
    assert bench.work_per_joule(1e12, 2.0, None) is None


def test_benchmark_runner_writes_its_json(tmp_path, capsys):
    from oracle.benchmarks import run

    out = tmp_path / "results.json"
    args = ["-n", "128", "--gemm-n", "64", "--repeats", "1", "--accuracy-trials", "40", "--out", str(out)]
    args += ["--tolerance-n", "256", "--tolerance-ks", "1,3"]  # the sweep's code path, two points
    args += [
        "--target-s",
        "0.05",
    ]  # challenges of 50 ms, not the daemon's 1 s: the code paths, not the figures
    assert run.main(args) == 0
    data = json.loads(out.read_text())
    accuracy = {c["provider"]: c for c in data["accuracy"]["cases"]}
    assert accuracy["honest"]["passed"] == 40  # never a false alarm
    assert accuracy["one entry off in every row"]["passed"] == 0  # any opened row exposes it
    assert accuracy["skips 50% of rows (f=0.5)"]["passed"] == 0  # exact escape chance ~1e-5
    modes = {m["mode"]: m for m in data["check_vs_compute"]["modes"]}
    assert {"rows s=16, 100 provider(s)/epoch", "freivalds k=2", "freivalds k=2 + root"} <= set(modes)
    assert all(m["ratio_best"] > 0 for m in modes.values())
    one, many = modes["rows s=16, 1 provider(s)/epoch"], modes["rows s=16, 100 provider(s)/epoch"]
    setup = data["check_vs_compute"]["epoch_setup"]["best_s"]
    assert one["amortised_s"]["best_s"] == pytest.approx(one["check"]["best_s"] + setup)
    assert many["amortised_s"]["best_s"] == pytest.approx(many["check"]["best_s"] + setup / 100)
    assert data["machine"]["gpu"].startswith("none") and data["cpu_gemm"]["device"] == "cpu"
    assert "Check vs compute, n=128" in capsys.readouterr().out
