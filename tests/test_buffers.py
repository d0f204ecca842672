"""The numba set's recycled result memory (kernels/cpu/_buffers.py): an array's memory
is reused only once nothing views it, the pool keeps a bounded amount, and kernel
results a caller keeps are never overwritten by later calls."""

import gc

import numpy as np
import pytest

from minilstm import kernels
from minilstm.kernels.cpu import _buffers

numba_set = kernels._module("numba")
needs_numba = pytest.mark.skipif(not numba_set.is_available(),
                                 reason=numba_set.unavailable_reason())

LARGE = (64, 50, 128)  # 1.6 MB of float32: pooled
SMALL = (4, 5, 6)


@pytest.fixture(autouse=True)
def empty_pool():
    gc.collect()
    _buffers.release()
    yield
    gc.collect()
    _buffers.release()


def test_an_ordinary_array():
    a = _buffers.empty(LARGE, np.float32)
    assert a.shape == LARGE and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 64 == 0
    a[...] = 2.0
    assert float(a.sum()) == 2.0 * a.size
    small = _buffers.empty(SMALL, np.float64)
    assert small.shape == SMALL and small.dtype == np.float64
    assert _buffers.empty(0, np.float32).shape == (0,)


@pytest.mark.parametrize("shape", [(2, 128, 64), (3, 100, 61), (16384,), LARGE, SMALL])
def test_aligned_arrays_start_on_a_cache_line(shape):
    for _ in range(8):  # malloc's own alignment (16 bytes) varies from call to call
        a = _buffers.aligned(shape, np.float32)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous
        if a.nbytes >= _buffers._MIN_ALIGNED_BYTES:  # below, plain np.empty
            assert a.ctypes.data % 64 == 0
        a[...] = 1.0  # writable, and all of it its own
        assert float(a.sum()) == a.size


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_loops_scratch_starts_on_a_cache_line(dtype):
    from minilstm.kernels.cpu._math import jit

    @jit
    def scratch(like, rows):  # as the loops allocate theirs
        return (_buffers.aligned_empty((3, rows, 40), like), _buffers.aligned_empty((rows,), like))

    like = np.zeros((1, 1, 1), dtype)
    for rows in (1, 5, 16, 33):
        for a, shape in zip(scratch(like, rows), [(3, rows, 40), (rows,)]):
            assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
            assert a.ctypes.data % 64 == 0
            a[...] = 1.0
            assert float(a.sum()) == a.size


def test_memory_comes_back_only_when_no_view_is_left():
    a = _buffers.empty(LARGE, np.float32)
    address = a.ctypes.data
    view = a[:, -1]
    del a
    assert _buffers.pooled_bytes() == 0  # the view still reads it
    b = _buffers.empty(LARGE, np.float32)
    assert b.ctypes.data != address
    del view
    assert _buffers.pooled_bytes() == 4 * np.prod(LARGE)
    c = _buffers.empty(LARGE, np.float32)
    assert c.ctypes.data == address  # reused
    assert _buffers.pooled_bytes() == 0
    d = _buffers.empty((LARGE[0] + 1,) + LARGE[1:], np.float32)  # another size: new memory
    assert d.ctypes.data not in (address, b.ctypes.data, c.ctypes.data)


def test_the_pool_keeps_at_most_its_limit_and_reuses_the_last_freed(monkeypatch):
    size = 4 * int(np.prod(LARGE))
    monkeypatch.setattr(_buffers, "_KEEP_BYTES", 2 * size)
    a, b, c = (_buffers.empty(LARGE, np.float32) for _ in range(3))
    addresses = [array.ctypes.data for array in (a, b, c)]
    del a
    del b
    del c  # a freed first: let go of, past the limit
    assert _buffers.pooled_bytes() == 2 * size
    again = [_buffers.empty(LARGE, np.float32) for _ in range(3)]
    # c, freed last (likeliest still in cache), then b; then new memory
    assert [array.ctypes.data for array in again[:2]] == addresses[:0:-1]
    assert _buffers.pooled_bytes() == 0
    del again
    assert _buffers.pooled_bytes() > 0
    from minilstm.kernels import cpu

    cpu.release_memory()  # the public name
    assert _buffers.pooled_bytes() == 0


@needs_numba
def test_kernel_results_a_caller_keeps_are_never_overwritten():
    """Two training forwards in a row, the first's outputs and cache kept: the second
    (other inputs) must not write into them; the pool reuses memory only once the
    first's are dropped, and results stay those of a fresh run."""
    numba_set.load()
    rng = np.random.default_rng(0)
    B, T, I, H = 64, 40, 32, 128  # hs and the cache's gates are pooled
    weights = (rng.standard_normal((I, 4 * H)).astype(np.float32) * 0.1,
               rng.standard_normal((H, 4 * H)).astype(np.float32) * 0.1,
               np.zeros(4 * H, np.float32))
    zeros = np.zeros((B, H), np.float32)
    x1, x2 = (rng.standard_normal((B, T, I)).astype(np.float32) for _ in range(2))
    hs1, cs1, cache1 = numba_set.lstm_forward(x1, zeros, zeros, *weights)
    kept = hs1.copy(), cs1.copy(), cache1.gates.copy()
    grads1 = numba_set.lstm_backward(np.ones_like(hs1), None, None, cache1)
    hs2, _, cache2 = numba_set.lstm_forward(x2, zeros, zeros, *weights)
    assert not np.shares_memory(hs1, hs2) and not np.shares_memory(cache1.gates, cache2.gates)
    assert np.array_equal(hs1, kept[0]) and np.array_equal(cs1, kept[1])
    assert np.array_equal(cache1.gates, kept[2])
    again = numba_set.lstm_backward(np.ones_like(hs1), None, None, cache1)
    for a, b in zip(grads1, again):
        assert np.array_equal(a, b)
    # Dropped, the first call's memory serves the next call (hs, cs, act(c), gates
    # all come from the pool), with the same results.
    del hs1, cs1, cache1, grads1, again
    pooled = _buffers.pooled_bytes()
    hs3, _, _ = numba_set.lstm_forward(x1, zeros, zeros, *weights)
    assert _buffers.pooled_bytes() == pooled - 4 * (3 * B * T * H + B * T * 4 * H)
    assert np.array_equal(hs3, kept[0])
