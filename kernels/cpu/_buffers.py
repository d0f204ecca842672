"""Large result arrays on recycled memory: np.empty without the fresh pages.

A training loop asks for the same large arrays every batch (the forward's
cache, hs and cs: 183 MB a batch at W2) while the last batch's die. glibc maps
every block over 32 MiB straight from the operating system and gives it back
when freed, so each batch's arrays arrive as fresh pages that the operating
system zeroes on first touch: measured at W2 on one core, a chunk's forward
took 167-201 ms writing its cache into new arrays against 152-164 ms writing
into reused ones (149-160 keeping none).

`empty(shape, dtype)` returns an ordinary array. At 1 MiB and over, its memory
comes from a pool: when the last array that views it is gone (a weak reference's
callback on the memory's owner, which every view keeps alive), the memory goes back, and
the next request of the same size takes it. Arrays a caller keeps are never
reused. The pool keeps at most `_KEEP_BYTES` of memory no array uses
(least recently freed first out); `release()` gives all of it back.
"""

import collections
import ctypes
import math
import threading
import weakref

import numpy as np

from ._math import jit

_MIN_BYTES = 1 << 20  # smaller arrays: np.empty (malloc reuses its own memory)
_KEEP_BYTES = 512 << 20  # unused memory the pool holds at most
_ALIGN = 64  # one cache line, one 512-bit register
_MIN_ALIGNED_BYTES = 64 << 10  # smaller `aligned` arrays: np.empty

_lock = threading.Lock()
# Unused memory by size: [(buffer, offset of its first aligned byte)], most recently
# freed last (taken first: likeliest still in cache); sizes in the order last freed.
_free = collections.OrderedDict()
_freed = collections.deque()  # (size, buffer, offset) freed since; appended by callbacks
_leases = {}  # id of a weak reference to an array's owner -> (it, size, buffer, offset)
_free_bytes = 0


def empty(shape, dtype):
    """np.empty(shape, dtype), C order, on pooled memory (64-byte aligned) when large."""
    # (the loops' calls pass a dtype and a tuple: a batch-1 step makes ten of them)
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    if type(shape) is not tuple:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shape) * dtype.itemsize
    if size < _MIN_BYTES:
        return np.empty(shape, dtype)
    buffer, offset = _take(size) or _aligned_bytes(size)
    owner = (ctypes.c_char * size).from_buffer(buffer, offset)  # keeps buffer alive
    # the last view of it gone, the memory goes back to the pool
    reference = weakref.ref(owner, _returned)
    _leases[id(reference)] = reference, size, buffer, offset
    return np.frombuffer(owner, dtype).reshape(shape)


def aligned(shape, dtype):
    """np.empty(shape, dtype), C order, its first byte on a 64-byte boundary from
    _MIN_ALIGNED_BYTES on (pooled as `empty` at 1 MiB and over): for the packed panels
    (_packed.py), which the tiles read a 64-byte register at a time; a misaligned panel
    splits every load over two cache lines (W3's forward-only loop ran 2-4% slower, one
    or two threads). Smaller arrays, whose products cost less than the alignment's
    ~3 µs of Python (a batch-1 step packs three), are plain np.empty."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    if size < _MIN_ALIGNED_BYTES:
        return np.empty(shape, dtype)
    if size >= _MIN_BYTES:
        return empty(shape, dtype)
    buffer, offset = _aligned_bytes(size)
    return buffer[offset:offset + size].view(dtype).reshape(shape)


def _aligned_bytes(size):
    """(buffer, offset): new uint8 memory holding `size` bytes from its 64-byte-aligned
    byte `offset` on."""
    buffer = np.empty(size + _ALIGN - 1, np.uint8)
    return buffer, -buffer.__array_interface__["data"][0] % _ALIGN


@jit
def aligned_empty(shape, like):
    """np.empty(shape, like.dtype) for the compiled loops' scratch, starting on a 64-byte
    boundary: Numba's own np.empty starts on 32 bytes, so from one call or process to
    the next the tiles' 64-byte loads and stores of a step's rows split over two cache
    lines or not (W3's forward-only loop, one thread: 122 ms a batch with its buffer of
    pre-activations aligned, 127 with it 32 bytes off)."""
    size = 1
    for n in shape:
        size *= n
    flat = np.empty(size + _ALIGN // like.itemsize, like.dtype)
    start = (_ALIGN - flat.ctypes.data % _ALIGN) % _ALIGN // like.itemsize
    return flat[start:start + size].reshape(shape)


def _returned(reference, leases=_leases, freed=_freed):
    """A weak reference's callback: its owner died, so no array views the memory.
    (The pool's containers are bound as defaults: at interpreter exit this may run
    after the module's globals are gone.)"""
    freed.append(leases.pop(id(reference))[1:])


def release():
    """Gives back to the operating system all memory that no array uses."""
    global _free_bytes
    with _lock:
        _collect()
        _free.clear()
        _free_bytes = 0


def pooled_bytes():
    """Bytes of memory the pool holds that no array uses."""
    with _lock:
        _collect()
        return _free_bytes


def _take(size):
    """(buffer, offset) of a free buffer for `size` bytes, the one freed last; or None."""
    global _free_bytes
    with _lock:
        _collect()
        buffers = _free.get(size)
        if not buffers:
            return None
        _free_bytes -= size
        taken = buffers.pop()
        if not buffers:
            del _free[size]
        return taken


def _collect():
    """Moves the buffers freed since the last call into the pool (under _lock), then
    lets go of the least recently freed sizes' oldest buffers past _KEEP_BYTES."""
    global _free_bytes
    while _freed:
        size, buffer, offset = _freed.popleft()
        _free.setdefault(size, []).append((buffer, offset))
        _free.move_to_end(size)
        _free_bytes += size
    while _free_bytes > _KEEP_BYTES:
        size, buffers = next(iter(_free.items()))
        buffers.pop(0)
        _free_bytes -= size
        if not buffers:
            del _free[size]
