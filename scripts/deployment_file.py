"""The deployment file: the one description of a deployment that the oracle, the page and the
devnet read (default ``.devnet/deployment.json``), written only by the functions here.

Format (JSON, one object)::

    {
      "chainId": 31337,
      "contracts": {"<ContractName>": {"address": "0x...", "abi": [<ABI items>]}, ...},
      "deployBlock": 1,              # first block of the deployment (event scans start here)
      "epochs": {"genesis": 1796..., "epochSeconds": 3600, "validitySeconds": 7200},
                                     # the validators' epochs: epoch e starts at genesis + (e-1) * epochSeconds;
                                     # every validator of the network must use these (`oracle run` reads them)
      # on a local devnet only (scripts/devnet), for the page's dev wallet:
      "rpcUrl": "http://127.0.0.1:8545",
      "chainName": "Local devnet (anvil)",
      "devAccounts": [{"index": 0, "address": "0x...", "privateKey": "0x...", "label": "..."}],
      "validatorEndpoints": ["http://127.0.0.1:..."],
                                     # the validators' peer servers (GET /anomaly for the page)
      "paidEndpoint": "http://127.0.0.1:8700",                 # the default paid inference endpoint
      "paidEndpoints": {"<provider address>": "http://..."}   # by provider (checksummed)
    }

Contract names are the keys ``deploy_protocol`` / ``deploy_governed_protocol`` return. Local fields
known only later (the URL of a process the devnet starts after the deploy) go in with
:func:`add_local_fields` (:func:`publish_paid_endpoints` for the paid endpoints). Readers:
``oracle.deployment.load_deployment`` (the oracle), ``frontend/src`` (the page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_DEPLOYMENT_FILE = Path(".devnet/deployment.json")
EPOCH_DEFAULTS = {"epochSeconds": 3600, "validitySeconds": 2 * 3600}
"""The epochs of a network when the deployer names none (genesis: the chain's time at deploy)."""
LOCAL_FIELDS = ("rpcUrl", "chainName", "devAccounts", "validatorEndpoints", "paidEndpoint", "paidEndpoints")
"""The fields only a local devnet adds."""


def epoch_settings(epochs: Mapping[str, int] | None = None) -> dict[str, int]:
    """The ``epochs`` field: ``epochs``' values over :data:`EPOCH_DEFAULTS`, genesis defaulting to
    the chain's latest block time."""
    from ape import chain

    out = {"genesis": int(chain.blocks.head.timestamp), **EPOCH_DEFAULTS, **dict(epochs or {})}
    unknown = sorted(set(out) - {"genesis", "epochSeconds", "validitySeconds"})
    if unknown or out["epochSeconds"] <= 0 or out["validitySeconds"] <= 0:
        raise ValueError(
            f"bad epochs {dict(epochs or {})}: give genesis, epochSeconds > 0, validitySeconds > 0"
        )
    return {k: int(v) for k, v in out.items()}


def deployment_document(
    contracts: Mapping[str, Any],
    deploy_block: int,
    local: Mapping[str, Any] | None = None,
    epochs: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The file's content: chain id, each contract's address and ABI, first block, the epochs
    (:func:`epoch_settings`), and the ``local`` devnet fields (:data:`LOCAL_FIELDS`) when given."""
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
        "epochs": epoch_settings(epochs),
        **dict(local or {}),
    }


def write_deployment(
    contracts: Mapping[str, Any],
    path: Path | str,
    deploy_block: int,
    local: Mapping[str, Any] | None = None,
    epochs: Mapping[str, int] | None = None,
) -> Path:
    """Write the deployment file atomically (creating its folder); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(deployment_document(contracts, deploy_block, local, epochs), indent=2) + "\n")
    tmp.replace(path)
    return path


def add_local_fields(path: Path | str, **fields: Any) -> dict[str, Any]:
    """Set local fields (:data:`LOCAL_FIELDS`, e.g. ``validatorEndpoints=[...]``) in an existing
    deployment file, atomically: a reader sees the old file or the new one, never half of one.
    Other fields are kept; a field given again is replaced. Returns the new document."""
    path = Path(path)
    unknown = sorted(set(fields) - set(LOCAL_FIELDS))
    if unknown:
        raise ValueError(f"not deployment-file fields: {unknown}; the local ones are {list(LOCAL_FIELDS)}")
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"no deployment file at {path}: deploy first (scripts/deploy.py or make demo)"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{path} is not a deployment file ({exc}): deploy again to rewrite it") from None
    if not isinstance(doc, dict) or "contracts" not in doc:
        raise ValueError(f"{path} is not a deployment file (no contracts): deploy again to rewrite it")
    doc.update(fields)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return doc


def publish_paid_endpoints(path: Path | str, endpoints: Mapping[str, str]) -> Path:
    """Add the paid inference endpoints ({provider address: base URL}, the first one the default)
    to the deployment file at `path`, atomically (:func:`add_local_fields`); returns its path."""
    from eth_utils import to_checksum_address

    if not endpoints:
        raise ValueError("no paid endpoint to publish")
    path = Path(path)
    by_provider = {to_checksum_address(a): url.rstrip("/") for a, url in endpoints.items()}
    known = json.loads(path.read_text()).get("paidEndpoints", {}) if path.exists() else {}
    add_local_fields(
        path, paidEndpoints={**known, **by_provider}, paidEndpoint=next(iter(by_provider.values()))
    )
    return path
