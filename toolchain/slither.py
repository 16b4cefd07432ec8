"""Static analysis of the protocol's contracts with slither (``make slither``; run by
tests/test_static_analysis.py as part of ``ape test``).

One slither run covers every contract: a generated entry file (``.build/slither/Entry.sol``) imports
each contract under ``contracts/`` with a relative path, so one solc invocation (the project's own
solc 0.8.37 stand-in, the OpenZeppelin remapping of ape-config.yaml) compiles them all (~25 s instead
of ~9 s per file). ``contracts/test/`` (deliberately hostile test doubles: re-entrant tokens and NFTs)
and ``contracts/reference/`` (gas measuring sticks, never deployed) are not analysed: their findings
would be by design and say nothing about the protocol. OpenZeppelin (node_modules) is filtered out.

Policy (the exit status / ``Report.ok``):
- no High or Medium finding at all (fix it; a proven false positive may be silenced in the source
  with ``// slither-disable-next-line <check>`` and a comment saying why, and it must then be listed
  under "Suppressed inline" in contracts/SLITHER_TRIAGE.md);
- every Low / Informational / Optimization finding is listed in contracts/SLITHER_TRIAGE.md, matched
  by (check, contract, function or event/variable name), never by line number.

Results are cached in ``.build/slither/`` under a hash of every analysed source, this script (its
slither arguments), the solc-js and OpenZeppelin versions and the slither version (not the triage
file), so a re-run with unchanged contracts takes about a second. ``--no-cache`` forces a fresh run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
EXCLUDED_DIRS = ("test", "reference")
TRIAGE = CONTRACTS / "SLITHER_TRIAGE.md"
WORK = ROOT / ".build" / "slither"
SOLC = ROOT / ".solcx" / "solc-v0.8.37"
REMAP = "@openzeppelin/contracts=node_modules/@openzeppelin/contracts"
BLOCKING = ("High", "Medium")
DISABLE_RE = re.compile(r"slither-disable-next-line\s+([\w,-]+)")


class SlitherError(RuntimeError):
    """slither could not run or produced no results (message says what to do)."""


@dataclass(frozen=True)
class Finding:
    check: str
    impact: str
    contract: str
    name: str  # function, event, variable or "-" for the contract itself
    location: str
    description: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.check, self.contract, self.name)


@dataclass
class Report:
    findings: list[Finding]
    triaged: set[tuple[str, str, str]]
    suppressed: list[tuple[str, str]]  # (check, file) of inline suppressions in the sources
    suppressed_listed: set[tuple[str, str]]  # (check, contract) rows of "Suppressed inline"
    blocking: list[Finding] = field(default_factory=list)
    untriaged: list[Finding] = field(default_factory=list)
    stale: list[tuple[str, str, str]] = field(default_factory=list)
    unlisted_suppressions: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blocking = [f for f in self.findings if f.impact in BLOCKING]
        self.untriaged = [f for f in self.findings if f.impact not in BLOCKING and f.key not in self.triaged]
        found = {f.key for f in self.findings}
        self.stale = sorted(self.triaged - found)
        self.unlisted_suppressions = [
            (check, path)
            for check, path in self.suppressed
            if (check, Path(path).stem) not in self.suppressed_listed
        ]

    @property
    def ok(self) -> bool:
        return not (self.blocking or self.untriaged or self.unlisted_suppressions)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.impact] = out.get(f.impact, 0) + 1
        return out

    def summary(self) -> str:
        lines = [
            f"slither: {len(self.findings)} finding(s) in the project's contracts "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.counts().items()))
            + f"; {len(self.suppressed)} suppressed inline (listed in {TRIAGE.relative_to(ROOT)})"
        ]
        for f in self.blocking:
            lines.append(f"  BLOCKING {f.impact} {f.check} {f.contract}.{f.name} ({f.location}): fix it")
        for f in self.untriaged:
            lines.append(
                f"  UNTRIAGED {f.impact} {f.check} {f.contract}.{f.name} ({f.location}): fix it or add a row "
                f"`| {f.check} | {f.contract} | {f.name} | {f.impact} | why |` to {TRIAGE.name}"
            )
        for check, path in self.unlisted_suppressions:
            lines.append(
                f"  UNLISTED inline suppression of {check} in {path}: list it under 'Suppressed inline'"
            )
        for key in self.stale:
            lines.append(f"  note: triage row {key} matches no finding any more (remove it)")
        lines.append("slither: OK" if self.ok else "slither: FAILED")
        return "\n".join(lines)


def sources() -> list[Path]:
    """Every analysed contract file (sorted)."""
    return sorted(
        p for p in CONTRACTS.rglob("*.sol") if p.relative_to(CONTRACTS).parts[0] not in EXCLUDED_DIRS
    )


def write_entry(files: list[Path]) -> Path:
    """The generated file importing every analysed contract (relative imports resolve from it)."""
    WORK.mkdir(parents=True, exist_ok=True)
    entry = WORK / "Entry.sol"
    lines = [
        "// SPDX-License-Identifier: MIT",
        "// Generated by toolchain/slither.py",
        "pragma solidity ^0.8.24;",
    ]
    lines += [f'import "{os.path.relpath(p, WORK)}";' for p in files]
    entry.write_text("\n".join(lines) + "\n")
    return entry


def _slither_bin() -> str:
    local = Path(sys.executable).parent / "slither"
    found = str(local) if local.exists() else shutil.which("slither")
    if not found:
        raise SlitherError("slither is not installed: run toolchain/setup.sh (it is in requirements.txt)")
    return found


def _slither_args(entry: Path, out: Path) -> list[str]:
    return [
        _slither_bin(),
        str(entry.relative_to(ROOT)),
        "--solc",
        str(SOLC),
        "--solc-remaps",
        REMAP,
        "--filter-paths",
        "node_modules",
        "--json",
        str(out),
    ]


def _cache_key(files: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(version("slither-analyzer").encode())
    h.update(Path(__file__).read_bytes())  # this script: its arguments and filters
    for package in ("solc", "@openzeppelin/contracts"):
        manifest = ROOT / "node_modules" / package / "package.json"
        h.update(manifest.read_bytes() if manifest.exists() else b"")
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def run_slither(use_cache: bool = True) -> list[dict]:
    """Raw detector results of one slither run over every analysed contract (cached)."""
    files = sources()
    cached = WORK / f"results-{_cache_key(files)}.json"
    if use_cache and cached.exists():
        return json.loads(cached.read_text())
    if not SOLC.exists():
        raise SlitherError(f"{SOLC} is missing: run toolchain/setup.sh first")
    entry = write_entry(files)
    out = WORK / "out.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(_slither_args(entry, out), cwd=ROOT, capture_output=True, text=True)
    if not out.exists():
        raise SlitherError(f"slither produced no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    if not data.get("success"):
        raise SlitherError(f"slither failed: {data.get('error')}\n{proc.stderr[-3000:]}")
    detectors = data.get("results", {}).get("detectors", [])
    for old in WORK.glob("results-*.json"):
        old.unlink()
    cached.write_text(json.dumps(detectors))
    return detectors


def _owner(element: dict) -> tuple[str, str]:
    """(contract, name) an element belongs to: a function/event/variable's contract and name; a local
    variable or a node is attributed to its function."""
    kind, name = element.get("type"), element.get("name", "-")
    parent = element.get("type_specific_fields", {}).get("parent", {})
    if kind == "contract":
        return name, "-"
    if kind in ("node", "variable") and parent.get("type") == "function":
        return _owner(parent)
    if parent.get("type") == "contract":
        return parent.get("name", "-"), name
    return "-", name


def findings(detectors: list[dict]) -> list[Finding]:
    out = []
    for r in detectors:
        first = r["elements"][0] if r.get("elements") else {}
        contract, name = _owner(first)
        sm = first.get("source_mapping", {})
        lines = sm.get("lines") or [0]
        location = f"{sm.get('filename_relative', '?')}#{lines[0]}"
        out.append(Finding(r["check"], r["impact"], contract, name, location, r["description"].strip()))
    return out


def read_triage(path: Path = TRIAGE) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
    """Triage rows `| check | contract | function | ...` of the "Triaged findings" tables, and the
    (check, contract) rows of the "Suppressed inline" table."""
    triaged: set[tuple[str, str, str]] = set()
    inline: set[tuple[str, str]] = set()
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
            continue
        if not line.startswith("|"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("check", "") or set(cells[0]) <= set("-: "):
            continue
        if section.startswith("suppressed inline"):
            inline.add((cells[0], cells[1]))
        elif section.startswith("triaged"):
            triaged.add((cells[0], cells[1], cells[2]))
    return triaged, inline


def inline_suppressions(files: list[Path]) -> list[tuple[str, str]]:
    out = []
    for p in files:
        for m in DISABLE_RE.finditer(p.read_text()):
            out += [(check, str(p.relative_to(ROOT))) for check in m.group(1).split(",")]
    return out


def analyse(use_cache: bool = True) -> Report:
    triaged, listed = read_triage()
    return Report(findings(run_slither(use_cache)), triaged, inline_suppressions(sources()), listed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="always run slither afresh")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every finding")
    args = parser.parse_args(argv)
    try:
        report = analyse(use_cache=not args.no_cache)
    except SlitherError as exc:
        print(f"slither: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        for f in report.findings:
            print(f"{f.impact:<13} {f.check:<26} {f.contract}.{f.name} ({f.location})")
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
