"""The packed per-step product of the Numba set (kernels/cpu/_packed.py) against NumPy.

Its tiles hold 4 rows x NR columns in 512-bit registers and walk K in blocks;
these shapes reach every path: rows left after the tiles of 4, K beyond one
block, several panels, overwrite (beta 0) and accumulate (beta 1), rows with a
stride of their own. Cell parity with packed weights is in test_cells.py.
"""

import numpy as np
import pytest

from minilstm import kernels

pytestmark = pytest.mark.skipif(not kernels._module("numba").is_available(),
                                reason=kernels._module("numba").unavailable_reason())


def _packed():
    from minilstm.kernels.cpu import _packed

    if not _packed.can_pack(1, _packed.columns_per_panel(np.float32), np.float32):
        pytest.skip("the packed product needs a CPU with AVX-512; BLAS runs instead here")
    return _packed


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("rows, depth, panels", [(1, 1, 1), (3, 130, 2), (4, 128, 1),
                                                 (9, 300, 3), (32, 128, 8), (5, 2048, 1)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_packed_gemm_matches_numpy(dtype, tolerance, rows, depth, panels, beta):
    _packed_module = _packed()
    from minilstm.kernels.cpu._math import jit

    @jit
    def compiled(a, packed, c, beta):
        _packed_module.packed_gemm(a, packed, c, beta)

    rng = np.random.default_rng(rows * depth)
    NR = _packed_module.columns_per_panel(dtype)
    width = panels * NR
    a = rng.standard_normal((rows, depth)).astype(dtype)
    b = rng.standard_normal((depth, width)).astype(dtype)
    buffer = rng.standard_normal((rows, 3, width + 5)).astype(dtype)
    untouched = buffer.copy()
    c = buffer[:, 1, 2:2 + width]  # rows 3 * (width + 5) apart, as a step's rows in [B, T, G*H]
    expected = a.astype(np.float64) @ b + beta * c
    packed = _packed_module.pack(b)
    assert packed.shape == (panels, depth, NR)
    compiled(a, packed, c, beta)
    error = np.abs(c - expected).max() / max(1.0, np.abs(expected).max())
    assert error <= tolerance, error
    untouched[:, 1, 2:2 + width] = c  # nothing outside c was written
    np.testing.assert_array_equal(buffer, untouched)


def test_pack_refuses_what_it_cannot_tile():
    packed = _packed()
    NR = packed.columns_per_panel(np.float32)
    assert packed.pack(np.ones((4, NR + 1), np.float32)).shape == (0, 1, 1)
    assert packed.pack(np.ones((0, NR), np.float32)).shape == (0, 1, 1)
    assert packed.pack(np.ones((packed._MAX_K + 1, NR), np.float32)).shape == (0, 1, 1)
    weight = np.arange(8 * 2 * NR, dtype=np.float32).reshape(8, 2 * NR)
    np.testing.assert_array_equal(packed.pack(weight)[1, 3], weight[3, NR:])
