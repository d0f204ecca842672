"""The packed per-step product of the Numba set (kernels/cpu/_packed.py) against NumPy.

Its tiles hold 5 or 4 rows x 4 vectors (AVX-512) or 6 rows x 1 vector (AVX2) of c
and walk K in blocks; both tiles run on any CPU with either, and these shapes reach
every path: fives then fours, rows left after them, K beyond one block, several
panels, overwrite (beta 0) and accumulate (beta 1), rows with a stride of their
own. Cell parity with packed weights is in test_cells.py.
"""

import numpy as np
import pytest

from minilstm import kernels

pytestmark = pytest.mark.skipif(not kernels._module("numba").is_available(),
                                reason=kernels._module("numba").unavailable_reason())


def _packed():
    from minilstm.kernels.cpu import _packed

    if not _packed.has_vector_registers():
        pytest.skip("the packed product needs a CPU with AVX-512 or AVX2; BLAS runs instead here")
    return _packed


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("rows, depth, panels", [(1, 1, 1), (3, 130, 2), (4, 128, 1),
                                                 (9, 300, 3), (32, 128, 8), (5, 2048, 1),
                                                 (12, 64, 2), (13, 129, 1), (10, 40, 1),
                                                 (11, 64, 1), (64, 256, 2)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("registers", [4, 1], ids=["avx512_tile", "avx2_tile"])
def test_packed_gemm_matches_numpy(dtype, tolerance, rows, depth, panels, beta, registers):
    _packed_module = _packed()
    from minilstm.kernels.cpu._math import jit

    @jit
    def compiled(a, packed, c, beta):
        _packed_module.packed_gemm(a, packed, c, beta)

    rng = np.random.default_rng(rows * depth)
    NR = _packed_module.columns_per_panel(dtype, registers)
    width = panels * NR
    a = rng.standard_normal((rows, depth)).astype(dtype)
    b = rng.standard_normal((depth, width)).astype(dtype)
    buffer = rng.standard_normal((rows, 3, width + 5)).astype(dtype)
    untouched = buffer.copy()
    c = buffer[:, 1, 2:2 + width]  # rows 3 * (width + 5) apart, as a step's rows in [B, T, G*H]
    expected = a.astype(np.float64) @ b + beta * c
    packed = _packed_module.pack(b, registers)
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


@pytest.mark.parametrize("registers", [4, 1], ids=["avx512_tile", "avx2_tile"])
@pytest.mark.parametrize("transposed", [False, True], ids=["weight", "its_transpose"])
def test_pack_lays_out_each_panel_k_major(registers, transposed):
    # panels[p, k, :] = b[k, p*NR:(p+1)*NR], from the weight as stored or from a
    # transposed view of one (the backward packs recurrent_kernel.T without a copy)
    packed = _packed()
    NR = packed.columns_per_panel(np.float64, registers)
    stored = np.arange(3 * NR * 5, dtype=np.float64).reshape(3 * NR, 5)
    b = stored.T if transposed else stored.reshape(5, 3 * NR)
    panels = packed.pack(b, registers)
    assert panels.shape == (3, 5, NR) and panels.flags.c_contiguous
    expected = np.stack([b[:, p * NR:(p + 1) * NR] for p in range(3)])
    np.testing.assert_array_equal(panels, expected)


@pytest.mark.parametrize("features, isa", [
    ("+sse4.2,+avx,+avx2,+fma,+avx512f,+avx512bw", "avx512"),
    ("+sse4.2,+avx,+avx2,+fma,-avx512f", "avx2"),  # AVX-512 turned off: AVX2's tile
    ("+sse4.2,+avx,+avx2,-fma", None),  # no FMA: BLAS
    ("+sse4.2,+avx", None),
])
def test_the_tile_follows_numbas_cpu_features(features, isa, monkeypatch):
    from numba.core import config

    from minilstm.kernels.cpu import _packed

    monkeypatch.setattr(config, "CPU_FEATURES", features)
    assert _packed._vector_isa() == isa
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    monkeypatch.setattr(config, "CPU_NAME", "generic")  # a named CPU: nothing assumed
    assert _packed._vector_isa() is None
