"""Where fit / evaluate / predict get their batches: arrays, or a source of batches.

Two kinds of data, one interface (`steps`, `epoch()` yielding checked
(xs, ys, sample_weights) lists on the active device):

- `ArraySlices`: arrays given to fit (x, y, sample_weight), checked once and
  moved to the device once, then sliced (shuffled each epoch when asked);
- `SourceBatches`: a Python generator or iterator of batches, or a
  PyDataset-like object (`__len__` and `__getitem__`, `on_epoch_end`), each
  batch `x`, `(x, y)` or `(x, y, sample_weight)`, checked as it arrives.
"""

import warnings

import numpy as np

from .. import backend
from .. import data_adapter as data


def is_batch_source(value):
    """True for generators, iterators and PyDataset-like objects; False for array data."""
    if value is None or isinstance(value, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if hasattr(value, "__array__") or hasattr(value, "to_numpy") or \
            hasattr(value, "__cuda_array_interface__"):
        return False
    return hasattr(value, "__next__") or hasattr(value, "__iter__") or (
        hasattr(value, "__getitem__") and hasattr(value, "__len__"))


def unpack(batch):
    """(x, y, sample_weight) from a batch: x alone, or a tuple of 1 to 3 entries."""
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"A batch must be x, (x,), (x, y) or (x, y, sample_weight); "
                             f"received a tuple of {len(batch)} entries.")
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def _on_device(arrays):
    xp = backend.xp()
    return [None if a is None else xp.asarray(a) for a in arrays]


class ArraySlices:
    """Checked arrays, cut into batches of `batch_size` (the last one may be partial)."""

    def __init__(self, xs, ys, sample_weights, batch_size, shuffle=False):
        self.xs, self.ys = _on_device(xs), _on_device(ys) if ys is not None else None
        self.sample_weights = _on_device(sample_weights) if sample_weights else None
        self.count = len(xs[0])
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.slices = data.batch_slices(self.count, batch_size)
        self.steps = len(self.slices)

    def epoch(self):
        xp = backend.xp()
        order = xp.asarray(np.random.permutation(self.count)) if self.shuffle else None
        for start, stop in self.slices:
            rows = slice(start, stop) if order is None else order[start:stop]
            ys = None if self.ys is None else [a[rows] for a in self.ys]
            sws = None if self.sample_weights is None else [
                None if w is None else w[rows] for w in self.sample_weights]
            yield [a[rows] for a in self.xs], ys, sws


class SourceBatches:
    """Batches from a generator, an iterator or a PyDataset, checked by `prepare` one by one.

    Args:
        source: the object passed as `x`.
        steps: batches per epoch (`steps_per_epoch` / `steps`), or None for all of them
            (`len(source)` for a PyDataset; until exhausted for an iterator).
        prepare: (x, y, sample_weight) -> (xs, ys, sample_weights), checked host arrays.
    """

    def __init__(self, source, steps, prepare):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                                  or steps <= 0):
            raise ValueError(f"`steps` / `steps_per_epoch` must be a positive integer or None. "
                             f"Received: {steps!r}")
        self.source, self.prepare = source, prepare
        self.indexed = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        self.steps = steps if steps is not None else (len(source) if self.indexed else None)
        self._iterator = None
        self.exhausted = False

    def epoch(self):
        if self.indexed:
            for index in range(self.steps):
                yield self._checked(self.source[index % len(self.source)])
            if hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()
            return
        if self._iterator is None:
            self._iterator = iter(self.source)
        taken = 0
        while self.steps is None or taken < self.steps:
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if self.steps is not None or taken == 0:
                    self.exhausted = True
                    warnings.warn(
                        "Your input ran out of data; interrupting training. Make sure that your "
                        "dataset or generator can generate at least `steps_per_epoch * epochs` "
                        "batches.", stacklevel=3)
                return
            taken += 1
            yield self._checked(batch)

    def _checked(self, batch):
        xs, ys, sws = self.prepare(*unpack(batch))
        return _on_device(xs), None if ys is None else _on_device(ys), \
            None if sws is None else _on_device(sws)
