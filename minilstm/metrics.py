"""Metrics: Keras's per-sample accuracy functions, running-mean Metric objects, and `resolve`.

A metric function returns one value per sample, like a loss function (the loss functions are
metrics too: `metrics.mse`). A `Metric` keeps a running mean of those values over an epoch,
weighted by the number of samples in each batch. Running totals stay arrays of y_pred's module,
so updating a metric on the GPU never waits for the device; only `result()` does.

'accuracy' and 'acc' are resolved from the shapes of y_true and y_pred, as Keras 3 does.
"""

import difflib

import numpy as np

from .backend import floatx, get_array_module

# The loss functions are metrics too (`metrics.mse`), so they are re-exported here.
from .losses import (
    BCE,
    MAE,
    MSE,
    bce,
    binary_crossentropy,
    categorical_crossentropy,
    mae,
    mean_absolute_error,
    mean_squared_error,
    mse,
    sparse_categorical_crossentropy,
    squeeze_or_expand_to_same_rank,
)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of `y_true == (y_pred > threshold)` (strict `>`).

    >>> binary_accuracy(np.array([[1], [0], [1]]), np.array([[0.9], [0.5], [0.5]]))
    array([1., 1., 0.], dtype=float32)
    """
    xp = get_array_module(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(xp.asarray(y_true), xp.asarray(y_pred))
    return (y_true == (y_pred > threshold)).astype(floatx()).mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1 where `argmax(y_true) == argmax(y_pred)` over the last axis, else 0.

    >>> categorical_accuracy(np.array([[0, 1], [1, 0]]), np.array([[0.3, 0.7], [0.4, 0.6]]))
    array([1., 0.], dtype=float32)
    """
    xp = get_array_module(y_pred)
    matches = xp.argmax(xp.asarray(y_true), axis=-1) == xp.argmax(y_pred, axis=-1)
    return matches.astype(floatx())


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label `y_true` equals `argmax(y_pred)`, else 0.

    Labels may be `(B,)` or `(B, 1)`.

    >>> sparse_categorical_accuracy(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]]))
    array([1., 0.], dtype=float32)
    """
    xp = get_array_module(y_pred)
    labels, y_pred = xp.asarray(y_true), xp.asarray(y_pred)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return (labels == xp.argmax(y_pred, axis=-1)).astype(floatx())


class Metric:
    """Base class: a running mean over batches, weighted by the number of samples.

    Subclasses implement `update_state` and feed per-sample values to `_accumulate`.

    Args:
        name: the key the metric is reported under (e.g. 'accuracy').
    """

    def __init__(self, name=None):
        self.name = name or "metric"
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds one batch to the running mean."""
        raise NotImplementedError(f"{type(self).__name__} does not implement `update_state`.")

    def result(self):
        """The running mean as a Python float (0.0 before any update)."""
        return float(self.total / self.count) if self.count else 0.0

    def reset_state(self):
        """Forgets every batch seen so far (called at the start of each epoch)."""
        self.total = 0.0
        self.count = 0.0

    def _accumulate(self, values, sample_weight=None):
        # Keras's reduce_to_samplewise_values: each sample counts once, its values averaged;
        # a scalar weight weighs the whole batch, an array weighs each sample.
        if isinstance(values, (np.generic, np.ndarray)) and values.ndim == 0 \
                and type(sample_weight) is int:
            # The loss trackers' case, once a batch: a float of the value's own, exactly
            # the float64 that `values.mean(dtype="float64")` gives for one number.
            self.total = self.total + float(values) * sample_weight
            self.count = self.count + sample_weight
            return
        xp = get_array_module(values)
        values = xp.asarray(values)
        if values.size == 0:
            return
        if sample_weight is None:
            sample_weight = values.shape[0] if values.ndim else 1
        if np.isscalar(sample_weight):
            self.total = self.total + values.mean(dtype="float64") * sample_weight
            self.count = self.count + sample_weight
            return
        weight = xp.asarray(sample_weight, dtype="float64")
        values, weight = squeeze_or_expand_to_same_rank(values, weight)
        if values.ndim > weight.ndim:
            values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
        weight = xp.broadcast_to(weight, values.shape)
        self.total = self.total + (values * weight).sum()
        self.count = self.count + weight.sum()

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"

    def get_config(self):
        """Keras's config keys: the name (and a threshold where there is one)."""
        return {"name": self.name, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k != "dtype"}
        return cls(**config)


class Mean(Metric):
    """Running weighted mean of the values given, such as each batch's loss.

    Call arguments:
        values: a scalar or array. sample_weight: a scalar weighing the whole call (the model
        passes the batch size), or one weight per sample; by default each sample counts once.

    >>> tracker = Mean(name="loss")
    >>> tracker.update_state(1.0, sample_weight=3)
    >>> tracker.update_state(3.0, sample_weight=1)
    >>> tracker.result()
    1.5
    """

    def __init__(self, name="mean"):
        super().__init__(name)

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)


class MeanMetricWrapper(Metric):
    """Running mean of a per-sample function `fn(y_true, y_pred, **kwargs)`.

    Args:
        fn: the per-sample function. name: defaults to `fn.__name__`. **kwargs: passed to fn.

    >>> metric = MeanMetricWrapper(mean_absolute_error, name="mae")
    >>> metric.update_state(np.array([[1.0], [2.0]]), np.array([[1.0], [1.0]]))
    >>> metric.result()
    0.5
    """

    def __init__(self, fn, name=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._accumulate(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` matches binary labels; threshold defaults to 0.5."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self._fn_kwargs["threshold"]}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` matches `argmax` of one-hot labels."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` matches integer labels."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


_ACCURACY = ("accuracy", "acc")
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy)}
_FUNCTIONS = {
    f.__name__: f
    for f in (
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        mean_squared_error,
        mean_absolute_error,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}
_FUNCTIONS.update(mse=mse, MSE=MSE, mae=mae, MAE=MAE, bce=bce, BCE=BCE)


def validate(identifier):
    """Checks a metric identifier without shapes, so compile() can reject bad names early.

    Returns the identifier; raises ValueError for an unknown name (listing the valid ones)
    and TypeError for something that is neither a string, a Metric nor a callable.

    >>> validate("acc")
    'acc'
    """
    if isinstance(identifier, Metric) or (callable(identifier) and not isinstance(identifier, str)):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(
            f"Could not interpret metric identifier: {identifier!r} of type "
            f"{type(identifier).__name__}. Expected a string such as 'accuracy', a Metric, "
            "or a function f(y_true, y_pred)."
        )
    if identifier.lower() in _ACCURACY or identifier in _FUNCTIONS or identifier in _CLASSES:
        return identifier
    names = ["accuracy", "acc", *_FUNCTIONS, *_CLASSES]
    close = difflib.get_close_matches(identifier, names, n=1)
    raise ValueError(
        f"Could not interpret metric identifier: {identifier!r}. Expected one of "
        f"{', '.join(repr(n) for n in names)}, a Metric instance, or a function "
        "f(y_true, y_pred)." + (f" Did you mean {close[0]!r}?" if close else "")
    )


def resolve(identifier, y_true_shape, y_pred_shape):
    """Returns the Metric for an identifier, named with the exact string passed.

    'accuracy'/'acc' (any case) pick, from shapes only as Keras 3 does: BinaryAccuracy when
    y_pred has one unit; else SparseCategoricalAccuracy when y_true has a lower rank or one
    column (integer labels); else CategoricalAccuracy. Other names ('mse', 'mae',
    'binary_crossentropy', ...) wrap their function; a Metric passes through; a callable is
    wrapped under its `__name__`.

    Args:
        identifier: a string, Metric instance or class, or callable.
        y_true_shape: shape of the targets. y_pred_shape: shape of the model output.

    >>> resolve("acc", (100,), (None, 1))
    <BinaryAccuracy name='acc'>
    >>> resolve("accuracy", (100,), (None, 3))
    <SparseCategoricalAccuracy name='accuracy'>
    """
    validate(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    if identifier.lower() in _ACCURACY:
        t, p = tuple(y_true_shape), tuple(y_pred_shape)
        is_binary = p[-1] == 1
        is_sparse = len(t) < len(p) or (t[-1] == 1 and (p[-1] or 0) > 1)
        metric = (
            BinaryAccuracy()
            if is_binary
            else (SparseCategoricalAccuracy() if is_sparse else CategoricalAccuracy())
        )
    elif identifier in _CLASSES:
        metric = _CLASSES[identifier]()
    else:
        metric = MeanMetricWrapper(_FUNCTIONS[identifier])
    metric.name = identifier
    return metric


def serialize(metric):
    """Keras's dict for a built-in Metric class; a name for a metric given as a function."""
    if type(metric) in _CLASSES.values() or type(metric) is Mean:
        return {"module": "keras.metrics", "class_name": type(metric).__name__,
                "config": metric.get_config(), "registered_name": None}
    return metric.name


def deserialize(config):
    """A Metric from `serialize`'s dict; a name is returned as is (compile resolves it)."""
    if isinstance(config, str):
        return config
    classes = {**_CLASSES, "Mean": Mean}
    name = config.get("class_name") if isinstance(config, dict) else None
    inner = (config.get("config") or {}) if isinstance(config, dict) else {}
    if name == "MeanMetricWrapper" and inner.get("fn") in _FUNCTIONS:
        # tf.keras 2 writes compile(metrics=["accuracy"]) as the function it resolved to.
        return MeanMetricWrapper(_FUNCTIONS[inner["fn"]], name=inner.get("name") or inner["fn"])
    if name not in classes:
        raise ValueError(f"Unknown metric: {name!r}. minilstm supports the metric classes "
                         f"{', '.join(sorted(classes))} and the names {sorted(_FUNCTIONS)}.")
    return classes[name].from_config(config.get("config") or {})
