"""Where the devnet's pieces live in the checkout, and where it keeps its state (``.devnet``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVNET_DIR = ROOT / ".devnet"
DEPLOYMENT_FILE = DEVNET_DIR / "deployment.json"  # what the oracle and the page read by default
FRONTEND_DIR = ROOT / "frontend"
DIST_DIR = FRONTEND_DIR / "dist"
ANVIL_BIN = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
VITE_BIN = ROOT / "node_modules" / ".bin" / "vite"
VENV_BIN = ROOT / ".venv" / "bin"


def shown(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it (for messages)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
