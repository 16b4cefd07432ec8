"""The deployment file: the one description of a deployment that the oracle, the page and the
devnet read (default ``.devnet/deployment.json``), written only by the functions here.

Format (JSON, one object)::

    {
      "chainId": 31337,
      "contracts": {"<ContractName>": {"address": "0x...", "abi": [<ABI items>]}, ...},
      "deployBlock": 1,              # first block of the deployment (event scans start here)
      # on a local devnet only (scripts/devnet), for the page's dev wallet:
      "rpcUrl": "http://127.0.0.1:8545",
      "chainName": "Local devnet (anvil)",
      "devAccounts": [{"index": 0, "address": "0x...", "privateKey": "0x...", "label": "..."}],
      # added by publish_paid_endpoints once a paid inference endpoint answers (the page's pay panel):
      "paidEndpoint": "http://127.0.0.1:8700",                 # the default one
      "paidEndpoints": {"<provider address>": "http://..."}   # by provider (checksummed)
    }

Contract names are the keys ``deploy_protocol`` / ``deploy_governed_protocol`` return. Readers:
``oracle.deployment.load_deployment`` (the oracle), ``frontend/src`` (the page). Writers:
:func:`write_deployment`, and :func:`publish_paid_endpoints` for the paid endpoints' URLs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_DEPLOYMENT_FILE = Path(".devnet/deployment.json")
LOCAL_FIELDS = ("rpcUrl", "chainName", "devAccounts")
"""The fields only a local devnet adds."""


def deployment_document(
    contracts: Mapping[str, Any], deploy_block: int, local: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The file's content: chain id, each contract's address and ABI, first block, and the
    ``local`` devnet fields (:data:`LOCAL_FIELDS`) when given."""
    from ape import chain

    unknown = sorted(set(local or {}) - set(LOCAL_FIELDS))
    if unknown:
        raise ValueError(f"not deployment-file fields: {unknown}; the local ones are {list(LOCAL_FIELDS)}")
    return {
        "chainId": chain.chain_id,
        "contracts": {
            name: {
                "address": str(contract.address),
                "abi": [abi.model_dump(mode="json", by_alias=True) for abi in contract.contract_type.abi],
            }
            for name, contract in contracts.items()
        },
        "deployBlock": int(deploy_block),
        **dict(local or {}),
    }


def write_deployment(
    contracts: Mapping[str, Any],
    path: Path | str,
    deploy_block: int,
    local: Mapping[str, Any] | None = None,
) -> Path:
    """Write the deployment file atomically (creating its folder); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(deployment_document(contracts, deploy_block, local), indent=2) + "\n")
    tmp.replace(path)
    return path


def publish_paid_endpoints(path: Path | str, endpoints: Mapping[str, str]) -> Path:
    """Add the paid inference endpoints ({provider address: base URL}, the first one the default)
    to the deployment file at `path`, atomically; returns its path."""
    from eth_utils import to_checksum_address

    if not endpoints:
        raise ValueError("no paid endpoint to publish")
    path = Path(path)
    doc = json.loads(path.read_text())
    by_provider = {to_checksum_address(a): url.rstrip("/") for a, url in endpoints.items()}
    doc["paidEndpoints"] = {**doc.get("paidEndpoints", {}), **by_provider}
    doc["paidEndpoint"] = next(iter(by_provider.values()))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path
