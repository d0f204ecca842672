"""Keras's data utilities in NumPy: `to_categorical`, `timeseries_dataset_from_array`
(returning an `ArrayBatches`), and the `PyDataset` base class (Keras 2: `Sequence`).

Each follows Keras 3 (`keras/src/utils/numerical_utils.py`,
`timeseries_dataset_utils.py`, `trainers/data_adapters/py_dataset_adapter.py`) on the
inputs Keras accepts, and raises a `ValueError` naming the argument where Keras would
fail later, obscurely, or silently (a negative label wraps around in Keras).
"""

import itertools
import warnings

import numpy as np

__all__ = ["to_categorical", "timeseries_dataset_from_array", "ArrayBatches",
           "PyDataset", "Sequence"]


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _listed(values, limit=5):
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} distinct)" if len(values) > limit else "")


# ----------------------------------------------------------------------------- to_categorical

def to_categorical(x, num_classes=None):
    """Converts class labels to one-hot vectors; the class axis is placed last.

    As in Keras 3: leading axes are kept (`(N, T)` labels give `(N, T, num_classes)`),
    a trailing axis of size 1 is dropped first (`(N, 1)` gives `(N, num_classes)`),
    `num_classes=None` (or 0) means `max(x) + 1`, and the result is a float64 NumPy
    array (Keras 3 builds it with `np.zeros`; Keras 2's float32 default is gone).
    Float labels must be whole numbers; negative labels and labels `>= num_classes`
    raise a `ValueError` listing them.

    Args:
        x: array-like of integer class labels in `[0, num_classes)`.
        num_classes: total number of classes, or None to infer it.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    >>> to_categorical([[1], [0]], num_classes=2).shape
    (2, 2)
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f":
        not_whole = ~np.isfinite(labels) | (labels != np.round(labels))
        if not_whole.any():
            raise ValueError(
                "`to_categorical` expects integer class labels; float labels must be whole "
                f"numbers. Received non-integer label(s): {_listed(np.unique(labels[not_whole]))}")
    elif labels.dtype.kind not in "biu":
        raise ValueError(f"`to_categorical` expects integer class labels. Received an array "
                         f"of dtype {labels.dtype}")
    labels = labels.astype("int64")
    if num_classes is not None and (not _is_int(num_classes) or num_classes < 0):
        raise ValueError(f"`num_classes` must be a positive integer or None. "
                         f"Received: num_classes={num_classes!r}")

    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:  # (..., 1) -> (...)
        shape = shape[:-1]
    flat = labels.reshape(-1)

    negative = np.unique(flat[flat < 0])
    if negative.size:
        raise ValueError(f"`to_categorical` expects labels >= 0. Received negative "
                         f"label(s): {_listed(negative)}")
    if not num_classes:  # None or 0, as Keras's `if not num_classes`
        if flat.size == 0:
            raise ValueError("`to_categorical` cannot infer `num_classes` from no labels. "
                             "Pass num_classes.")
        num_classes = int(flat.max()) + 1
    too_big = np.unique(flat[flat >= num_classes])
    if too_big.size:
        raise ValueError(f"`to_categorical` expects labels < num_classes={num_classes}. "
                         f"Received label(s): {_listed(too_big)}")

    one_hot = np.zeros((flat.size, num_classes))
    one_hot[np.arange(flat.size), flat] = 1
    return one_hot.reshape(shape + (num_classes,))


# ----------------------------------------------------------------------------- PyDataset

def _check_loader_args(workers, use_multiprocessing, max_queue_size):
    if not _is_int(workers) or workers < 0:
        raise ValueError(f"`workers` must be an integer >= 0 (0 and 1 both load in the "
                         f"calling thread). Received: workers={workers!r}")
    if not isinstance(use_multiprocessing, (bool, np.bool_)):
        raise ValueError(f"`use_multiprocessing` must be a bool. "
                         f"Received: use_multiprocessing={use_multiprocessing!r}")
    if not _is_int(max_queue_size) or max_queue_size < 1:
        raise ValueError(f"`max_queue_size` must be an integer >= 1. "
                         f"Received: max_queue_size={max_queue_size!r}")


class PyDataset:
    """Base class for a dataset of batches written in Python (Keras 2: `Sequence`).

    Subclasses implement `__len__` (the number of batches) and `__getitem__(index)`,
    which returns a whole batch: `x`, `(x, y)` or `(x, y, sample_weight)`. Override
    `on_epoch_end` (and `on_epoch_begin`) to change the data between epochs, for
    example to reshuffle. A subclass whose `__init__` takes `**kwargs` should pass
    them to `super().__init__(**kwargs)`, as in Keras.

    Args:
        workers: accepted for Keras compatibility; minilstm loads every batch in the
            calling thread, so values other than 1 change nothing. Integer >= 0.
        use_multiprocessing: accepted for Keras compatibility (bool); batches are
            still loaded in the calling thread.
        max_queue_size: accepted for Keras compatibility (integer >= 1); there is
            no prefetch queue.

    >>> class Halves(PyDataset):
    ...     def __init__(self, x, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x = x
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         half = self.x[index * 2:(index + 1) * 2]
    ...         return half, half.sum(axis=1)
    >>> ds = Halves(np.arange(8).reshape(4, 2))
    >>> ds.num_batches, [y.tolist() for _, y in ds]
    (2, [[1, 5], [9, 13]])
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        _check_loader_args(workers, use_multiprocessing, max_queue_size)
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                "ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        _check_loader_args(value, False, 1)
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        _check_loader_args(1, value, 1)
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        _check_loader_args(1, False, value)
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index`: `x`, `(x, y)` or `(x, y, sample_weight)`."""
        raise NotImplementedError

    @property
    def num_batches(self):
        """The number of batches: `len(self)`, or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n"
            "@property\ndef num_batches(self):\n  return ...")

    def __iter__(self):
        """The batches in order (as Keras 2's `Sequence.__iter__`); endless if
        `num_batches` is None."""
        count = self.num_batches
        for index in (itertools.count() if count is None else range(count)):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras 2's name (keras.utils.Sequence)


# ----------------------------------------------------------------------------- timeseries

class ArrayBatches(PyDataset):
    """Batches of windows cut from an array: what `timeseries_dataset_from_array` returns.

    A re-iterable sequence: `len()` is the number of batches, `[i]` is batch `i`, and
    iteration runs over the batches in order, the same every pass. Batch `i` is
    `(x, y)` or, without targets, `x`, where `x[k] = data[s + offsets]` and
    `y[k] = targets[s]` for the k-th window start `s` of the batch. Windows are
    gathered when a batch is asked for, so memory holds one batch of windows at a time.

    Args:
        data: array, time on axis 0.
        targets: array indexed like `data`, or None.
        starts: (W,) int array, the index in `data` where each window starts, in order.
        offsets: (L,) int array, the steps of a window relative to its start.
        batch_size: windows per batch (the last may be smaller), or None for one
            unbatched window per item.

    >>> batches = ArrayBatches(np.arange(6), None, starts=np.array([0, 2]),
    ...                        offsets=np.array([0, 1, 2]), batch_size=1)
    >>> len(batches), batches[1]
    (2, array([[2, 3, 4]]))
    """

    def __init__(self, data, targets, starts, offsets, batch_size):
        super().__init__()
        self.data, self.targets = data, targets
        self.starts, self.offsets = starts, offsets
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)  # ceil

    def __getitem__(self, index):
        if not _is_int(index):
            raise TypeError(f"ArrayBatches indices must be integers. Received: {index!r}")
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"batch index {index} out of range for {count} batches")
        index %= count
        if self.batch_size is None:
            starts = self.starts[index]
        else:
            starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.data[np.add.outer(starts, self.offsets)]  # (B, L, ...) or (L, ...)
        if self.targets is None:
            return x
        return x, self.targets[starts]


def _check_window_args(n, sequence_length, sequence_stride, sampling_rate, batch_size,
                       start_index, end_index):
    # Keras's checks, in Keras's order and words (truthiness included: an
    # `end_index` of 0 skips them and gives an empty dataset, as in Keras).
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= n:
            raise ValueError(f"`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= n:
            raise ValueError(f"`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. "
                             f"Received: end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: "
                         f"sampling_rate={sampling_rate}")
    if sampling_rate >= n:
        raise ValueError(f"`sampling_rate` must be lower than the length of the data. "
                         f"Received: sampling_rate={sampling_rate}, for data of length {n}")
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: "
                         f"sequence_stride={sequence_stride}")
    if sequence_stride >= n:
        raise ValueError(f"`sequence_stride` must be lower than the length of the data. "
                         f"Received: sequence_stride={sequence_stride}, for data of length {n}")
    # Checks Keras leaves to TensorFlow (or skips): integer arguments, a window of >= 1 step.
    for name, value in (("sequence_length", sequence_length),
                        ("sequence_stride", sequence_stride),
                        ("sampling_rate", sampling_rate)):
        if not _is_int(value):
            raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if sequence_length < 1:
        raise ValueError(f"`sequence_length` must be higher than 0. Received: "
                         f"sequence_length={sequence_length}")
    for name, value in (("start_index", start_index), ("end_index", end_index)):
        if value is not None and not _is_int(value):
            raise ValueError(f"`{name}` must be an integer or None. Received: {name}={value!r}")
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. "
                         f"Received: batch_size={batch_size!r}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Sliding windows over a timeseries, batched: Keras's function, minus `tf.data`.

    Window `i` starts at `start_index + i * sequence_stride` and holds `sequence_length`
    points taken every `sampling_rate` steps; its target is
    `targets[start_index + i * sequence_stride]`. Windows use only points in
    `[start_index, end_index)`; there are `max(0, ceil(n / sequence_stride))` of them with
    `n = end_index - start_index - (sequence_length - 1) * sampling_rate`, capped at
    `len(targets)` when targets are given (Keras's arithmetic). As in Keras, `end_index`
    must be lower than `len(data)`, and `start_index` / `end_index` default to 0 and
    `len(data)`.

    `shuffle=True` shuffles the window order once with `np.random.RandomState(seed)`,
    as Keras does before batching (with `seed=None` the seed is drawn from NumPy's
    global generator, as in Keras). Keras's `tf.data` dataset then also reshuffles
    within a buffer of `8 * batch_size` windows each epoch; minilstm keeps the one
    seeded order, so a seed fixes every epoch's batches.

    Args:
        data: array (or list), time on axis 0.
        targets: array with the target of the window starting at each index, or None
            to yield inputs only.
        sequence_length: points per window.
        sequence_stride: steps between the starts of successive windows.
        sampling_rate: steps between successive points of a window.
        batch_size: windows per batch (the last may be smaller); None yields single
            windows.
        shuffle: shuffle the window order (once, see above).
        seed: int seed for the shuffle.
        start_index, end_index: optional ints; only points in `[start_index, end_index)`
            are used.

    Returns:
        An `ArrayBatches`: `len()` batches, each `(x, y)` (or `x` when `targets` is
        None) with `x` of shape `(batch, sequence_length) + data.shape[1:]`; it can be
        passed to `fit`, `evaluate` and `predict` as `x`.

    >>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10,
    ...                                    sequence_length=3, sequence_stride=2, batch_size=2)
    >>> [(x.tolist(), y.tolist()) for x, y in ds]
    [([[0, 1, 2], [2, 3, 4]], [0, 20]), ([[4, 5, 6], [6, 7, 8]], [40, 60])]
    """
    n = len(data)
    _check_window_args(n, sequence_length, sequence_stride, sampling_rate, batch_size,
                       start_index, end_index)
    data = np.asarray(data)
    start = 0 if start_index is None else int(start_index)
    end = n if end_index is None else int(end_index)

    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets))
    index_dtype = "int32" if num_seqs < 2147483647 else "int64"  # as Keras: same shuffle
    positions = np.arange(0, num_seqs, sequence_stride, dtype=index_dtype)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(positions)

    starts = start + positions.astype("int64")  # window starts as indices into `data`
    if targets is not None and starts.size and starts.max() >= len(targets):
        raise ValueError(
            f"`targets` is too short: the window starting at data index {starts.max()} needs "
            f"targets[{starts.max()}], but len(targets)={len(targets)}. `targets[i]` is the "
            "target of the window that starts at index i of `data`.")
    offsets = np.arange(sequence_length, dtype="int64") * sampling_rate
    return ArrayBatches(data, targets, starts, offsets, batch_size)
