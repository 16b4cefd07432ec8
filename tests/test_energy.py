"""oracle.energy: the three measuring paths with an injected NVML, perf/W, and the manifest's
energy terms (provider acceptance and efficiency ranking). No GPU needed."""

from __future__ import annotations

import pytest

from oracle.bench import bench_cpu
from oracle.energy import (
    EnergyError,
    EnergyMeter,
    EnergyPolicy,
    NodeEnergy,
    attested_gflops_per_watt,
    energy_ok,
    gflops_per_watt,
    measure,
    rank_by_efficiency,
)
from tests.support.gpu import MeterNvml


class Clock:
    def __init__(self, *values: float):
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def test_energy_counter_gives_measured_joules_per_item():
    meter = EnergyMeter(nvml=MeterNvml([1_000_000, 1_250_000]), clock=Clock(10.0, 12.5))
    with meter:
        pass
    r = meter.reading(items=100)
    assert (r.source, r.estimate, r.joules, r.seconds) == ("nvml-energy-counter", False, 250.0, 2.5)
    assert r.joules_per_item == 2.5 and r.mean_watts == 100.0
    assert r.to_json()["joules_per_item"] == 2.5


def test_without_the_counter_board_power_is_sampled():
    meter = EnergyMeter(nvml=MeterNvml(None, power_mw=200_000))
    with meter:
        import time

        time.sleep(0.05)
    r = meter.reading(items=4)
    assert r.source == "nvml-power-samples" and not r.estimate
    assert r.joules == pytest.approx(200.0 * r.seconds)
    assert "not supported" in r.note


def test_without_nvml_the_cpu_figure_is_labelled_an_estimate():
    meter = EnergyMeter(nvml=MeterNvml(init_fails=True), clock=Clock(0.0, 2.0), cpu_clock=Clock(1.0, 2.5))
    with meter:
        pass
    r = meter.reading(items=3)
    assert (r.source, r.estimate) == ("cpu-estimate", True)
    assert r.joules == pytest.approx(1.5 * 15.0)
    assert "NVMLError" in r.note and "estimate" in r.note.lower()


def test_a_counter_that_goes_backwards_falls_back_to_the_estimate():
    meter = EnergyMeter(nvml=MeterNvml([5_000, 10]), clock=Clock(0.0, 1.0), cpu_clock=Clock(0.0, 0.2))
    with meter:
        pass
    r = meter.reading()
    assert r.estimate and "backwards" in r.note


def test_measure_returns_the_work_result_and_a_reading():
    result, r = measure(lambda: sum(range(1000)), items=10, nvml=False)
    assert result == 499500 and r.items == 10 and r.source == "cpu-estimate"
    with pytest.raises(EnergyError):
        EnergyMeter(nvml=False).reading()


def test_perf_per_watt_from_measurements_and_from_attestations():
    assert gflops_per_watt(50.0, 500.0) == 100.0
    assert gflops_per_watt(50.0, None) is None and gflops_per_watt(50.0, 0) is None
    assert attested_gflops_per_watt(5000, 500) == 100  # 50.00 TFLOPS at 500 W
    assert attested_gflops_per_watt(5000, 0) is None
    assert NodeEnergy.from_attestation(5000, 500).gflops_per_watt == 100.0
    assert NodeEnergy.from_attestation(5000, 0).gflops_per_watt is None


def test_cpu_benchmark_reports_perf_per_watt_as_an_estimate():
    report = bench_cpu(n=64, repeats=2, warmup=0, bandwidth_mib=4)
    assert report.perf_per_watt_source == "cpu-estimate"
    assert set(report.perf_per_watt) <= {"fp64", "fp32"}
    assert any("ESTIMATE" in n for n in report.notes)
    assert "perf_per_watt" in report.to_dict()


def test_policy_parsing_is_strict():
    p = EnergyPolicy.from_json(
        {"max_mj_per_item": 1500, "min_gflops_per_watt": 200, "prefer_efficient": True}
    )
    assert p.to_json() == {"max_mj_per_item": 1500, "min_gflops_per_watt": 200, "prefer_efficient": True}
    assert EnergyPolicy.from_json(None) == EnergyPolicy()
    for bad in (
        {"max_mj_per_item": 1.5},
        {"max_mj_per_item": 0},
        {"joules": 1},
        {"prefer_efficient": "yes"},
        [],
    ):
        with pytest.raises(EnergyError):
            EnergyPolicy.from_json(bad)


def test_energy_ok_checks_perf_per_watt_and_joules_per_item():
    policy = {"max_mj_per_item": 10, "min_gflops_per_watt": 100}
    ok, why = energy_ok(policy, NodeEnergy(gflops_per_watt=150.0, mj_per_item=4.0))
    assert ok and "measured" in why
    ok, why = energy_ok(policy, NodeEnergy(gflops_per_watt=80.0, mj_per_item=4.0))
    assert not ok and "below" in why
    ok, why = energy_ok(policy, NodeEnergy(gflops_per_watt=150.0, mj_per_item=12.0))
    assert not ok and "above the job's cap" in why
    # no measured figure: estimated from perf/W (1e9 FLOP at 150 GFLOP/J = 6.7 mJ)
    ok, why = energy_ok(policy, NodeEnergy(gflops_per_watt=150.0), flops_per_item=10**9)
    assert ok and "estimated from perf/W" in why
    ok, why = energy_ok(policy, NodeEnergy())
    assert not ok and "no perf/W figure" in why
    assert energy_ok(None, NodeEnergy()) == (True, "no energy terms")


def test_rank_by_efficiency_puts_unknown_last_and_breaks_ties_by_key():
    nodes = [
        ("0xc", NodeEnergy(None)),
        ("0xb", NodeEnergy(90.0)),
        ("0xa", NodeEnergy(90.0)),
        ("0xd", NodeEnergy(120.0)),
    ]
    assert rank_by_efficiency(nodes) == ["0xd", "0xa", "0xb", "0xc"]
