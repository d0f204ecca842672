"""Shared fixtures: the kernel-set matrix, hypothesis profiles, seeding."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minilstm
from minilstm import backend
from minilstm.kernels import _module as _kernel_module

# Scripts, not test modules: --doctest-modules would import (and so run) them. The programs run
# through test_programs.py; the fixture writers need real Keras (or tf.keras 2) and run by hand.
collect_ignore = ["fixtures/make_fixtures.py", "fixtures/make_fixtures_tf_keras2.py"]
collect_ignore_glob = ["programs/*.py"]

# `ci` keeps the suite inside its time budget on 2 cores; `dev` digs deeper.
# A first Numba call compiles, so no per-example deadline.
settings.register_profile("ci", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _kernel_param(name):
    module = _kernel_module(name)
    if module.is_available():
        return pytest.param(name, id=name)
    return pytest.param(name, id=name, marks=pytest.mark.skip(reason=module.unavailable_reason()))


KERNEL_SETS = [_kernel_param(name) for name in ("numpy", "numba", "cupy")]


@pytest.fixture(params=KERNEL_SETS)
def kernel_set(request):
    """Each kernel set in turn; cupy skips with the reason when it cannot run."""
    return request.param


@pytest.fixture
def use_backend(kernel_set):
    """Makes `kernel_set` the active backend for the test, then restores it."""
    previous = backend.get_backend()
    backend.set_backend(kernel_set)
    yield kernel_set
    backend.set_backend(previous)


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts from float32, a fixed seed, and the default backend."""
    previous_floatx, previous_backend = backend.floatx(), backend.get_backend()
    np.random.seed(1234)
    yield
    backend.set_floatx(previous_floatx)
    backend.set_backend(previous_backend)


__all__ = ["minilstm", "KERNEL_SETS"]
