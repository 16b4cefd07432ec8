"""The dApp user's Python client: post AI jobs, follow them, fetch and check their outputs
(``compute job ...``, :mod:`oracle.client.cli`)."""
