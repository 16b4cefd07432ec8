"""Stand-in for ``pynvml`` on a machine without an NVIDIA driver (put first on ``PYTHONPATH`` by
``tests.support.gpu.no_gpu_env``): ``nvmlInit`` fails the way the real binding does when
``libnvidia-ml.so`` is absent. The GPU is the only part of the tests that may be stood in for."""


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - the real binding's name
    pass


class NVMLError_DriverNotLoaded(NVMLError):  # noqa: N801 - the real binding's name
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 - the real binding's name
    pass


def nvmlInit() -> None:  # noqa: N802 - the real binding's name
    raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")


def nvmlShutdown() -> None:  # noqa: N802 - the real binding's name
    raise NVMLError("NVML not initialised")
