"""``oracle inventory``: the node's GPUs (NVML) or, without a GPU, its CPU."""

from __future__ import annotations

import argparse

from oracle.cli_ui import Ui, common_options
from oracle.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inventory",
        parents=[common_options()],
        help="list GPUs (NVML) or describe the CPU when there is none",
    )
    parser.set_defaults(func=run)


def _gib(n: int | None) -> str | None:
    return None if n is None else f"{n / 2**30:.1f} GiB"


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.inventory import collect

    ui.progress("reading NVML and /proc")
    inventory = collect()
    if ui.json:
        ui.emit(inventory.to_json())
        return EXIT_OK
    ui.line(f"NVML: {inventory.nvml_status}")
    if inventory.gpus:
        ui.table(
            [
                "#",
                "name",
                "VRAM",
                "driver",
                "CUDA",
                "power W (draw/limit)",
                "SM MHz (cur/max)",
                "mem MHz",
                "°C",
                "ECC c/u",
            ],
            [
                (
                    g.index,
                    g.name,
                    _gib(g.memory_total_bytes),
                    g.driver_version,
                    g.cuda_version,
                    f"{g.power_draw_w or '-'}/{g.power_limit_w or '-'}",
                    f"{g.sm_clock_mhz or '-'}/{g.sm_clock_max_mhz or '-'}",
                    f"{g.mem_clock_mhz or '-'}/{g.mem_clock_max_mhz or '-'}",
                    g.temperature_c,
                    f"{g.ecc_corrected if g.ecc_corrected is not None else '-'}/"
                    f"{g.ecc_uncorrected if g.ecc_uncorrected is not None else '-'}",
                )
                for g in inventory.gpus
            ],
        )
        for g in inventory.gpus:
            ui.line(f"GPU {g.index}: uuid {g.uuid}  node id {g.node_id}")
    cpu = inventory.cpu
    ui.line()
    ui.fields(
        [
            ("CPU", cpu.model),
            ("cores", f"{cpu.logical_cores} logical, {cpu.physical_cores or '?'} physical"),
            ("memory", _gib(cpu.memory_total_bytes)),
            ("BLAS (NumPy)", cpu.blas),
        ]
    )
    return EXIT_OK
