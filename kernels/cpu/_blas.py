"""One matrix product for the compiled loops: BLAS gemm on strided 2-D views.

`gemm(a, b, c, beta)` computes `c = a @ b + beta * c` (beta 0 or 1) where
a, b and c may be views with a row stride of their own: a column block of a
weight matrix (`kernel[:, k*H:(k+1)*H]`), a transpose (`kernel.T`), or the
rows of one step inside a [B, T, ...] array (`hs[lo:hi, t]`, row stride T*H).
BLAS reads and writes such views in place, so the loops copy nothing and
accumulate straight into their buffers. Numba's own `np.dot` copies strided
inputs and cannot write into a strided output, which is why this exists.

Compiled, it calls the `sgemm`/`dgemm` that scipy.linalg.cython_blas exports
(the BLAS Numba's np.dot uses too, so threadpoolctl limits both). The symbol
is registered with LLVM by name at import, so the compiled callers can be
cached. Under `NUMBA_DISABLE_JIT=1` it is NumPy's matmul.
"""

import numpy as np

from ._math import jit

try:
    import llvmlite.binding as llvm
    from numba import types
    from numba.extending import get_cython_function_address, overload

    # Fortran BLAS takes every argument by pointer; they are declared as intp
    # (the same register on x86-64 and arm64) so that one compiled `_xgemm` per
    # dtype serves views of every layout.
    _SIGNATURE = types.void(*[types.intp] * 13)
    _XGEMM = {}
    for _name in ("sgemm", "dgemm"):
        llvm.add_symbol(f"minilstm_{_name}",
                        get_cython_function_address("scipy.linalg.cython_blas", _name))
        _XGEMM[_name] = types.ExternalFunction(f"minilstm_{_name}", _SIGNATURE)
    _sgemm, _dgemm = _XGEMM["sgemm"], _XGEMM["dgemm"]
except ImportError:  # no numba or no scipy: the set reports itself unavailable
    overload = None


def gemm(a, b, c, beta):
    """c = a @ b + beta * c, beta 0 or 1; c may be a strided view, written in place.

    Args:
        a: [m, k], b: [k, n], c: [m, n], each with unit stride along one axis.
        beta: 0 to overwrite c (its old values are never read), 1 to add to it.
    """
    if beta == 0:
        c[...] = a @ b
    else:
        c += a @ b


if overload is not None:

    @overload(gemm, jit_options={"error_model": "numpy", "nogil": True})
    def _gemm_blas(a, b, c, beta):
        def impl(a, b, c, beta):
            m, k, n = a.shape[0], a.shape[1], c.shape[1]
            if m == 0 or n == 0:
                return
            size = c.itemsize
            trans_a, lda = _operand(a, size)
            trans_b, ldb = _operand(b, size)
            ldc = max(c.strides[0] // size, n, 1)
            # BLAS is column-major: the row-major c = a @ b is cᵀ = bᵀ @ aᵀ, so b goes first.
            _xgemm(trans_b, trans_a, n, m, k, b.ctypes.data, ldb, a.ctypes.data, lda,
                   c.dtype.type(beta), c.ctypes.data, ldc)

        return impl

    @jit
    def _xgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
        """Column-major BLAS gemm on raw addresses; beta's type picks sgemm or dgemm."""
        ints = np.empty(8, np.int32)
        ints[0], ints[1], ints[2], ints[3], ints[4] = trans_a, trans_b, m, n, k
        ints[5], ints[6], ints[7] = lda, ldb, ldc
        scalars = np.empty(2, type(beta))
        scalars[0], scalars[1] = 1.0, beta
        p, q = ints.ctypes.data, scalars.ctypes.data
        if scalars.itemsize == 4:
            _sgemm(p, p + 4, p + 8, p + 12, p + 16, q, a, p + 20, b, p + 24, q + 4, c, p + 28)
        else:
            _dgemm(p, p + 4, p + 8, p + 12, p + 16, q, a, p + 20, b, p + 24, q + 8, c, p + 28)


@jit
def _operand(array, size):
    """(BLAS trans character, leading dimension) of a 2-D view with one unit stride."""
    rows, cols = array.shape
    if array.strides[1] == size or cols == 1:  # rows of contiguous entries: "N"
        return 78, max(array.strides[0] // size, cols, 1)
    return 84, max(array.strides[1] // size, rows, 1)  # a transpose: "T"
