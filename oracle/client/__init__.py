"""Clients for dApp users: the `compute` command (`compute job ...`, `compute pay ...`)."""
