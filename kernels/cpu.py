"""Numba CPU kernel set (placeholder until the Numba kernels land)."""

NAME = "numba"


def is_available():
    return False


def unavailable_reason():
    return "the Numba kernels are not built yet."
