"""Clients for dApp users: the `compute` command (`compute job ...`: post AI jobs, follow them,
fetch and check their outputs, :mod:`oracle.client.cli`; `compute pay ...`: payment channels)."""
