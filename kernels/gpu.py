"""CuPy GPU kernel set (placeholder until the CUDA kernels land)."""

NAME = "cupy"


def is_available():
    return False


def unavailable_reason():
    return "the CuPy kernels are not built yet."
