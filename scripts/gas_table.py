"""The gas comparison's rows (ours, the reference's, the floor) and the markdown table
``contracts/GAS_COMPARE.md`` is made of; the measuring is ``scripts/gas_compare.py``."""

from dataclasses import dataclass, field

from scripts.gas_floor import Floor


@dataclass
class CompareRow:
    """One operation: our gas, the reference's gas (None: no reference does it), the floor."""

    operation: str
    ours: int
    reference: int | None
    floor: int | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.reference else self.ours / self.reference


@dataclass
class Comparison:
    title: str
    rows: list[CompareRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def row_of(op: str, receipt, reference: int | None, floor: Floor | None, note: str = "") -> CompareRow:
    return CompareRow(op, receipt.gas_used, reference, floor.total if floor else None, note)


def render(comparisons: list[Comparison], today: str) -> str:
    out = [
        "# Gas side by side with reference implementations",
        "",
        f"Measured with `make gas-compare` (`ape run gas_compare`, which rewrites this file) on {today}: one",
        "fresh local anvil run (ape-foundry, `evm_version: prague`), solc 0.8.37 with the optimizer at 1000",
        "runs, OpenZeppelin 5.4.0. Our contracts are deployed by `scripts/deploy.py` with its defaults (fee",
        "2.5%, collateral 100%, royalty 5%); the references in `contracts/reference/` are deployed in the same",
        "run on the same ComputeToken (ERC20Votes) and measured under the same storage conditions. Gas is",
        "`gasUsed` of the receipts (after refunds, including the 21,000 base and calldata).",
        "",
        "**Theoretical floor** = 21,000 + the calldata of OUR transaction's actual input (16 per non-zero",
        "byte, 4 per zero byte; the EIP-7623 floor price aside) + the storage writes, token transfers and",
        "signature checks that no implementation of the operation can avoid, at EIP-2929/2200/3529 prices:",
        "a cold slot 0 -> x costs 22,100, x -> y 5,000 (x -> 0 refunds 4,800), a slot written again in the",
        "same tx 100, the first call into the token 2,600, an ERC-20 Transfer log 1,756, an ERC-721",
        "Transfer log 1,875, an ecrecover 3,000. Not counted: SLOADs, checks, hashing, other events.",
        "The note column shows each floor's parts.",
    ]
    for cmp in comparisons:
        out += ["", f"## {cmp.title}", ""]
        out += [
            "| operation | our gas | reference gas | ratio | theoretical floor | ours / floor | floor = |"
        ]
        out += ["| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in cmp.rows:
            ref = f"{r.reference:,}" if r.reference else "-"
            ratio = "-" if not r.ratio else f"{r.ratio:.2f}" if r.ratio >= 0.1 else f"{r.ratio:.4f}"
            floor = f"{r.floor:,}" if r.floor else "-"
            vs_floor = f"{r.ours / r.floor:.2f}" if r.floor else "-"
            out.append(f"| {r.operation} | {r.ours:,} | {ref} | {ratio} | {floor} | {vs_floor} | {r.note} |")
        out += [""] + [f"- {n}" for n in cmp.notes]
    return "\n".join(out) + "\n"
