"""``oracle node stake|register|deregister|unbond|withdraw|status``: a provider's own chain actions.

Run a node without the web page: stake tokens, register each GPU (node id = keccak256 of its NVML
UUID; the endpoint is the URL validators challenge), unbond and withdraw, and see the node's stake,
attestations and earnings. Every action prints a table, or one JSON document with ``--json``.
Amounts are in tokens (``100``, ``2.5``). The chain, deployment and key options are the same as
``oracle run``'s (and come from the config file / ``ORACLE_*`` variables too).
"""

from __future__ import annotations

import argparse

from oracle.cli_ui import Ui, chain_options, common_options, connect
from oracle.errors import EXIT_OK
from oracle.provider import staking


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "node", parents=[common_options()], help="stake, register GPUs, unbond, withdraw, status"
    )
    sub = parser.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    parents = [common_options(), chain_options()]

    p = sub.add_parser("stake", parents=parents, help="stake AMOUNT tokens (approves first if needed)")
    p.add_argument("amount", help="tokens, e.g. 1000 or 2.5")
    p.set_defaults(func=run, action=lambda c, a: staking.stake(c, staking.parse_amount(a.amount)))

    p = sub.add_parser("register", parents=parents, help="register a GPU at the endpoint validators reach")
    p.add_argument("--endpoint", required=True, help="URL of `oracle serve`, e.g. http://203.0.113.7:8600")
    p.add_argument("--gpu", type=int, default=0, help="NVML index of the GPU (default 0)")
    p.add_argument(
        "--uuid",
        help="GPU UUID instead of reading NVML, in its form GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    )
    p.add_argument("--model", help="GPU model name (default: NVML's)")
    p.add_argument("--vram-mib", type=int, help="VRAM in MiB (default: NVML's)")
    p.set_defaults(func=run, action=_register)

    p = sub.add_parser("deregister", parents=parents, help="deregister NODE_ID (frees its reserved stake)")
    p.add_argument("node_id", help="0x... node id (see `oracle node status`)")
    p.set_defaults(func=run, action=lambda c, a: staking.deregister(c, a.node_id))

    p = sub.add_parser("unbond", parents=parents, help="start unbonding AMOUNT tokens of free stake")
    p.add_argument("amount", help="tokens")
    p.set_defaults(func=run, action=lambda c, a: staking.unbond(c, staking.parse_amount(a.amount)))

    p = sub.add_parser("withdraw", parents=parents, help="withdraw stake whose unbonding period has passed")
    p.set_defaults(func=run, action=lambda c, a: staking.withdraw(c))

    p = sub.add_parser("status", parents=[common_options(), chain_options()], help="stake, nodes, earnings")
    p.add_argument("--address", help="provider to show (default: the key's address)")
    p.set_defaults(func=run, action=_status, read_only=True)


def _register(chain, args: argparse.Namespace) -> dict:
    uuid, model, vram = args.uuid, args.model, args.vram_mib
    if uuid is None or model is None or vram is None:
        from oracle.inventory import collect

        inventory = collect()
        gpus = {g.index: g for g in inventory.gpus}
        if args.gpu not in gpus:
            raise staking.StakingError(
                f"no GPU {args.gpu} here ({inventory.nvml_status}); pass --uuid, --model and --vram-mib "
                "to register a node by hand"
            )
        gpu = gpus[args.gpu]
        uuid = uuid or gpu.uuid
        model = model or gpu.name
        vram = vram if vram is not None else (gpu.memory_total_bytes or 0) // 2**20
    return staking.register(chain, uuid, model, vram, args.endpoint)


def _status(chain, args: argparse.Namespace) -> dict:
    address = args.address or (chain.account.address if chain.account else None)
    if address is None:
        raise staking.StakingError("which provider? pass --address, or a key (--keystore / --private-key)")
    return staking.status(chain, address)


def run(args: argparse.Namespace, ui: Ui) -> int:
    read_only = getattr(args, "read_only", False)
    wants_key = not read_only or bool(args.keystore or args.private_key)
    chain = connect(args, need_key=wants_key)
    result = args.action(chain, args)
    if ui.json:
        ui.emit(result)
        return EXIT_OK
    nodes = result.pop("node_list", None)
    earnings = result.pop("earnings", None)
    ui.fields(result.items())
    if earnings:
        ui.fields(earnings.items())
    if nodes is not None:
        ui.line()
        ui.table(
            ["node", "GPU", "VRAM MiB", "endpoint", "epoch", "score"],
            [
                (
                    n["node_id"][:10] + "…",
                    n["gpu_model"],
                    n["vram_mib"],
                    n["endpoint"],
                    n["attested_epoch"],
                    n["attested_score"],
                )
                for n in nodes
            ],
        )
    return EXIT_OK
