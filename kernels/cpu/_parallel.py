"""All cores without a sync per step: the batch in row chunks that the threads take in turn.

Rows of a recurrent cell never mix, so each chunk of rows runs the whole
computation for its rows: its input projection, its step GEMMs and gate loops,
its dx, and its own partial weight gradients, which the wrapper adds after.
`num_chunks` picks a multiple of P = `numba.get_num_threads()`, up to
`_CHUNKS_PER_THREAD` chunks a thread, fewer so that a chunk keeps at least
max(`_MIN_ROWS`, H/8) rows, and 1 for problems under `_MIN_PARALLEL_WORK`
(such as W0 and W4), which then start no thread at all. Each thread takes
the next chunk until none is left.

The chunks run in a small thread pool: the compiled loops release the GIL
(`nogil=True`), so P calls of one compiled function run at once. (A `prange`
over the chunks does the same work, but compiling a parallel function costs
seconds per cell and dtype.) While the chunks call BLAS at the same time,
every BLAS thread pool is held at one thread with threadpoolctl (the chunks
are the threads; a multi-threaded BLAS under them would oversubscribe the
cores), and put back as it was after the call. A single-chunk call leaves
BLAS alone, so its GEMMs may still use BLAS's own threads.
"""

import concurrent.futures
import itertools
import threading

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

_LOCK = threading.Lock()  # one split call at a time: each uses every core
_POOL = []  # the worker threads, their number, the threadpoolctl controller: the first split


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


def run_chunks(rows, B, chunks, args, partials=()):
    """rows(lo, hi, *args, *(p[c] for p in partials)) for every chunk c, all at once.

    Chunk c is rows B*c//chunks : B*(c+1)//chunks (sizes within 1 of each other).
    `partials` are arrays with one leading entry per chunk (the partial weight
    gradients), so no two threads write to one buffer. The calling thread and
    the pool's threads (as many as there are chunks, at most) each take the
    next chunk not yet taken until none is left, so a core slowed by other
    work runs fewer chunks; the call returns when every chunk has finished.
    """
    if chunks == 1:
        rows(0, B, *args, *(p[0] for p in partials))
        return
    bounds = [B * c // chunks for c in range(chunks + 1)]
    calls = [(bounds[c], bounds[c + 1], *args, *(p[c] for p in partials)) for c in range(chunks)]
    taken = itertools.count()  # next() on it is atomic under the GIL

    def take_chunks():
        for c in iter(lambda: next(taken), None):
            if c >= chunks:
                return
            rows(*calls[c])

    with _LOCK:
        pool, workers, blas = _pool()
        with blas.limit(limits=1, user_api="blas"):
            futures = [pool.submit(take_chunks) for _ in range(min(chunks - 1, workers))]
            try:
                take_chunks()
            finally:
                concurrent.futures.wait(futures)
            for future in futures:
                future.result()  # re-raises an error from the thread


def total(partial):
    """The sum of a per-chunk partial over its chunks (no copy for a single chunk)."""
    return partial[0] if partial.shape[0] == 1 else partial.sum(axis=0)


def _pool():
    """(thread pool, its number of threads, threadpoolctl controller), made once.

    threadpoolctl sets the pools of the BLAS libraries loaded in this process
    (scipy's, which the loops call, and NumPy's, which they do not) and
    restores them on exit, so the rest of the program keeps its BLAS threads.
    """
    if not _POOL:
        import numba
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS the loops call)
        from threadpoolctl import ThreadpoolController

        workers = max(1, numba.config.NUMBA_NUM_THREADS - 1)
        _POOL.append(concurrent.futures.ThreadPoolExecutor(workers, "minilstm-numba"))
        _POOL.append(workers)
        _POOL.append(ThreadpoolController())  # lists the loaded libraries once
    return _POOL[0], _POOL[1], _POOL[2]
