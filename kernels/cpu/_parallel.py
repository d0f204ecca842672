"""All cores without a sync per step: the batch in row chunks that the threads take in turn.

Rows of a recurrent cell never mix, so each chunk of rows runs the whole
computation for its rows: its input projection, its step GEMMs and gate loops,
its dx, and its own partial weight gradients, which the wrapper adds after.
`num_chunks` picks a multiple of P = `numba.get_num_threads()`, up to
`_CHUNKS_PER_THREAD` chunks a thread, fewer so that a chunk keeps at least
max(`_MIN_ROWS`, H/8) rows, and 1 for problems under `_MIN_PARALLEL_WORK`
(such as W0 and W4), which then start no thread at all.

Each cell file has a small driver per compiled loop (`lstm._forward_chunks`,
...): a `prange` with one iteration per thread (`jit_chunks`, cached like every
loop), which Numba's threading layer (TBB where installed, else OpenMP, else
its own workqueue) runs on its threads; each takes the next chunk not yet taken
(`next_chunk`, an atomic counter) until none is left. (Numba's own prange
schedule is static, `parallel_chunksize` included: a slowed core would keep its
share.) OpenMP's threads spin a moment after a region before they sleep,
so a training loop's forward, backward and next batch find them awake.
This replaced a Python thread pool, where each
call paid ~0.2 ms of hand-offs (submitting, the worker taking the GIL to call
its loop, waking the caller) and the idle worker's core went to sleep between
calls: on 2 cores, in fresh processes taking turns, a batch of W1's kernels
(forward + backward) ran 4-20% faster, W1-GRU's 8-9%, W1-SimpleRNN's 14-19%;
W3's (one 64 ms call a batch) the same. A driver compiles in 0.5-1 s per
argument signature the first time (then comes from Numba's cache); a driver
taking its loop as an argument would recompile in every process (Numba's cache
misses on function-typed arguments), so each cell file names its loops in its
own drivers.

While the chunks call BLAS at the same time, every BLAS thread pool is held at
one thread with threadpoolctl (the chunks are the threads; a multi-threaded BLAS
under them would oversubscribe the cores), and put back as it was after the
call. A single-chunk call runs its loop directly and leaves BLAS alone, so its
GEMMs may still use BLAS's own threads.

An exception inside a parallel region (a chunk's buffers failing to allocate)
reaches Numba's caller as a SystemError, or not at all: the drivers mark each
chunk done after its loop returns, and run_chunks raises the chunk's error, or
a RuntimeError naming the chunks that did not finish, never a half-written
result.
"""

import collections
import contextlib
import threading

import numpy as np

from ._math import NUMBA_ERROR, njit

# A chunk gets at least max(_MIN_ROWS, H // 8) rows. Each chunk's step GEMM reads
# the whole recurrent kernel again; for thin chunks and large H that costs more
# than a second core gives back, and one chunk whose GEMMs use BLAS's own threads
# is faster (measured on 2 cores: B=64 with H=512, B=32 with H=256).
_MIN_ROWS = 8
# Chunks per thread at most: the two cores of the benchmark machine are slowed by
# other machines' work, at times one more than the other (one core's GEMMs ran at
# 74-153 GFLOP/s, the other's at other times). With 8 chunks of W3's 256 rows taken
# in turn, predict ran 83 ms where 2 chunks took 101 under such load (when both
# cores were slowed alike, 2, 4 and 8 timed the same). On a quiet machine thinner
# chunks cost their GEMMs: W3 and W3-GRU predict ran 2-3% slower with 4 chunks a
# thread than with 1, and within 1-2% of 1 with 2 a thread (benchmarks.ab).
_CHUNKS_PER_THREAD = 2
# Below this many multiply-adds per sequence (B*T*(I+H)*G*H), one thread beats
# waking the others (measured crossover ~0.8M on 2 cores; W0 and W4 are far below).
_MIN_PARALLEL_WORK = 1 << 20

# One split call at a time: each uses every core, and Numba's workqueue layer (where
# neither OpenMP nor TBB is installed) must not be entered from two threads at once.
_LOCK = threading.Lock()
_BLAS = None  # the BLAS libraries' threadpoolctl controllers, listed by the first split call

# What a split call's threads share (run_chunks, next_chunk): the chunks' row bounds
# [chunks+1], the next chunk no thread has taken [1], which chunks finished [chunks]
# (1 once a chunk's loop returned), and how many threads take them.
ChunkPlan = collections.namedtuple("ChunkPlan", "bounds taken done threads")


def _too_small_to_split(B, T, I, H, gates):
    """True below _MIN_PARALLEL_WORK multiply-adds per sequence."""
    return B * T * (I + H) * gates * H < _MIN_PARALLEL_WORK


def num_chunks(B, T, I, H, gates=4):
    """How many row chunks to split the batch into: 1 (no thread started) for small
    problems or too few rows for two threads; else a multiple of the threads, up to
    _CHUNKS_PER_THREAD each, so that a core slowed by other work runs fewer of them
    (run_chunks), and equal shares stay equal when no core is."""
    if _too_small_to_split(B, T, I, H, gates):
        return 1
    from numba import get_num_threads

    threads, most = get_num_threads(), B // max(_MIN_ROWS, H // 8)
    if most < 2 or threads < 2:
        return 1
    if most < threads:
        return most
    return threads * min(_CHUNKS_PER_THREAD, most // threads)


def blas_splits_steps(B, T, I, H, gates, chunks):
    """True when a single chunk leaves the cores to BLAS: a problem big enough to be
    split, run as one chunk (rows too few for two), on more than one thread. Its
    per-step products should then go to BLAS, which splits each over the cores,
    rather than to the single-threaded packed tiles (_packed.py). Measured on 2
    cores, LSTM forward + backward: B=64, H=512 103 ms with BLAS's threads against
    112 packed; B=32, H=256 a tie; B=16, H=128 10.1 against 8.6 (the one loss)."""
    if chunks != 1 or _too_small_to_split(B, T, I, H, gates):
        return False
    from numba import get_num_threads

    return get_num_threads() > 1


def run_chunks(rows, driver, B, chunks, args, partials=()):
    """rows(lo, hi, *args, *(p[c] for p in partials)) for every chunk c, all at once.

    Chunk c is rows B*c//chunks : B*(c+1)//chunks (sizes within 1 of each other).
    `driver` is rows' prange over Numba's threads (a cell file's `_*_chunks`:
    driver(plan, args, *partials) with a ChunkPlan, each thread taking chunks with
    next_chunk(plan));
    `partials` are arrays with one leading entry per chunk (the partial weight
    gradients), so no two threads write to one buffer. A core slowed by other work
    runs fewer chunks; the call returns when every chunk has finished.
    """
    if chunks == 1:
        rows(0, B, *args, *(p[0] for p in partials))
        return
    from numba import get_num_threads

    bounds = np.array([B * c // chunks for c in range(chunks + 1)], np.int64)
    done = np.zeros(chunks, np.uint8)
    plan = ChunkPlan(bounds, np.zeros(1, np.int64), done, min(chunks, get_num_threads()))
    with _LOCK, _one_blas_thread():
        try:
            driver(plan, args, *partials)
        except SystemError as error:  # how Numba reports an error inside a prange
            raise (error.__cause__ or error) from None
    if not done.all():
        raise RuntimeError(
            f"{getattr(rows, '__name__', rows)}: chunks {np.flatnonzero(done == 0).tolist()} "
            f"of {chunks} stopped before their end without an error reaching this thread "
            "(an exception inside Numba's parallel region, such as a failed allocation). "
            "Run with numba.set_num_threads(1) to see it.")


# Not cached on its own (each caching driver keeps the copy it was compiled with): a
# cached copy compiled first for the test's toy driver left the GRU's drivers ~35%
# slower in later processes that loaded it (W1-GRU kernels 8.2-8.6 ms a batch
# against 6.1-6.3).
@njit(error_model="numpy", nogil=True)
def next_chunk(plan, finished=-1):
    """The chunk the calling thread runs next, or -1 when every chunk is taken; marks
    `finished` (the chunk it ran last) done first.

    plan: run_chunks' ChunkPlan. Compiled, the count is one atomic add, so no two
    threads take one chunk.
    """
    if finished >= 0:
        plan.done[finished] = 1
    chunk = _fetch_add(plan.taken)
    return chunk if chunk < plan.done.size else -1


def _fetch_add(counter):
    """counter[0] += 1, returning the value before (one atomic instruction compiled)."""
    value = counter[0]
    counter[0] = value + 1
    return value


if NUMBA_ERROR is None:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _atomic_fetch_add(typingctx, counter):
        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            return builder.atomic_rmw("add", array.data, ir.Constant(ir.IntType(64), 1),
                                      "seq_cst")

        return types.int64(counter), codegen

    @overload(_fetch_add, inline="always")
    def _fetch_add_typed(counter):
        if counter == types.int64[::1]:
            return lambda counter: _atomic_fetch_add(counter)


def total(partial):
    """The sum of a per-chunk partial over its chunks (no copy for a single chunk)."""
    return partial[0] if partial.shape[0] == 1 else partial.sum(axis=0)


@contextlib.contextmanager
def _one_blas_thread():
    """Every loaded BLAS pool held at one thread inside the block, put back after.

    The libraries' own get and set calls, 6-8 µs a split call for NumPy's and
    scipy's OpenBLAS, where threadpoolctl's `limit` took 23 µs (it reads every
    library's version and configuration each time); a training batch makes two.
    """
    libraries = _blas_libraries()
    before = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in zip(libraries, before):
            if threads is not None:  # a library that cannot say keeps what it has
                library.set_num_threads(threads)


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded here, listed once.

    threadpoolctl finds the BLAS libraries loaded in this process (scipy's, which
    the loops call, and NumPy's, which they do not); the rest of the program keeps
    their threads, since each split call puts them back as they were.
    """
    global _BLAS
    if _BLAS is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the loops call)
        from threadpoolctl import ThreadpoolController

        _BLAS = [library for library in ThreadpoolController().lib_controllers
                 if library.user_api == "blas"]
    return _BLAS
