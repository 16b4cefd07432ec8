"""Import-layer check (``make lint``): no import cycle among the modules of ``oracle/`` and
``scripts/``, and the package ``oracle`` never imports ``scripts`` or ``tests``.

Reads the sources with :mod:`ast` (nothing is imported or run). Every import counts, also those
inside functions and under ``TYPE_CHECKING``: a lazy import still ties two modules together.
``from pkg import name`` is an edge to ``pkg.name`` when that is a module of ours, else to
``pkg``; inside ``scripts/`` a bare ``import devnet`` is ``scripts.devnet`` (a script run by
path has ``scripts/`` first on ``sys.path``). Prints each cycle and each forbidden import; exits 1 when there is one.

    python toolchain/import_layers.py [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGES = ("oracle", "scripts")
FORBIDDEN = {"oracle": ("scripts", "tests")}
"""Top-level package -> the top-level packages it may never import."""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "node_modules" not in path.parts:
                modules[module_name(root, path)] = path
    return modules


def imports_of(name: str, path: Path, is_package: bool) -> set[str]:
    """The absolute module names ``name`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Edges between our modules, and the forbidden imports found."""
    modules = find_modules(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    forbidden: list[str] = []
    for name, path in modules.items():
        top = name.split(".")[0]
        for target in imports_of(name, path, path.name == "__init__.py"):
            if top == "scripts" and target.split(".")[0] not in PACKAGES and f"scripts.{target}" in modules:
                target = f"scripts.{target}"  # a script run by path sees scripts/ as its sys.path[0]
            target_top = target.split(".")[0]
            if target_top in FORBIDDEN.get(top, ()):
                forbidden.append(f"{path.relative_to(root)}: {name} imports {target}")
            if target in modules and target != name:
                edges[name].add(target)
    return edges, sorted(set(forbidden))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    edges, forbidden = graph(args.root)
    found = cycles(edges)
    for component in found:
        print(f"import cycle: {' <-> '.join(component)}", file=sys.stderr)
    for line in forbidden:
        print(f"forbidden import: {line}", file=sys.stderr)
    if found or forbidden:
        return 1
    print(f"import layers: {len(edges)} modules, no cycle, oracle imports neither scripts nor tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
