"""Oracle benchmarks (run with python -m oracle.benchmarks.<name>)."""
