"""Atomic writes and the h5py import: what every file writer and reader here shares.

A write goes to a temporary file in the target's folder, which is renamed
over the target (`os.replace`, atomic on POSIX and Windows) only once it is
complete: a crash or a full disk in the middle of a save leaves the previous
file whole.
"""

import contextlib
import os
import tempfile


def h5py_module(path):
    """h5py, or an ImportError that says how to get it."""
    try:
        import h5py
    except ImportError:
        raise ImportError(
            f"Reading or writing {str(path)!r} needs h5py, which Keras's file formats are "
            "built on: pip install h5py") from None
    return h5py


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it to `path` if the block succeeds.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read()
    'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path!r}: the folder {folder!r} does not exist.")
    handle, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=folder)
    os.close(handle)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
