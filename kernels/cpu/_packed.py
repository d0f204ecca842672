"""The per-step recurrent product with its weight packed once: c = a @ b (+ c), in registers.

Every step of a recurrent layer multiplies a few batch rows by the same
weight (h_prev @ recurrent_kernel forwards, dz @ recurrent_kernelᵀ backwards).
A BLAS call repacks that weight on each of the T steps, and at the row counts
of a chunk (8-128) the repacking and its start-up cost about a third of the
product. Here the weight is packed once per forward or backward call, into
panels of NR columns stored K-major:

    panels[p, k, :] = b[k, p*NR : (p+1)*NR]          panels: [N/NR, K, NR]

and each step runs register tiles over them, K walked in blocks of _K_BLOCK
so that the part of the panel in use stays in the core's L1 cache. A tile
sums a few rows x NR columns of c in vector registers (_vectors.py: 64 bytes
each, 16 float32 or 8 float64 lanes), and for every k adds
a[i, k] * panels[p, k, :] to them, reading one row of the panel and one
number of a per row. Its shape follows the CPU's registers:

    AVX-512 (32 registers of 64 bytes)   5 or 4 rows x 4 registers: NR = 64
                                         float32, 20 or 16 accumulators + the
                                         panel row's 4
    AVX2 (16 registers of 32 bytes)      6 rows x 1 register: NR = 16 float32,
                                         each 64-byte vector 2 registers, so 12
                                         accumulators + the panel row's 2

(with AVX2's 16 registers a tile 4 registers wide would spill). `can_pack` says when
this path is taken: one of those CPUs, N a multiple of NR and K at most
_MAX_K. Otherwise the loops call BLAS.

Measured on this project's 2-core Emerald Rapids, one thread, against the
OpenBLAS NumPy ships (GFLOP/s, float32): (32,128)x(128,512) 164 vs 101,
(32,512)x(512,128) 146 vs 97, (128,256)x(256,1024) 156 vs 132,
(64,512)x(512,2048) 130 vs 119 (with 4-row tiles only; the 5-row tile then took
(64,256)x(256,1024) from 146-160 to 159-162 and (64,512)x(512,2048) from 131-136
to 141-143, and a 64-row chunk of W3's forward-only loop from 32.9-33.3 ms to
29.8-32.2, fresh processes in turn). With AVX-512 turned off (NUMBA_CPU_FEATURES
without it, OpenBLAS's Haswell kernels), the AVX2 tile against that OpenBLAS:
(32,128)x(128,512) 72 vs 48, (128,256)x(256,1024) 78 vs 72, (64,512)x(512,2048)
73 vs 61, where one core's AVX2 peak is 88. Each element of c is one sum
in k order with one rounding per step, as a BLAS dot product is; results
differ from BLAS's only in summation order.
"""

import numpy as np

from ._buffers import aligned
from ._math import NUMBA_ERROR, jit, jit_inline

_K_BLOCK = 128  # k per pass over a tile: a 128 x NR panel block is 32 KiB
# Deeper products stay with BLAS (not measured). W2's backward step, (64, 2048) x
# (2048, 512) per chunk, measured 9% faster packed (backward 288 -> 262 ms a call)
# once the backward kept its gradients in blocks of steps; before that, when it
# streamed [B, T, 4H] arrays through memory too, 6-15% slower.
_MAX_K = 2048


def _vector_isa():
    """'avx512', 'avx2' (with FMA) or None: the vector registers Numba compiles for, its
    own CPU settings honoured (NUMBA_CPU_FEATURES; a named CPU assumes no features)."""
    if NUMBA_ERROR is not None:
        return None
    from numba.core import config

    if config.CPU_FEATURES is not None:
        features = config.CPU_FEATURES
    elif config.CPU_NAME not in (None, "host"):
        return None  # a named (portable) CPU: no host features assumed
    else:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    features = set(features.split(","))
    if "+avx512f" in features:
        return "avx512"
    if {"+avx2", "+fma"} <= features:
        return "avx2"
    return None


_ISA = _vector_isa()
# Vector registers (of 64 bytes) per tile row: NR = _REGISTERS x lanes columns.
_REGISTERS = {"avx512": 4, "avx2": 1}.get(_ISA, 0)


def has_vector_registers():
    """True where the packed tiles and the fused cells' registers run: AVX-512, or AVX2
    with FMA (each 64-byte vector then takes two of its 32-byte registers)."""
    return _ISA is not None


def columns_per_panel(dtype, registers=None):
    """NR: the columns of one panel, `registers` (this CPU's tile width unless given)
    vectors of 64 bytes."""
    itemsize = dtype.itemsize if isinstance(dtype, np.dtype) else np.dtype(dtype).itemsize
    return (registers or _REGISTERS) * 64 // itemsize


def can_pack(k, n, dtype):
    """True when a (k, n) weight of `dtype` runs through packed panels here."""
    return (_ISA is not None and 0 < k <= _MAX_K and n > 0
            and n % columns_per_panel(dtype) == 0)


def pack(b, registers=None):
    """b's panels, [N/NR, K, NR] C-contiguous, or an empty [0, 1, 1] array when b
    cannot be packed (the loops then call BLAS). b: [K, N], any strides.
    registers: the tile width in 64-byte vectors, 4 (AVX-512's tile) or 1 (AVX2's);
    this CPU's unless given (tests run both tiles on one CPU)."""
    K, N = b.shape
    if not can_pack(K, N, b.dtype) and registers is None:
        return np.empty((0, 1, 1), b.dtype)
    NR = columns_per_panel(b.dtype, registers)
    panels = aligned((N // NR, K, NR), b.dtype)
    _pack_into(b, panels)
    return panels


@jit
def _pack_into(b, panels):
    """panels[p, k, :] = b[k, p*NR : (p+1)*NR]: one pass, where NumPy's transposed copy
    took twice as long on a batch-1 step's weights (1.0 against 2.2 µs for (32, 128))
    and 10-25% longer on large ones ((256, 1024) 54 against 74 µs)."""
    P, K, NR = panels.shape
    for p in range(P):
        for k in range(K):
            for j in range(NR):
                panels[p, k, j] = b[k, p * NR + j]


@jit
def one_register_wide(panels):
    """True for AVX2's panels (NR one 64-byte vector), False for AVX-512's."""
    return panels.shape[2] * panels.itemsize == 64


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
            in_fives = _rows_in_fives(M)
            # k blocks outermost: a's block (rows x 128) is read from memory once and
            # then reused from cache by every panel (a's rows are often far apart:
            # one step's rows of a [B, T, G*H] array)
            for k0 in range(0, K, _K_BLOCK):
                k1 = min(K, k0 + _K_BLOCK)
                fresh = beta == 0 and k0 == 0  # start from zeros, not from c
                for p in range(P):
                    panel = panels[p].reshape(K * NR)
                    i = 0
                    if NR == 64 // c.itemsize:  # AVX2's tile: 6 rows x 1 register
                        while i < M:
                            _tile6(a, i, M, panel, c, p * NR, k0, k1, fresh)
                            i += 6
                        continue
                    while i < in_fives:  # AVX-512's: 5 rows x 4 registers, then 4
                        _tile5x4(a, i, panel, c, p * NR, k0, k1, fresh)
                        i += 5
                    while i + 4 <= M:
                        _tile(a, i, panel, c, p * NR, k0, k1, fresh)
                        i += 4
                    while i < M:
                        _tile_row(a, i, panel, c, p * NR, k0, k1, fresh)
                        i += 1

        return impl

    @jit
    def _tile6(a, i, M, panel, c, j, k0, k1, fresh):
        """c[i:i+6, j:j+NR] += a[i:i+6, k0:k1] @ panel rows k0:k1 (= if fresh), NR one
        register: AVX2's tile (see _tile for why the sum starts from zero). Past row
        M - 1 it multiplies row M - 1 again and stores nothing: a last tile of fewer
        rows costs one of 6, where single-row passes ran at half the speed."""
        NR = 64 // c.itemsize
        i1, i2, i3 = min(i + 1, M - 1), min(i + 2, M - 1), min(i + 3, M - 1)
        i4, i5 = min(i + 4, M - 1), min(i + 5, M - 1)
        v0 = v1 = v2 = v3 = v4 = v5 = vsplat(c.dtype.type(0.0))
        for k in range(k0, k1):
            b = vload(panel, k * NR)
            v0 = vfma(vsplat(a[i, k]), b, v0)
            v1 = vfma(vsplat(a[i1, k]), b, v1)
            v2 = vfma(vsplat(a[i2, k]), b, v2)
            v3 = vfma(vsplat(a[i3, k]), b, v3)
            v4 = vfma(vsplat(a[i4, k]), b, v4)
            v5 = vfma(vsplat(a[i5, k]), b, v5)
        _store1(c[i], j, fresh, v0)
        if i + 1 < M:
            _store1(c[i1], j, fresh, v1)
        if i + 2 < M:
            _store1(c[i2], j, fresh, v2)
        if i + 3 < M:
            _store1(c[i3], j, fresh, v3)
        if i + 4 < M:
            _store1(c[i4], j, fresh, v4)
        if i + 5 < M:
            _store1(c[i5], j, fresh, v5)

    @jit
    def _store1(row, j, fresh, v):
        """row[j : j + lanes] = v, or += v unless fresh."""
        vstore(row, j, v if fresh else vadd(vload(row, j), v))

    @jit
    def _rows_in_fives(M):
        """How many of M rows the 5-row tiles take so that the rest fill tiles of 4
        exactly where they can: 64 = 12 x 5 + 4, 32 = 4 x 5 + 3 x 4, 16 = 4 x 4 (no
        single rows at half speed); else as many fives as fit."""
        fours = 4 * M % 5  # 4 * fours = M (mod 5)
        return M - 4 * fours if 4 * fours <= M else M - M % 5

    @jit
    def _tile5x4(a, i, panel, c, j, k0, k1, fresh):
        """c[i:i+5, j:j+NR] += a[i:i+5, k0:k1] @ panel rows k0:k1 (= if fresh), NR four
        registers: 20 accumulators, the panel row's 4 and the 5 rows' splats of a[r, k],
        29 of AVX-512's 32 registers (LLVM loads all five splats first: a sixth row
        spilled accumulators to the stack, 110-130 GFLOP/s). Each k reads 4 panel
        vectors for 20 multiply-adds where _tile's 4 rows take 16. Sums as _tile does."""
        L = 64 // c.itemsize
        NR = 4 * L
        c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = vsplat(c.dtype.type(0.0))
        c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = c00
        c40 = c41 = c42 = c43 = c00
        for k in range(k0, k1):
            o = k * NR
            b0, b1 = vload(panel, o), vload(panel, o + L)
            b2, b3 = vload(panel, o + 2 * L), vload(panel, o + 3 * L)
            c00, c01, c02, c03 = _fma4(a[i, k], b0, b1, b2, b3, c00, c01, c02, c03)
            c10, c11, c12, c13 = _fma4(a[i + 1, k], b0, b1, b2, b3, c10, c11, c12, c13)
            c20, c21, c22, c23 = _fma4(a[i + 2, k], b0, b1, b2, b3, c20, c21, c22, c23)
            c30, c31, c32, c33 = _fma4(a[i + 3, k], b0, b1, b2, b3, c30, c31, c32, c33)
            c40, c41, c42, c43 = _fma4(a[i + 4, k], b0, b1, b2, b3, c40, c41, c42, c43)
        _store(c[i], j, L, fresh, c00, c01, c02, c03)
        _store(c[i + 1], j, L, fresh, c10, c11, c12, c13)
        _store(c[i + 2], j, L, fresh, c20, c21, c22, c23)
        _store(c[i + 3], j, L, fresh, c30, c31, c32, c33)
        _store(c[i + 4], j, L, fresh, c40, c41, c42, c43)

    @jit_inline
    def _fma4(x, b0, b1, b2, b3, c0, c1, c2, c3):
        """One row of a tile at one k: c_r += x * b_r for the panel row's 4 registers."""
        x = vsplat(x)
        return vfma(x, b0, c0), vfma(x, b1, c1), vfma(x, b2, c2), vfma(x, b3, c3)

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
            c00, c01, c02, c03 = _fma4(a[i, k], b0, b1, b2, b3, c00, c01, c02, c03)
            c10, c11, c12, c13 = _fma4(a[i + 1, k], b0, b1, b2, b3, c10, c11, c12, c13)
            c20, c21, c22, c23 = _fma4(a[i + 2, k], b0, b1, b2, b3, c20, c21, c22, c23)
            c30, c31, c32, c33 = _fma4(a[i + 3, k], b0, b1, b2, b3, c30, c31, c32, c33)
        _store(c[i], j, L, fresh, c00, c01, c02, c03)
        _store(c[i + 1], j, L, fresh, c10, c11, c12, c13)
        _store(c[i + 2], j, L, fresh, c20, c21, c22, c23)
        _store(c[i + 3], j, L, fresh, c30, c31, c32, c33)

    @jit
    def _tile_row(a, i, panel, c, j, k0, k1, fresh):
        """_tile for one row (rows left after the tiles of 5 and 4)."""
        L = 64 // c.itemsize
        NR = 4 * L
        v0 = v1 = v2 = v3 = vsplat(c.dtype.type(0.0))
        for k in range(k0, k1):
            o = k * NR
            v0, v1, v2, v3 = _fma4(a[i, k], vload(panel, o), vload(panel, o + L),
                                   vload(panel, o + 2 * L), vload(panel, o + 3 * L),
                                   v0, v1, v2, v3)
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
