"""Stand-in for a machine without PyTorch (put first on ``PYTHONPATH`` by
``tests.support.gpu.no_gpu_env``): importing it fails as an absent package does."""

raise ImportError("no PyTorch here (tests/support/no_gpu_site stands in for a machine without a GPU)")
