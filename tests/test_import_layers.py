"""toolchain/import_layers.py, the import-layer check of `make lint`: cycles and forbidden imports."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_layers", ROOT / "toolchain" / "import_layers.py")
layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_package_has_no_cycle_and_never_imports_scripts_or_tests():
    edges, forbidden = layers.graph(ROOT)
    assert [c for c in layers.cycles(edges) if c[0].startswith("oracle")] == []
    assert forbidden == []
    assert "oracle.validator.daemon" in edges["oracle.cli_run"]


def test_a_cycle_through_a_lazy_import_fails(tmp_path, capsys):
    root = _tree(
        tmp_path,
        {
            "oracle/__init__.py": "",
            "oracle/a.py": "from oracle import b\n",
            "oracle/b.py": "def f():\n    from oracle.a import x\n",
            "scripts/run.py": "import helper\n",
            "scripts/helper.py": "def g():\n    import run\n",
        },
    )
    assert layers.main(["--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "import cycle: oracle.a <-> oracle.b" in err
    assert "import cycle: scripts.helper <-> scripts.run" in err


def test_the_package_importing_scripts_or_tests_fails(tmp_path, capsys):
    root = _tree(
        tmp_path,
        {
            "oracle/__init__.py": "",
            "oracle/bench.py": "def f():\n    from scripts.deploy import deploy\n    import tests.helpers\n",
            "scripts/deploy.py": "from oracle import bench\n",
        },
    )
    assert layers.main(["--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "oracle.bench imports scripts.deploy" in err and "oracle.bench imports tests.helpers" in err


def test_a_clean_tree_passes(tmp_path, capsys):
    root = _tree(
        tmp_path,
        {"oracle/__init__.py": "", "oracle/a.py": "import json\nfrom oracle import b\n", "oracle/b.py": ""},
    )
    assert layers.main(["--root", str(root)]) == 0
    assert "no cycle" in capsys.readouterr().out
