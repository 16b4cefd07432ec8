"""Oracle benchmarks: the compute side (``python -m oracle.benchmarks.run``, ``make bench``) and the
other runnable benchmarks (``python -m oracle.benchmarks.<name>``)."""
