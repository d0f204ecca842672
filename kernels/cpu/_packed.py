"""The per-step recurrent product with its weight packed once: c = a @ b (+ c), in registers.

Every step of a recurrent layer multiplies a few batch rows by the same
weight (h_prev @ recurrent_kernel forwards, dz @ recurrent_kernelᵀ backwards).
A BLAS call repacks that weight on each of the T steps, and at the row counts
of a chunk (8-128) the repacking and its start-up cost about a third of the
product. Here the weight is packed once per forward or backward call, into
panels of NR columns stored K-major:

    panels[p, k, :] = b[k, p*NR : (p+1)*NR]          panels: [N/NR, K, NR]

and each step runs register tiles over them: a tile holds 4 rows x NR columns
of c in 16 vector registers (_vectors.py), and for every k adds
a[i, k] * panels[p, k, :] to them, 16 fused multiply-adds per k that read one
row of the panel and 4 numbers of a. K is walked in blocks of _K_BLOCK so that
the part of the panel in use (32 KiB) stays in the core's L1 cache.

NR is 4 registers: 64 float32 or 32 float64 columns. `can_pack` says when this
path is taken: an AVX-512 CPU (the 16 accumulators and the panel row fill 20 of
its 32 vector registers; with AVX2's 16 they would spill), N a multiple of NR
and K at most _MAX_K. Otherwise the loops call BLAS, as before.

Measured on this project's 2-core Emerald Rapids, one thread, against the
OpenBLAS NumPy ships (GFLOP/s, float32): (32,128)x(128,512) 164 vs 101,
(32,512)x(512,128) 146 vs 97, (128,256)x(256,1024) 156 vs 132,
(64,512)x(512,2048) 130 vs 119. Each element of c is one sum in k order with
one rounding per step, as a BLAS dot product is; results differ from BLAS's
only in summation order.
"""

import numpy as np

from ._math import NUMBA_ERROR, jit

_REGISTERS = 4  # vector registers per tile row: NR = 4 * lanes columns
_ROWS = 4  # rows per tile: 4 x 4 = 16 accumulators
_K_BLOCK = 128  # k per pass over a tile: a 128 x NR panel block is 32 KiB
# Deeper products stay with BLAS (not measured). W2's backward step, (64, 2048) x
# (2048, 512) per chunk, measured 9% faster packed (backward 288 -> 262 ms a call)
# once the backward kept its gradients in blocks of steps; before that, when it
# streamed [B, T, 4H] arrays through memory too, 6-15% slower.
_MAX_K = 2048


def _has_avx512():
    """True when Numba compiles for a CPU with AVX-512 (its own CPU settings honoured)."""
    if NUMBA_ERROR is not None:
        return False
    from numba.core import config

    if config.CPU_FEATURES is not None:
        features = config.CPU_FEATURES
    elif config.CPU_NAME not in (None, "host"):
        return False  # a named (portable) CPU: no host features assumed
    else:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


_AVX512 = _has_avx512()


def has_wide_registers():
    """True on a CPU with AVX-512 (as Numba compiles for it): 32 registers of 512 bits."""
    return _AVX512


def columns_per_panel(dtype):
    """NR: the columns of one panel, 4 registers of 64 bytes."""
    return _REGISTERS * 64 // np.dtype(dtype).itemsize


def can_pack(k, n, dtype):
    """True when a (k, n) weight of `dtype` runs through packed panels here."""
    return _AVX512 and 0 < k <= _MAX_K and n > 0 and n % columns_per_panel(dtype) == 0


def pack(b):
    """b's panels, [N/NR, K, NR] C-contiguous, or an empty [0, 1, 1] array when b
    cannot be packed (the loops then call BLAS). b: [K, N], any strides."""
    K, N = b.shape
    if not can_pack(K, N, b.dtype):
        return np.empty((0, 1, 1), b.dtype)
    NR = columns_per_panel(b.dtype)
    return np.ascontiguousarray(np.reshape(b, (K, N // NR, NR)).transpose(1, 0, 2))


def packed_gemm(a, panels, c, beta):
    """c = a @ b + beta * c (beta 0 or 1), b given as its panels; NumPy in plain Python.

    a: [M, K] and c: [M, N], 2-D views whose rows have unit stride.
    """
    P, K, NR = panels.shape
    product = a @ panels.transpose(1, 0, 2).reshape(K, P * NR)
    if beta == 0:
        c[...] = product
    else:
        c += product


if NUMBA_ERROR is None:
    from numba.extending import overload

    from ._vectors import vadd, vfma, vload, vsplat, vstore

    @overload(packed_gemm, jit_options={"error_model": "numpy", "nogil": True})
    def _packed_gemm_compiled(a, panels, c, beta):
        def impl(a, panels, c, beta):
            M, K = a.shape
            P, _, NR = panels.shape
            # k blocks outermost: a's block (rows x 128) is read from memory once and
            # then reused from cache by every panel (a's rows are often far apart:
            # one step's rows of a [B, T, G*H] array)
            for k0 in range(0, K, _K_BLOCK):
                k1 = min(K, k0 + _K_BLOCK)
                fresh = beta == 0 and k0 == 0  # start from zeros, not from c
                for p in range(P):
                    panel = panels[p].reshape(K * NR)
                    i = 0
                    while i + _ROWS <= M:
                        _tile(a, i, panel, c, p * NR, k0, k1, fresh)
                        i += _ROWS
                    while i < M:
                        _tile_row(a, i, panel, c, p * NR, k0, k1, fresh)
                        i += 1

        return impl

    @jit
    def _tile(a, i, panel, c, j, k0, k1, fresh):
        """c[i:i+4, j:j+NR] += a[i:i+4, k0:k1] @ panel rows k0:k1 (= if fresh).

        The product is summed from zero and added to c once at the end, as BLAS
        does: adding each small term to a larger c would round every one of them
        at c's scale (measured: a SimpleRNN's h twice as far from the float64
        truth as the reference's).
        """
        L = 64 // c.itemsize  # lanes per register
        NR = 4 * L
        c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = vsplat(c.dtype.type(0.0))
        c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = c00
        for k in range(k0, k1):
            o = k * NR
            b0, b1 = vload(panel, o), vload(panel, o + L)
            b2, b3 = vload(panel, o + 2 * L), vload(panel, o + 3 * L)
            x = vsplat(a[i, k])
            c00, c01, c02, c03 = vfma(x, b0, c00), vfma(x, b1, c01), vfma(x, b2, c02), vfma(
                x, b3, c03)
            x = vsplat(a[i + 1, k])
            c10, c11, c12, c13 = vfma(x, b0, c10), vfma(x, b1, c11), vfma(x, b2, c12), vfma(
                x, b3, c13)
            x = vsplat(a[i + 2, k])
            c20, c21, c22, c23 = vfma(x, b0, c20), vfma(x, b1, c21), vfma(x, b2, c22), vfma(
                x, b3, c23)
            x = vsplat(a[i + 3, k])
            c30, c31, c32, c33 = vfma(x, b0, c30), vfma(x, b1, c31), vfma(x, b2, c32), vfma(
                x, b3, c33)
        _store(c[i], j, L, fresh, c00, c01, c02, c03)
        _store(c[i + 1], j, L, fresh, c10, c11, c12, c13)
        _store(c[i + 2], j, L, fresh, c20, c21, c22, c23)
        _store(c[i + 3], j, L, fresh, c30, c31, c32, c33)

    @jit
    def _tile_row(a, i, panel, c, j, k0, k1, fresh):
        """_tile for one row (the rows left over after the tiles of 4)."""
        L = 64 // c.itemsize
        NR = 4 * L
        v0 = v1 = v2 = v3 = vsplat(c.dtype.type(0.0))
        for k in range(k0, k1):
            o = k * NR
            x = vsplat(a[i, k])
            v0 = vfma(x, vload(panel, o), v0)
            v1 = vfma(x, vload(panel, o + L), v1)
            v2 = vfma(x, vload(panel, o + 2 * L), v2)
            v3 = vfma(x, vload(panel, o + 3 * L), v3)
        _store(c[i], j, L, fresh, v0, v1, v2, v3)

    @jit
    def _store(row, j, L, fresh, v0, v1, v2, v3):
        """row[j : j + 4L] = the four registers, or += them unless fresh."""
        if not fresh:
            v0, v1 = vadd(vload(row, j), v0), vadd(vload(row, j + L), v1)
            v2, v3 = vadd(vload(row, j + 2 * L), v2), vadd(vload(row, j + 3 * L), v3)
        vstore(row, j, v0)
        vstore(row, j + L, v1)
        vstore(row, j + 2 * L, v2)
        vstore(row, j + 3 * L, v3)
