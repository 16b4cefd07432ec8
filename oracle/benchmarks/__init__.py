"""Benchmarks of the oracle's compute side (``python -m oracle.benchmarks.run``, ``make bench``)."""
