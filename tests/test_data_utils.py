"""pad_sequences, to_categorical, timeseries_dataset_from_array and PyDataset.

Expected values are Keras 3's semantics worked out by hand and written into each
test; the optional tests at the end compare with an installed Keras.
"""

import os
import warnings

import numpy as np
import pytest

from minilstm.data_utils import (ArrayBatches, PyDataset, Sequence,
                                 timeseries_dataset_from_array, to_categorical)
from minilstm.preprocessing import sequence as sequence_module
from minilstm.preprocessing import timeseries_dataset_from_array as preprocessing_tsds
from minilstm.preprocessing.sequence import pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]


# ----------------------------------------------------------------------------- pad_sequences

def test_pad_sequences_keras2_home():
    assert sequence_module.pad_sequences is pad_sequences
    assert preprocessing_tsds is timeseries_dataset_from_array


@pytest.mark.parametrize("padding, truncating, maxlen, expected", [
    ("pre", "pre", None, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ("post", "pre", None, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ("pre", "pre", 2, [[0, 1], [2, 3], [5, 6]]),
    ("pre", "post", 2, [[0, 1], [2, 3], [4, 5]]),
    ("post", "post", 2, [[1, 0], [2, 3], [4, 5]]),
    ("post", "pre", 2, [[1, 0], [2, 3], [5, 6]]),
    ("pre", "pre", 1, [[1], [3], [6]]),
    ("post", "post", 1, [[1], [2], [4]]),
    ("pre", "pre", 5, [[0, 0, 0, 0, 1], [0, 0, 0, 2, 3], [0, 0, 4, 5, 6]]),
    ("post", "pre", 5, [[1, 0, 0, 0, 0], [2, 3, 0, 0, 0], [4, 5, 6, 0, 0]]),
])
def test_pad_sequences_padding_and_truncating(padding, truncating, maxlen, expected):
    out = pad_sequences(SEQS, maxlen=maxlen, padding=padding, truncating=truncating)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.array(expected))


def test_pad_sequences_value_and_dtype():
    out = pad_sequences(SEQS, value=-1)
    np.testing.assert_array_equal(out, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    out = pad_sequences([[0.5], [1.5, 2.5]], dtype="float32", value=9.0, padding="post")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[0.5, 9.0], [1.5, 2.5]], dtype="float32"))
    # The int32 default truncates floats, as NumPy's cast (and Keras) does.
    np.testing.assert_array_equal(pad_sequences([[0.5], [1.5, 2.5]]), [[0, 0], [1, 2]])


def test_pad_sequences_arrays_tuples_and_empty_entries():
    seqs = [np.array([7, 8]), (), [], (9,)]
    out = pad_sequences(seqs, maxlen=3)
    np.testing.assert_array_equal(out, [[0, 7, 8], [0, 0, 0], [0, 0, 0], [0, 0, 9]])
    np.testing.assert_array_equal(pad_sequences([[], []], maxlen=2, value=4), [[4, 4], [4, 4]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    np.testing.assert_array_equal(pad_sequences(np.array([[1, 2], [3, 4]]), maxlen=1), [[2], [4]])


def test_pad_sequences_vector_sequences_keep_sample_shape():
    seqs = [[[1, 2]], [], [[3, 4], [5, 6], [7, 8]]]
    out = pad_sequences(seqs, maxlen=2, value=-1)
    assert out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out, [[[-1, -1], [1, 2]],
                                        [[-1, -1], [-1, -1]],
                                        [[5, 6], [7, 8]]])
    out = pad_sequences(seqs, padding="post", truncating="post", maxlen=2)
    np.testing.assert_array_equal(out, [[[1, 2], [0, 0]], [[0, 0], [0, 0]], [[3, 4], [5, 6]]])


def test_pad_sequences_maxlen_zero():
    for truncating in ("pre", "post"):
        out = pad_sequences(SEQS, maxlen=0, truncating=truncating)
        assert out.shape == (3, 0)


def test_pad_sequences_strings():
    out = pad_sequences([["a", "bb"], ["c"]], dtype=object, value="_")
    assert out.dtype == object
    assert out.tolist() == [["a", "bb"], ["_", "c"]]
    out = pad_sequences([["a", "bb"], ["c"]], dtype="<U3", value="_", padding="post")
    assert out.tolist() == [["a", "bb"], ["c", "_"]]
    # A numeric value with a string dtype is written as its string, as in Keras.
    assert pad_sequences([[1, 2], [3]], dtype="<U3").tolist() == [["1", "2"], ["0.0", "3"]]
    assert pad_sequences([["a"], []], dtype="object", value="_").tolist() == [["a"], ["_"]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match=r"^`dtype` int32 is not compatible with `value`'s "
                                         r"type: <class 'str'>\nYou should set `dtype=object`"):
        pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match=r"^`sequences` must be iterable\.$"):
        pad_sequences(5)
    with pytest.raises(ValueError, match=r"^`sequences` must be iterable\.$"):
        pad_sequences(s for s in SEQS)
    with pytest.raises(ValueError, match=r"^`sequences` must be a list of iterables\. "
                                         r"Found non-iterable: 1$"):
        pad_sequences([1, [2]])
    with pytest.raises(ValueError, match=r'^Padding type "middle" not understood$'):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match=r'^Truncating type "both" not understood$'):
        pad_sequences(SEQS, truncating="both")
    with pytest.raises(ValueError, match=r'^Truncating type "x" not understood$'):
        pad_sequences([[], []], truncating="x")  # checked even when nothing is truncated
    with pytest.raises(ValueError, match=r"^Shape of sample \(2,\) of sequence at position 1 "
                                         r"is different from expected shape \(\)$"):
        pad_sequences([[1, 2], [[3, 4]]])
    for bad in (-1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="`maxlen`"):
            pad_sequences(SEQS, maxlen=bad)
    with pytest.raises(ValueError, match="`sequences` is empty"):
        pad_sequences([])


# ----------------------------------------------------------------------------- to_categorical

def test_to_categorical_basic_and_dtype():
    out = to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float64  # Keras 3 builds it with np.zeros
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(to_categorical([1], num_classes=4), [[0, 1, 0, 0]])
    np.testing.assert_array_equal(to_categorical([1, 0], num_classes=0), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(to_categorical(np.array([True, False])), [[0, 1], [1, 0]])


def test_to_categorical_shapes():
    # (N, T) keeps both axes.
    out = to_categorical(np.array([[0, 1, 2], [2, 2, 0]]))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[1], [[0, 0, 1], [0, 0, 1], [1, 0, 0]])
    # A trailing axis of 1 is squeezed: (N, 1) -> (N, C), (N, T, 1) -> (N, T, C).
    np.testing.assert_array_equal(to_categorical([[1], [0]]), [[0, 1], [1, 0]])
    assert to_categorical(np.zeros((4, 3, 1), dtype=int), num_classes=5).shape == (4, 3, 5)
    # Only a trailing 1, and only with more than one axis.
    assert to_categorical(np.zeros((4, 1, 3), dtype=int)).shape == (4, 1, 3, 1)
    np.testing.assert_array_equal(to_categorical([2]), [[0, 0, 1]])
    np.testing.assert_array_equal(to_categorical(2, num_classes=3), [0, 0, 1])
    assert to_categorical([], num_classes=3).shape == (0, 3)


def test_to_categorical_whole_floats():
    np.testing.assert_array_equal(to_categorical([1.0, 0.0, 2.0]), np.eye(3)[[1, 0, 2]])
    np.testing.assert_array_equal(to_categorical(np.array([[3.0]]), 4), [[0, 0, 0, 1]])


def test_to_categorical_errors():
    with pytest.raises(ValueError, match=r"labels >= 0.*-1, -3|labels >= 0.*-3, -1"):
        to_categorical([0, -1, 2, -3])
    with pytest.raises(ValueError, match=r"labels < num_classes=3.*: 3, 7$"):
        to_categorical([0, 3, 7, 3], num_classes=3)
    with pytest.raises(ValueError, match=r"whole numbers.*1\.5"):
        to_categorical([1.5, 2.0])
    with pytest.raises(ValueError, match=r"whole numbers.*nan"):
        to_categorical([np.nan])
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([])
    for bad in (-2, 2.5, True):
        with pytest.raises(ValueError, match="`num_classes`"):
            to_categorical([0, 1], num_classes=bad)
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical(["a", "b"])


# ----------------------------------------------------------------------------- timeseries

def _windows(ds):
    """Every batch, as lists: [(x, y), ...] or [x, ...]."""
    return [tuple(a.tolist() for a in b) if isinstance(b, tuple) else b.tolist() for b in ds]


def test_timeseries_stride_one():
    # 10 points, windows of 3: starts 0..7 (10 - (3 - 1) * 1 = 8 windows).
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3,
                                       batch_size=4)
    assert isinstance(ds, ArrayBatches) and isinstance(ds, PyDataset)
    assert len(ds) == 2
    assert _windows(ds) == [
        ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30]),
        ([[4, 5, 6], [5, 6, 7], [6, 7, 8], [7, 8, 9]], [40, 50, 60, 70]),
    ]


def test_timeseries_stride_and_sampling_rate():
    # n = 10 - (3 - 1) * 2 = 6 -> starts 0, 2, 4; each window steps by 2.
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(100, 110), sequence_length=3,
                                       sequence_stride=2, sampling_rate=2, batch_size=2)
    assert _windows(ds) == [([[0, 2, 4], [2, 4, 6]], [100, 102]), ([[4, 6, 8]], [104])]


def test_timeseries_keras_docstring_example():
    # Keras's example 1: indices 0..98, length 10, rate 2, stride 3.
    ds = timeseries_dataset_from_array(np.arange(99), None, sequence_length=10,
                                       sampling_rate=2, sequence_stride=3, batch_size=128)
    (x,) = list(ds)
    assert x.shape == (27, 10)  # starts 0, 3, ..., 78: n = 99 - 18 = 81
    assert x[0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert x[1].tolist() == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21]
    assert x[2].tolist() == [6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
    assert x[-1].tolist() == [78, 80, 82, 84, 86, 88, 90, 92, 94, 96]


def test_timeseries_start_and_end_index():
    # Points in [2, 9): n = 9 - 2 - (2 - 1) = 6 -> offsets 0, 3 -> starts 2, 5.
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * -1, sequence_length=2,
                                       sequence_stride=3, start_index=2, end_index=9,
                                       batch_size=5)
    assert _windows(ds) == [([[2, 3], [5, 6]], [-2, -5])]
    # start only: n = 10 - 4 - 2 = 4 -> starts 4, 5, 6, 7.
    ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, start_index=4,
                                       batch_size=3)
    assert _windows(ds) == [[[4, 5, 6], [5, 6, 7], [6, 7, 8]], [[7, 8, 9]]]
    # end only: the last point used is end_index - 1 = 5.
    ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=4, end_index=6)
    assert _windows(ds) == [[[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]]
    # end_index=0 is falsy for Keras's checks and leaves no window.
    assert len(timeseries_dataset_from_array(np.arange(10), None, 2, end_index=0)) == 0
    # Windows that do not fit give an empty dataset, not an error.
    assert len(timeseries_dataset_from_array(np.arange(5), None, sequence_length=6)) == 0


def test_timeseries_targets_cap_the_count():
    # 3 targets: n = min(10 - 1, 3) = 3 windows.
    ds = timeseries_dataset_from_array(np.arange(10), [7, 8, 9], sequence_length=2)
    assert _windows(ds) == [([[0, 1], [1, 2], [2, 3]], [7, 8, 9])]


def test_timeseries_vector_data_and_unbatched():
    data = np.arange(12).reshape(6, 2)
    ds = timeseries_dataset_from_array(data, None, sequence_length=2, sequence_stride=2,
                                       batch_size=2)
    x = ds[0]
    assert x.shape == (2, 2, 2)
    np.testing.assert_array_equal(x, [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])
    np.testing.assert_array_equal(ds[1], [[[8, 9], [10, 11]]])
    # batch_size=None: one window per item, target a scalar.
    ds = timeseries_dataset_from_array(np.arange(5.0), np.arange(5) + 1, sequence_length=3,
                                       batch_size=None)
    assert len(ds) == 3
    x, y = ds[2]
    assert x.tolist() == [2.0, 3.0, 4.0] and y == 3


def test_timeseries_array_batches_is_a_sequence():
    ds = timeseries_dataset_from_array(np.arange(7), None, sequence_length=2, batch_size=4)
    assert len(ds) == ds.num_batches == 2
    first, second = _windows(ds), _windows(ds)
    assert first == second == [[[0, 1], [1, 2], [2, 3], [3, 4]], [[4, 5], [5, 6]]]
    assert ds[-1].tolist() == [[4, 5], [5, 6]]
    with pytest.raises(IndexError):
        ds[2]
    with pytest.raises(IndexError):
        ds[-3]
    with pytest.raises(TypeError):
        ds[0.0]
    ds.on_epoch_end()  # no-op: same batches after
    assert _windows(ds) == first


def test_timeseries_shuffle_is_seeded_and_once():
    data, targets = np.arange(20), np.arange(20) * 2
    kwargs = dict(sequence_length=3, sequence_stride=2, batch_size=4, shuffle=True)
    a = timeseries_dataset_from_array(data, targets, seed=7, **kwargs)
    b = timeseries_dataset_from_array(data, targets, seed=7, **kwargs)
    assert _windows(a) == _windows(b) == _windows(a)  # same seed, same order, every pass
    # Keras's rule: the window offsets 0, 2, ..., 16 shuffled by RandomState(seed).
    order = np.arange(0, 18, 2, dtype="int32")
    np.random.RandomState(7).shuffle(order)
    xs = np.concatenate([x for x, _ in a])
    ys = np.concatenate([y for _, y in a])
    np.testing.assert_array_equal(xs, order[:, None] + np.arange(3))
    np.testing.assert_array_equal(ys, order * 2)
    assert sorted(xs[:, 0].tolist()) == list(range(0, 18, 2))
    c = timeseries_dataset_from_array(data, targets, seed=8, **kwargs)
    assert _windows(c) != _windows(a)
    # seed=None draws its seed from NumPy's global generator, as Keras does.
    np.random.seed(3)
    d = timeseries_dataset_from_array(data, None, sequence_length=3, shuffle=True)
    np.random.seed(3)
    e = timeseries_dataset_from_array(data, None, sequence_length=3, shuffle=True)
    assert _windows(d) == _windows(e)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_index=-1), r"^`start_index` must be 0 or greater\. Received: start_index=-1$"),
    (dict(start_index=10), r"^`start_index` must be lower than the length of the data\. "
                           r"Received: start_index=10, for data of length 10$"),
    (dict(start_index=5, end_index=5), r"^`end_index` must be higher than `start_index`\. "
                                       r"Received: start_index=5, and end_index=5 $"),
    (dict(end_index=10), r"^`end_index` must be lower than the length of the data\. "
                         r"Received: end_index=10, for data of length 10$"),
    (dict(end_index=-2), r"^`end_index` must be higher than 0\. Received: end_index=-2$"),
    (dict(sampling_rate=0), r"^`sampling_rate` must be higher than 0\. "
                            r"Received: sampling_rate=0$"),
    (dict(sampling_rate=10), r"^`sampling_rate` must be lower than the length of the data\. "
                             r"Received: sampling_rate=10, for data of length 10$"),
    (dict(sequence_stride=0), r"^`sequence_stride` must be higher than 0\. "
                              r"Received: sequence_stride=0$"),
    (dict(sequence_stride=10), r"^`sequence_stride` must be lower than the length of the "
                               r"data\. Received: sequence_stride=10, for data of length 10$"),
    (dict(sequence_length=0), r"`sequence_length` must be higher than 0"),
    (dict(sequence_length=2.0), r"`sequence_length` must be an integer"),
    (dict(batch_size=0), r"`batch_size` must be a positive integer or None"),
    (dict(start_index=1.5), r"`start_index` must be an integer or None"),
])
def test_timeseries_argument_errors(kwargs, message):
    kwargs = {"sequence_length": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(np.arange(10), None, **kwargs)


def test_timeseries_targets_too_short_for_start_index():
    with pytest.raises(ValueError, match=r"`targets` is too short.*targets\[5\]"):
        timeseries_dataset_from_array(np.arange(10), np.arange(4), sequence_length=2,
                                      start_index=2)


def test_timeseries_feeds_fit_evaluate_predict():
    import minilstm as keras
    keras.utils.set_random_seed(0)
    data = np.sin(np.arange(40, dtype="float32") / 4)[:, None]
    train = timeseries_dataset_from_array(data[:-3], data[3:, 0], sequence_length=3,
                                          batch_size=8)  # 35 windows, 5 batches
    model = keras.Sequential([keras.layers.Input((3, 1)), keras.layers.LSTM(2),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(train, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(model.evaluate(train, verbose=0))
    inputs = timeseries_dataset_from_array(data, None, sequence_length=3, batch_size=8)
    assert model.predict(inputs, verbose=0).shape == (38, 1)


# ----------------------------------------------------------------------------- PyDataset

class Squares(PyDataset):
    """Batches of 2 numbers and their squares; counts epochs."""

    def __init__(self, n, weighted=False, **kwargs):
        super().__init__(**kwargs)
        self.x = np.arange(n, dtype="float32")
        self.weighted = weighted
        self.epochs = 0

    def __len__(self):
        return -(-len(self.x) // 2)

    def __getitem__(self, index):
        x = self.x[index * 2:(index + 1) * 2]
        return (x, x ** 2, np.ones_like(x)) if self.weighted else (x, x ** 2)

    def on_epoch_end(self):
        self.epochs += 1


def test_pydataset_contract():
    ds = Squares(5, workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (4, True, 3)
    assert len(ds) == ds.num_batches == 3
    batches = [(x.tolist(), y.tolist()) for x, y in ds]
    assert batches == [([0, 1], [0, 1]), ([2, 3], [4, 9]), ([4], [16])]
    assert [(x.tolist(), y.tolist()) for x, y in ds] == batches  # re-iterable
    x, y, w = Squares(3, weighted=True)[1]
    assert (x.tolist(), y.tolist(), w.tolist()) == ([2.0], [4.0], [1.0])
    ds.on_epoch_end()
    assert ds.epochs == 1
    assert Sequence is PyDataset
    defaults = Squares(1)
    assert (defaults.workers, defaults.use_multiprocessing, defaults.max_queue_size) == \
        (1, False, 10)


def test_pydataset_base_hooks_and_missing_methods():
    base = PyDataset()
    assert base.on_epoch_begin() is None and base.on_epoch_end() is None
    with pytest.raises(NotImplementedError):
        base[0]
    with pytest.raises(NotImplementedError, match="num_batches"):
        base.num_batches

    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, index):
            return np.array([index])

    first = []
    for batch in Endless():
        first.append(int(batch[0]))
        if len(first) == 4:
            break
    assert first == [0, 1, 2, 3]


def test_pydataset_without_super_init_warns():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

    ds = NoSuper()
    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        assert ds.workers == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds.max_queue_size == 10  # filled in once, no second warning


@pytest.mark.parametrize("kwargs, name", [
    (dict(workers=-1), "workers"), (dict(workers=2.0), "workers"), (dict(workers=True), "workers"),
    (dict(use_multiprocessing="yes"), "use_multiprocessing"),
    (dict(use_multiprocessing=1), "use_multiprocessing"),
    (dict(max_queue_size=0), "max_queue_size"), (dict(max_queue_size=None), "max_queue_size"),
])
def test_pydataset_argument_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        Squares(2, **kwargs)
    ds = Squares(2)
    with pytest.raises(ValueError, match=f"`{name}`"):
        setattr(ds, name, kwargs[name])


def test_pydataset_workers_zero_accepted():
    # Keras runs workers=0 in the calling thread; so does minilstm for every value.
    assert Squares(2, workers=0).workers == 0


# ----------------------------------------------------------------------------- vs Keras

@pytest.fixture(scope="module")
def keras_utils():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    return keras.utils


def test_pad_sequences_matches_keras(keras_utils):
    rng = np.random.default_rng(0)
    for _ in range(40):
        vectors = bool(rng.integers(0, 2))
        seqs = [rng.integers(-9, 9, size=(int(rng.integers(0, 6)), 2) if vectors
                             else int(rng.integers(0, 6))).tolist() for _ in range(4)]
        seqs[0] = seqs[0] or ([[1, 2]] if vectors else [1])
        kwargs = dict(maxlen=[None, 1, 3, 7][rng.integers(0, 4)],
                      padding=["pre", "post"][rng.integers(0, 2)],
                      truncating=["pre", "post"][rng.integers(0, 2)],
                      value=float(rng.integers(-3, 3)),
                      dtype=["int32", "float32", "int64"][rng.integers(0, 3)])
        ours, theirs = pad_sequences(seqs, **kwargs), keras_utils.pad_sequences(seqs, **kwargs)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_to_categorical_matches_keras(keras_utils):
    rng = np.random.default_rng(1)
    for shape in [(5,), (3, 1), (2, 3), (2, 3, 1), (1,), (), (4, 1, 2)]:
        for num_classes in (None, 4, 6):
            labels = rng.integers(0, 4, size=shape)
            ours = to_categorical(labels, num_classes)
            theirs = keras_utils.to_categorical(labels, num_classes)
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            np.testing.assert_array_equal(ours, theirs)
