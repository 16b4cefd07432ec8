"""Oracle benchmarks: compute side (``python -m oracle.benchmarks.run``, ``make bench``) and
epoch throughput of the validators on anvil (``python -m scripts.bench_epoch``)."""
