"""Which kernel set a recurrent call runs on (minilstm.backend.kernels_for).

A default 'numba' backend answers small calls with the reference kernels until
a large call loads numba, so that a small program never pays for importing
numba and loading (or, on a first run, compiling) its loops. A backend chosen
by name always runs the chosen set, and backward always runs on the set that
made the forward's cache.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from minilstm import backend, kernels
from minilstm.layers import LSTM, Dense
from minilstm.models import Sequential

needs_numba = pytest.mark.skipif(not kernels._module("numba").is_available(),
                                 reason=kernels._module("numba").unavailable_reason())
SMALL, LARGE = backend.SMALL_CALL_WORK - 1, backend.SMALL_CALL_WORK


@pytest.fixture
def default_numba_not_loaded(monkeypatch):
    """The state of a fresh process whose default backend is numba."""
    monkeypatch.setattr(backend, "_backend_name", "numba")
    monkeypatch.setattr(backend, "_backend_chosen", False)
    monkeypatch.delitem(kernels._USABLE, "numba", raising=False)


@needs_numba
def test_default_numba_runs_small_calls_on_the_reference_until_numba_loads(
        default_numba_not_loaded):
    assert backend.kernels_for(SMALL).NAME == "numpy"
    assert not kernels.is_loaded("numba")
    assert backend.kernels_for(LARGE).NAME == "numba"  # loads numba
    assert kernels.is_loaded("numba")
    assert backend.kernels_for(SMALL).NAME == "numba"  # loaded: compiled from now on


@needs_numba
def test_a_backend_chosen_by_name_always_runs_that_set(default_numba_not_loaded):
    backend.set_backend("numba")
    assert backend.kernels_for(1).NAME == "numba"
    backend.set_backend("numpy")
    assert backend.kernels_for(10 ** 9).NAME == "numpy"


@needs_numba
def test_backward_runs_on_the_set_that_made_the_forward(default_numba_not_loaded):
    """A small layer's forward ran on the reference; a large layer then loads numba:
    the small layer's backward must still read its cache with the reference."""
    rng = np.random.default_rng(0)
    small, large = LSTM(2), LSTM(64)
    x_small = rng.standard_normal((2, 1, 1)).astype("float32")
    x_large = rng.standard_normal((8, 10, 16)).astype("float32")
    y = small(x_small)
    assert small._cache[0].NAME == "numpy"
    large(x_large)
    assert large._cache[0].NAME == "numba"
    dx = small.backward(np.ones_like(y))
    # the reference's own gradient, from a fresh forward on it
    backend.set_backend("numpy")
    small(x_small)
    np.testing.assert_allclose(dx, small.backward(np.ones_like(y)), rtol=1e-6)


@needs_numba
def test_small_and_large_calls_give_the_same_training(default_numba_not_loaded):
    """Small calls on the reference train as the compiled set does (float32, 1e-5)."""
    seq = np.arange(10, dtype="float32") / 10
    x, y = seq[:-1].reshape(9, 1, 1), seq[1:]
    losses = {}
    for name in (None, "numba"):
        if name:
            backend.set_backend(name)
        np.random.seed(0)
        model = Sequential([LSTM(10, input_shape=(1, 1)), Dense(1)])
        model.compile("adam", "mse")
        history = model.fit(x, y, epochs=30, batch_size=9, verbose=0, shuffle=False)
        assert model.layers[0]._cache[0].NAME == ("numba" if name else "numpy")
        losses[name] = history.history["loss"]
    np.testing.assert_allclose(losses[None], losses["numba"], rtol=1e-5)


def _run_fresh(script):
    """Runs `script` in a fresh interpreter on this checkout, with the default kernel set."""
    env = {k: v for k, v in os.environ.items() if k != "MINILSTM_BACKEND"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr
    return out


@needs_numba
@pytest.mark.parametrize("units, loads", [(10, False), (64, True)])
def test_a_small_program_never_imports_numba(units, loads):
    """The seed example in a fresh process: no numba; a larger LSTM loads it."""
    script = (
        "import sys, numpy as np, minilstm as keras\n"
        "x = np.zeros((9, 5 if %d > 10 else 1, 1), 'float32'); y = np.zeros(9, 'float32')\n"
        "m = keras.models.Sequential([keras.layers.LSTM(%d, input_shape=x.shape[1:]), "
        "keras.layers.Dense(1)])\n"
        "m.compile('adam', 'mse'); m.fit(x, y, epochs=2, verbose=0); m.predict(x, verbose=0)\n"
        "print(keras.backend.get_backend(), 'numba' in sys.modules)\n" % (units, units))
    out = _run_fresh(script)
    assert out.stdout.split() == ["numba", str(loads)]


def test_choosing_the_default_set_imports_no_kernel_files_of_the_others():
    """Asking which sets can run imports the numba and cupy packages only, not their
    kernel files (kernels/_lazy.py): a program that never runs them pays nothing."""
    script = (
        "import sys, minilstm as keras\n"
        "keras.backend.get_backend()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('minilstm.kernels.gpu.', "
        "'minilstm.kernels.cpu.'))))\n")
    out = _run_fresh(script)
    assert out.stdout.split() == ["[]"]


def test_a_set_exports_its_kernels_on_first_lookup():
    """The lazy packages still answer every kernel of the contract by attribute."""
    from minilstm.kernels import _lazy, gpu, reference

    for name in _lazy.KERNEL_FILES:
        assert getattr(gpu, name).__name__ == name
        assert getattr(reference, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'lstm_fwd'"):
        gpu.lstm_fwd
