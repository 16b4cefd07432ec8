"""Inventory: the real NVML path on whatever machine runs the tests, a machine without a driver
(injected), and the parsing code through a stand-in NVML."""

import pytest
from eth_utils import keccak

from oracle import inventory as inv
from tests.support.gpu import fake_nvml, no_gpu_nvml


def test_real_nvml_gives_a_one_line_status_and_the_gpus_it_sees():
    result = inv.collect()  # the real pynvml: GPUs on a GPU machine, "no GPU: ..." elsewhere
    assert "\n" not in result.nvml_status
    assert result.has_gpu == bool(result.gpus)
    assert result.nvml_status.startswith("ok: " if result.gpus else "no GPU: ")
    assert result.cpu.logical_cores >= 1


def test_without_a_driver_nvml_reports_library_not_found_in_one_line_and_describes_the_cpu():
    result = inv.collect(nvml=no_gpu_nvml())
    assert result.gpus == [] and not result.has_gpu
    assert result.nvml_status == "no GPU: NVML library not found (no NVIDIA driver installed)"
    assert "\n" not in result.nvml_status
    assert result.cpu.logical_cores >= 1
    assert result.cpu.memory_total_bytes and result.cpu.memory_total_bytes > 0
    assert result.cpu.model and result.cpu.model != "unknown CPU"
    assert "blas" in result.cpu.blas.lower()


def test_node_id_is_keccak_of_the_uuid():
    uuid = "GPU-5e7a1c2b-0000-1111-2222-333344445555"
    assert inv.node_id(uuid) == keccak(text=uuid)
    assert len(inv.node_id(uuid)) == 32


def test_a_fake_uuid_for_a_cpu_node_is_canonical_and_deterministic():
    a = inv.synthetic_uuid("devnet-cpu-node:0xabc")
    assert inv.uuid_index(a) is None and inv.uuid_problem(a) is None
    assert a == inv.synthetic_uuid("devnet-cpu-node:0xabc") != inv.synthetic_uuid("devnet-cpu-node:0xabd")
    assert a.startswith("GPU-") and [len(p) for p in a[4:].split("-")] == [8, 4, 4, 4, 12]


def test_a_uuid_not_in_nvml_form_is_explained_in_one_sentence():
    good = "GPU-5e7a1c2b-0000-1111-2222-333344445555"
    assert inv.uuid_problem(good) is None and inv.uuid_problem("MIG" + good[3:]) is None
    assert inv.uuid_problem(good.upper()) == (
        f"GPU UUID {good.upper()!r}: character 6 is 'E' where NVML's form has a lower-case hex digit "
        "(GPU- or MIG- then 8-4-4-4-12 lower-case hex digits, as `oracle inventory` prints it)"
    )
    assert "character 1 is 'g' where NVML's form has its prefix GPU- or MIG-" in inv.uuid_problem(
        good.lower()[:3].lower() + good[3:]
    )
    assert "has 12 characters; NVML's form has 40" in inv.uuid_problem(good[:12])


def test_an_inventory_must_list_the_nodes_gpu_when_it_lists_gpus():
    mine, other = inv.synthetic_uuid("mine"), inv.synthetic_uuid("other")
    node = inv.node_id(mine)
    assert inv.inventory_uuid_problem({"gpus": [{"uuid": other}, {"uuid": mine}]}, node) is None
    assert inv.inventory_uuid_problem({"gpus": []}, node) is None  # a CPU node: nothing to compare
    assert inv.inventory_uuid_problem({}, node) is None and inv.inventory_uuid_problem("junk", node) is None
    problem = inv.inventory_uuid_problem({"gpus": [{"uuid": other}, {"uuid": mine.upper()}, "junk"]}, node)
    assert problem.startswith(f"its inventory lists 3 GPU(s) ({other}, {mine.upper()})")
    assert problem.endswith(f"node id 0x{node.hex()}: the GPU answering is not the one registered")


def test_parse_cpuinfo_counts_physical_cores():
    text = (
        "processor\t: 0\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t: 0\n\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t: 0\n\n"
        "processor\t: 2\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t: 1\n"
    )
    assert inv.parse_cpuinfo(text) == ("Test CPU 9000", 2)
    assert inv.parse_meminfo("MemTotal:       16384 kB\nMemFree: 1 kB\n") == 16384 * 1024


def test_fake_nvml_devices_are_parsed_into_gpu_info():
    nvml = fake_nvml(count=2)
    result = inv.collect(nvml=nvml)
    assert result.nvml_status == "ok: 2 GPU(s), driver 550.54.15, CUDA 12.4"
    assert nvml.shutdowns == 1
    g = result.gpus[1]
    assert g.index == 1 and g.name == "NVIDIA H100 80GB HBM3"
    assert g.uuid == "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd"
    assert g.node_id == "0x" + keccak(text=g.uuid).hex()
    assert g.memory_total_bytes == 85520809984
    assert (g.driver_version, g.cuda_version, g.compute_capability) == ("550.54.15", "12.4", "9.0")
    assert (g.power_limit_w, g.power_draw_w) == (700.0, 71.234)
    assert (g.sm_clock_mhz, g.sm_clock_max_mhz, g.mem_clock_mhz, g.mem_clock_max_mhz) == (
        1980,
        1980,
        2619,
        2619,
    )
    assert (g.temperature_c, g.ecc_corrected, g.ecc_uncorrected) == (34, 5, 0)
    assert (g.temperature_slowdown_c, g.clock_event_reasons) == (87, 0x1)
    assert result.to_json()["gpus"][1]["uuid"] == g.uuid


def test_unsupported_optional_fields_become_none():
    unsupported = ("ecc", "power", "temperature", "max_clock", "cuda", "cc")
    g = inv.collect(nvml=fake_nvml(count=1, unsupported=unsupported)).gpus[0]
    assert g.ecc_corrected is None and g.ecc_uncorrected is None
    assert g.power_draw_w is None and g.temperature_c is None
    assert g.sm_clock_max_mhz is None and g.cuda_version is None and g.compute_capability is None
    assert g.power_limit_w == 700.0 and g.sm_clock_mhz == 1980


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"init_error": "NVMLError_DriverNotLoaded"}, "no GPU: the NVIDIA driver is not loaded"),
        (
            {"init_error": "NVMLError_LibraryNotFound"},
            "no GPU: NVML library not found (no NVIDIA driver installed)",
        ),
        ({"count": 0}, "no GPU: NVML found zero devices"),
    ],
)
def test_no_usable_gpu_is_one_line_and_falls_back_to_cpu(kwargs, status):
    result = inv.collect(nvml=fake_nvml(**kwargs))
    assert result.gpus == [] and result.nvml_status == status
    assert result.cpu.logical_cores >= 1
