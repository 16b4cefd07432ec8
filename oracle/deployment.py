"""The deployment file, as the oracle reads it (default ``.devnet/deployment.json``)::

    {"chainId": int, "contracts": {Name: {"address": "0x..", "abi": [...]}}, "deployBlock": int,
     "epochs": {"genesis": int, "epochSeconds": int, "validitySeconds": int}}

(``epochs``: the validators' epochs, :class:`Epochs`; older files may lack it)

plus, on a local devnet, fields the oracle ignores (``rpcUrl``, ``chainName``, ``devAccounts``).
The writer, and the full statement of the format, is ``scripts/deployment_file.py`` in the
repository; an operator gets the file from whoever deployed the contracts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from oracle.errors import OracleError


class DeploymentError(OracleError):
    """The deployment file is missing or malformed, or names another chain."""


@dataclass(frozen=True)
class ContractInfo:
    name: str
    address: str
    abi: list[dict[str, Any]]


@dataclass(frozen=True)
class Epochs:
    """The network's epochs: epoch ``e`` (1-based) starts at ``genesis + (e - 1) * epoch_seconds``;
    an attestation of epoch ``e`` expires ``validity_seconds`` after the epoch ends."""

    genesis: int
    epoch_seconds: int
    validity_seconds: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Epochs:
        epochs = cls(int(data["genesis"]), int(data["epochSeconds"]), int(data["validitySeconds"]))
        if epochs.epoch_seconds <= 0 or epochs.validity_seconds <= 0:
            raise ValueError(f"epochSeconds and validitySeconds must be > 0, got {data}")
        return epochs


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    contracts: dict[str, ContractInfo]
    deploy_block: int = 0
    epochs: Epochs | None = None

    def get(self, name: str) -> ContractInfo:
        try:
            return self.contracts[name]
        except KeyError:
            raise DeploymentError(
                f"contract {name!r} is not in the deployment (has: {', '.join(sorted(self.contracts))}); "
                "redeploy with scripts/deploy.py"
            ) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        try:
            contracts = {
                name: ContractInfo(name, to_checksum_address(c["address"]), list(c["abi"]))
                for name, c in data["contracts"].items()
            }
            epochs = Epochs.from_dict(data["epochs"]) if data.get("epochs") is not None else None
            return cls(int(data["chainId"]), contracts, int(data.get("deployBlock", 0)), epochs)
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentError(
                f"malformed deployment data ({exc}); expected "
                '{"chainId": int, "contracts": {Name: {"address", "abi"}}, "deployBlock": int, '
                '"epochs": {"genesis", "epochSeconds", "validitySeconds"}}'
            ) from exc


def load_deployment(path: str | Path) -> Deployment:
    """Read a deployment file (see the module doc)."""
    p = Path(path)
    if not p.is_file():
        raise DeploymentError(f"deployment file {p} not found: deploy first (make demo / scripts/deploy.py)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"deployment file {p} is not valid JSON: {exc}") from exc
    return Deployment.from_dict(data)
