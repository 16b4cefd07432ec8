"""Oracle benchmarks: ``python -m oracle.benchmarks.run`` (``make bench``) and the others as
``python -m oracle.benchmarks.<name>``."""
