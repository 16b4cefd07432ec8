"""The offline toolchain: the solc stand-in, the ape-solidity guard, and set-up's error messages."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "toolchain" / "solc-shim.cjs"


def solc_version() -> str:
    return json.loads((ROOT / "node_modules" / "solc" / "package.json").read_text())["version"]


def installed_shim() -> Path:
    return Path(os.environ.get("SOLCX_BINARY_PATH", ROOT / ".solcx")) / f"solc-v{solc_version()}"


def run_shim(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(installed_shim()), *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_version_speaks_the_native_cli_format():
    out = run_shim("--version")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith(f"Version: {solc_version()}+commit.") and lines[1].endswith(".Linux.g++")


def test_standard_json_resolves_imports_through_base_path_and_remapping():
    source = (
        'pragma solidity ^0.8.24;\nimport {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";\n'
        'contract Nft is ERC721 { constructor() ERC721("n", "N") {} }\n'
    )
    request = {
        "language": "Solidity",
        "sources": {"Nft.sol": {"content": source}},
        "settings": {
            "remappings": ["@openzeppelin/contracts=node_modules/@openzeppelin/contracts"],
            "outputSelection": {
                "*": {"*": ["abi", "metadata", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    out = run_shim("--standard-json", "--base-path", str(ROOT), stdin=json.dumps(request))
    assert out.returncode == 0, out.stderr
    # Large output (well over 64 KiB) must come back whole: node must not exit early.
    assert len(out.stdout) > 64 * 1024
    result = json.loads(out.stdout)
    assert not [e for e in result.get("errors", []) if e["severity"] == "error"]
    assert result["contracts"]["Nft.sol"]["Nft"]["evm"]["bytecode"]["object"]


def test_standard_json_reports_a_missing_import_as_a_compiler_error():
    request = {
        "language": "Solidity",
        "sources": {
            "A.sol": {"content": 'pragma solidity ^0.8.0; import "./missing/Nope.sol"; contract A {}'}
        },
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    out = run_shim("--standard-json", "--base-path", str(ROOT), stdin=json.dumps(request))
    errors = [e for e in json.loads(out.stdout)["errors"] if e["severity"] == "error"]
    assert errors and "Nope.sol" in errors[0]["message"]


def test_combined_json_works_for_py_solc_x(tmp_path):
    import solcx

    src = tmp_path / "Counter.sol"
    src.write_text(
        "pragma solidity ^0.8.0; contract Counter { uint256 public n; function inc() external { n++; } }"
    )
    compiled = solcx.compile_files([src], output_values=["abi", "bin"], solc_binary=installed_shim())
    (key,) = compiled
    assert key.endswith(":Counter")
    assert {f["name"] for f in compiled[key]["abi"] if f["type"] == "function"} == {"n", "inc"}
    assert compiled[key]["bin"]


def test_unknown_option_fails_with_usage():
    out = run_shim("--frobnicate")
    assert out.returncode == 2
    assert "unsupported option --frobnicate" in out.stderr and "usage:" in out.stderr


def test_asking_ape_for_another_solc_version_names_the_one_available():
    import ape_solidity.compiler as compiler
    from ape_offline_solc import OfflineSolcError

    with pytest.raises(OfflineSolcError) as err:
        compiler._install_solc("0.8.19")
    message = str(err.value)
    assert "0.8.19" in message and solc_version() in message
    assert "ape-config.yaml" in message


def _path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH holding links to every system command except the ones named in `hidden`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for entry in Path(folder).iterdir():
            name = entry.name
            if any(
                name == h or name.startswith(h + ".") or (h == "python3" and name.startswith("python3"))
                for h in hidden
            ):
                continue
            link = bin_dir / name
            if not link.exists():
                link.symlink_to(entry)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        (("node", "npm"), "Node.js 20 or newer is required"),
        (("python3", "python"), "Python 3.11 or newer is required"),
    ],
)
def test_setup_stops_with_one_line_naming_the_missing_tool(tmp_path, hidden, expected):
    env = {"PATH": _path_without(tmp_path, *hidden), "HOME": str(tmp_path)}
    out = subprocess.run(
        ["bash", str(ROOT / "toolchain" / "setup.sh")], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("setup: " + expected) and "run this again" in lines[0]
