"""A node's discovery document: it registers one URL (its ``metadataURI``, the challenge server's,
:mod:`oracle.provider.server`), which answers ``GET /services`` with the URLs of the node's other
services: ``{"jobs": url | null, "paid": url | null}`` (the job agent, the paid inference
endpoint). Clients resolve a service with :func:`service_url`, falling back to the
``metadataURI`` itself for a node that publishes no such document (an agent registered directly).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from oracle.errors import EXIT_USAGE, OracleError

SERVICES = ("jobs", "paid")
DISCOVERY_TIMEOUT_S = 5.0


class ServicesError(OracleError):
    """A service URL given to the discovery document is unknown or not http(s)."""

    exit_code = EXIT_USAGE


def check_services(services: Mapping[str, str | None]) -> dict[str, str | None]:
    """``{"jobs": url|None, "paid": url|None}`` from ``services`` (trailing ``/`` dropped)."""
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise ServicesError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    out: dict[str, str | None] = dict.fromkeys(SERVICES)
    for name, url in services.items():
        if url:
            if not url.startswith(("http://", "https://")):
                raise ServicesError(f"the {name} service URL {url!r} must start with http:// or https://")
            out[name] = url.rstrip("/")
    return out


def node_base(metadata_uri: str) -> str:
    """The URL of a ``metadataURI`` without its ``#key=...`` fragment and trailing ``/``."""
    return metadata_uri.split("#", 1)[0].rstrip("/")


def service_url(metadata_uri: str, service: str, timeout_s: float = DISCOVERY_TIMEOUT_S) -> str:
    """The URL of ``service`` of the node registered at ``metadata_uri``: what its ``/services``
    names, else the ``metadataURI`` itself (no document, unreachable, or the service not named)."""
    base = node_base(metadata_uri)
    try:
        with urllib.request.urlopen(f"{base}/services", timeout=timeout_s) as resp:
            doc = json.loads(resp.read(64 * 1024))
    except (urllib.error.URLError, OSError, ValueError):
        return base
    url = doc.get(service) if isinstance(doc, dict) else None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url.rstrip("/")
    return base
