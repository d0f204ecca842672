"""Large result arrays on recycled memory: np.empty without the fresh pages.

A training loop asks for the same large arrays every batch (the forward's
cache, hs and cs: 183 MB a batch at W2) while the last batch's die. glibc maps
every block over 32 MiB straight from the operating system and gives it back
when freed, so each batch's arrays arrive as fresh pages that the operating
system zeroes on first touch: measured at W2 on one core, a chunk's forward
took 167-201 ms writing its cache into new arrays against 152-164 ms writing
into reused ones (149-160 keeping none).

`empty(shape, dtype)` returns an ordinary array. At 1 MiB and over, its memory
comes from a pool: when the last array that views it is gone (a finalizer on
the memory's owner, which every view keeps alive), the memory goes back, and
the next request of the same size takes it. Arrays a caller keeps are never
reused. The pool keeps at most `_KEEP_BYTES` of memory no array uses
(least recently freed first out); `release()` gives all of it back.
"""

import collections
import ctypes
import threading
import weakref

import numpy as np

_MIN_BYTES = 1 << 20  # smaller arrays: np.empty (malloc reuses its own memory)
_KEEP_BYTES = 512 << 20  # unused memory the pool holds at most
_ALIGN = 64  # one cache line, one 512-bit register

_lock = threading.Lock()
_free = collections.OrderedDict()  # (id, size) -> buffer, least recently freed first
_freed = collections.deque()  # buffers whose arrays died; appended by finalizers only
_free_bytes = 0


def empty(shape, dtype):
    """np.empty(shape, dtype), C order, on pooled memory (64-byte aligned) when large."""
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape) if np.ndim(shape) else (int(shape),)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < _MIN_BYTES:
        return np.empty(shape, dtype)
    buffer = _take(size)
    if buffer is None:
        buffer = np.empty(size + _ALIGN - 1, np.uint8)
    start = -buffer.ctypes.data % _ALIGN
    owner = (ctypes.c_char * size).from_buffer(buffer, start)
    owner.buffer = buffer  # the memory lives as long as its owner
    # the last view gone, the memory goes back (not at exit: nothing needs it then)
    weakref.finalize(owner, _freed.append, buffer).atexit = False
    return np.frombuffer(owner, dtype).reshape(shape)


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
    """A free buffer for `size` bytes, or None."""
    global _free_bytes
    with _lock:
        _collect()
        for key in _free:
            if key[1] == size:
                _free_bytes -= size
                return _free.pop(key)
    return None


def _collect():
    """Moves the buffers freed since the last call into the pool (under _lock), then
    drops the least recently freed past _KEEP_BYTES."""
    global _free_bytes
    while _freed:
        buffer = _freed.popleft()
        size = buffer.size - (_ALIGN - 1)
        _free[(id(buffer), size)] = buffer
        _free_bytes += size
    while _free_bytes > _KEEP_BYTES:
        (_, size), _ = _free.popitem(last=False)
        _free_bytes -= size
