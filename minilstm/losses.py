"""Losses: Keras's per-sample functions, Loss classes with hand-written gradients, and `get`.

A loss function returns one value per sample, reducing over the last axis as Keras does:
`(B, k) -> (B,)`, and `(B, T, k) -> (B, T)` for `return_sequences` targets. A `Loss` reduces
those values to the scalar that `fit` minimises (Keras's default "sum_over_batch_size": their
mean) and gives `gradient`, dL/dy_pred of that scalar. Everything is written against the array
module of `y_pred`, so the same code runs on NumPy and CuPy arrays.
"""

import difflib
import warnings

import numpy as np

from .backend import epsilon, floatx, get_array_module, to_numpy


def squeeze_or_expand_to_same_rank(y_true, y_pred):
    """Makes ranks agree where they differ by a trailing axis of size 1, as Keras does.

    A rank-1 array is expanded (`(N,)` with `(N, 1)` gives two `(N, 1)` arrays, so there is
    still one value per sample); otherwise the trailing 1 is squeezed.
    """
    true_shape, pred_shape = _same_rank_shapes(y_true.shape, y_pred.shape)
    return y_true.reshape(true_shape), y_pred.reshape(pred_shape)


def _same_rank_shapes(true_shape, pred_shape):
    t, p = tuple(true_shape), tuple(pred_shape)
    if len(t) == len(p) + 1 and t[-1] == 1:
        return (t, p + (1,)) if len(p) == 1 else (t[:-1], p)
    if len(p) == len(t) + 1 and p[-1] == 1:
        return (t + (1,), p) if len(t) == 1 else (t, p[:-1])
    return t, p


def _standardize(y_true, y_pred):
    """(xp, y_true, y_pred): y_pred as a float array, y_true in its dtype, ranks fixed up."""
    xp = get_array_module(y_pred)
    y_pred = xp.asarray(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = y_pred.astype(floatx())
    y_true = xp.asarray(y_true, dtype=y_pred.dtype)
    return (xp, *squeeze_or_expand_to_same_rank(y_true, y_pred))


def _mean(values, axis=None):
    """`values.mean(axis)` as one sum and one division, which is how NumPy's mean computes
    float32 and float64 (bit for bit), without the Python around it: a few µs a call, which
    a batch-1 training step notices. Other dtypes (float16 sums in float32) keep mean."""
    if values.dtype.char not in "fd":
        return values.mean(axis=axis)
    count = values.size if axis is None else values.shape[axis]
    if type(values) is np.ndarray:  # the ufunc's own reduce: what .sum() calls, from Python
        return np.add.reduce(values, axis=axis) / count
    return values.sum(axis=axis) / count


def _one_hot(labels, y_pred):
    """Integer labels `(...)` or `(..., 1)` as one-hot rows matching y_pred `(..., k)`."""
    xp = get_array_module(y_pred)
    labels = xp.asarray(labels)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    classes = xp.arange(y_pred.shape[-1])
    return (labels.astype("int64")[..., None] == classes).astype(y_pred.dtype)


def mean_squared_error(y_true, y_pred):
    """Mean of `(y_true - y_pred) ** 2` over the last axis, one value per sample.

    >>> mean_squared_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    array([0.5])
    """
    xp, y_true, y_pred = _standardize(y_true, y_pred)
    return xp.mean(xp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Mean of `|y_true - y_pred|` over the last axis, one value per sample.

    >>> mean_absolute_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    array([0.5])
    """
    xp, y_true, y_pred = _standardize(y_true, y_pred)
    return xp.mean(xp.abs(y_true - y_pred), axis=-1)


def binary_crossentropy(y_true, y_pred):
    """`-(t log p + (1 - t) log(1 - p))` with p clipped to [eps, 1 - eps], mean over the last axis.

    >>> binary_crossentropy(np.array([[1.0]]), np.array([[0.5]])).round(4)
    array([0.6931])
    """
    xp, y_true, y_pred = _standardize(y_true, y_pred)
    p = xp.clip(y_pred, epsilon(), 1 - epsilon())
    return xp.mean(-(y_true * xp.log(p) + (1 - y_true) * xp.log(1 - p)), axis=-1)


def categorical_crossentropy(y_true, y_pred):
    """`-sum(t log p)` over the last axis, with p = y_pred / sum(y_pred) clipped to [eps, 1 - eps].

    y_true is one-hot (or a distribution) with y_pred's shape.

    >>> categorical_crossentropy(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]])).round(4)
    array([0.6931])
    """
    xp, y_true, y_pred = _standardize(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={y_true.shape}, output.shape={y_pred.shape}"
        )
    p = xp.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), epsilon(), 1 - epsilon())
    return -(y_true * xp.log(p)).sum(axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred):
    """Categorical crossentropy with integer labels `(...)` or `(..., 1)` instead of one-hot rows.

    >>> sparse_categorical_crossentropy(np.array([1]), np.array([[0.5, 0.5]])).round(4)
    array([0.6931])
    """
    _, y_true, y_pred = _standardize(y_true, y_pred)
    return categorical_crossentropy(_one_hot(y_true, y_pred), y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy


class Loss:
    """Base class: per-sample values, their mean, and dL/dy_pred of that mean.

    Subclasses set `name` and `fn` (the per-sample function) and write `gradient` by hand;
    `check_targets` says, before training, whether targets of a given shape fit the output.

    Args:
        name: name of the loss; defaults to the Keras function name.

    Call arguments:
        y_true: targets. y_pred: model outputs, `(B, k)` or `(B, T, k)`.

    Returns the mean of the per-sample values as a 0-d array of y_pred's module and dtype
    (Keras's "sum_over_batch_size"), so GPU losses stay on the device.

    >>> loss = MeanSquaredError()
    >>> float(loss(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])))
    0.5
    >>> loss.gradient(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]))
    array([[1.],
           [0.]])
    """

    name = "loss"
    fn = None

    def __init__(self, name=None):
        self.name = name or self.name

    def __call__(self, y_true, y_pred):
        self.check_targets(np.shape(y_true), np.shape(y_pred))
        values = get_array_module(y_pred).asarray(self.call(y_true, y_pred))
        return get_array_module(values).asarray(_mean(values))

    def call(self, y_true, y_pred):
        """The per-sample loss values; subclasses set `fn` or override this."""
        return self.fn(y_true, y_pred)

    def gradient(self, y_true, y_pred):
        """dL/dy_pred of `self(y_true, y_pred)`, with y_pred's shape and dtype."""
        raise NotImplementedError(f"Loss {self.name!r} does not implement `gradient`.")

    def value_and_gradient(self, y_true, y_pred):
        """`(self(y_true, y_pred), self.gradient(y_true, y_pred))`, what a training step
        needs; a loss whose value and gradient share work overrides it to check and
        standardize the targets once."""
        return self(y_true, y_pred), self.gradient(y_true, y_pred)

    def check_targets(self, y_true_shape, y_pred_shape, y_true=None):
        """Raises ValueError, saying how to fix it, if targets of this shape cannot fit y_pred."""
        t, p = _same_rank_shapes(y_true_shape, y_pred_shape)
        if not _fits(t, p):
            raise _mismatch(
                self.name, y_true_shape, y_pred_shape, _hint(y_true_shape, y_pred_shape)
            )

    def _prepare(self, y_true, y_pred):
        self.check_targets(np.shape(y_true), np.shape(y_pred))
        return _standardize(y_true, y_pred)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"

    def get_config(self):
        """Keras's config keys; minilstm reduces with "sum_over_batch_size" only."""
        return {"name": self.name, "reduction": "sum_over_batch_size", "dtype": None}

    @classmethod
    def from_config(cls, config):
        """A loss from `get_config()`'s dict or Keras's; unsupported settings raise."""
        config = dict(config)
        for key, default in _CONFIG_DEFAULTS.items():
            value = config.pop(key, default)
            if key != "dtype" and value != default:
                raise ValueError(f"The saved {cls.__name__} sets {key}={value!r}, which "
                                 f"minilstm does not support (only {key}={default!r}).")
        return cls(**config)


_CONFIG_DEFAULTS = {"reduction": "sum_over_batch_size", "dtype": None, "from_logits": False,
                    "label_smoothing": 0.0, "axis": -1, "ignore_class": None}


class MeanSquaredError(Loss):
    """Mean of `(y_true - y_pred) ** 2`; gradient `2 (y_pred - y_true) / y_pred.size`."""

    name = "mean_squared_error"
    fn = staticmethod(mean_squared_error)

    def gradient(self, y_true, y_pred):
        _, y_true, p = self._prepare(y_true, y_pred)
        return (2 * (p - y_true) / p.size).reshape(np.shape(y_pred))

    def value_and_gradient(self, y_true, y_pred):
        # The same operations as __call__ and gradient, on one prepared pair.
        xp, y_true, p = self._prepare(y_true, y_pred)
        error = p - y_true  # (y_true - p)² is the same number
        value = xp.asarray(_mean(_mean(xp.square(error), axis=-1)))
        return value, (2 * error / p.size).reshape(np.shape(y_pred))


class MeanAbsoluteError(Loss):
    """Mean of `|y_true - y_pred|`; gradient `sign(y_pred - y_true) / y_pred.size`."""

    name = "mean_absolute_error"
    fn = staticmethod(mean_absolute_error)

    def gradient(self, y_true, y_pred):
        xp, y_true, p = self._prepare(y_true, y_pred)
        return (xp.sign(p - y_true) / p.size).reshape(np.shape(y_pred))


class BinaryCrossentropy(Loss):
    """Binary crossentropy of probabilities (a sigmoid output), clipped to [eps, 1 - eps]."""

    name = "binary_crossentropy"
    fn = staticmethod(binary_crossentropy)

    def gradient(self, y_true, y_pred):
        xp, y_true, p = self._prepare(y_true, y_pred)
        clipped = xp.clip(p, epsilon(), 1 - epsilon())
        # d/dp -(t log p + (1 - t) log(1 - p)) = (p - t) / (p (1 - p)); zero where clipped.
        grad = (clipped - y_true) / (clipped * (1 - clipped)) * (clipped == p)
        return (grad / p.size).reshape(np.shape(y_pred))


class CategoricalCrossentropy(Loss):
    """Crossentropy of one-hot targets against probabilities (a softmax output)."""

    name = "categorical_crossentropy"
    fn = staticmethod(categorical_crossentropy)

    def gradient(self, y_true, y_pred):
        xp, y_true, p = self._prepare(y_true, y_pred)
        total = p.sum(axis=-1, keepdims=True)
        q = p / total
        clipped = xp.clip(q, epsilon(), 1 - epsilon())
        dq = -y_true / clipped * (clipped == q)  # d(-sum t log q)/dq, zero where clipped
        # q = p / sum(p): dq_j/dp_i = (delta_ij - q_j) / sum(p)
        grad = (dq - (dq * q).sum(axis=-1, keepdims=True)) / total
        return (grad / (p.size // p.shape[-1])).reshape(np.shape(y_pred))

    def check_targets(self, y_true_shape, y_pred_shape, y_true=None):
        t, p = tuple(y_true_shape), tuple(y_pred_shape)
        if p and p[-1] == 1:
            warnings.warn(
                "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, "
                f"num_classes) with num_classes > 1. Received: y_pred.shape={p}. Consider using "
                "'binary_crossentropy' if you only have 2 classes.",
                SyntaxWarning,
                stacklevel=2,
            )
        elif len(p) > 1 and (_fits(t, p[:-1]) or _fits(t, p[:-1] + (1,))):
            raise _mismatch(
                self.name,
                t,
                p,
                f"y holds integer class labels, but {self.name} expects one-hot rows: use "
                "loss='sparse_categorical_crossentropy', or one-hot encode y "
                f"(e.g. np.eye({p[-1]})[y]).",
            )
        super().check_targets(t, p)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical crossentropy with integer class labels `(B,)` or `(B, 1)` as targets."""

    name = "sparse_categorical_crossentropy"
    fn = staticmethod(sparse_categorical_crossentropy)

    def _prepare(self, y_true, y_pred):
        xp, y_true, y_pred = super()._prepare(y_true, y_pred)
        return xp, _one_hot(y_true, y_pred), y_pred

    def check_targets(self, y_true_shape, y_pred_shape, y_true=None):
        t, p = tuple(y_true_shape), tuple(y_pred_shape)
        if not (_fits(t, p[:-1]) or _fits(t, p[:-1] + (1,))):
            hint = _hint(t, p)
            if _fits(t, p) and p[-1] != 1:
                hint = (
                    f"y looks one-hot encoded, but {self.name} expects integer labels: use "
                    "loss='categorical_crossentropy', or pass y.argmax(axis=-1)."
                )
            raise _mismatch(self.name, t, p, hint, sparse=True)
        labels = to_numpy(y_true) if y_true is not None else np.zeros(0)
        if labels.size and ((labels % 1).any() or labels.min() < 0 or labels.max() >= p[-1]):
            raise ValueError(
                f"{self.name} expects integer class labels in [0, {p[-1]}) for a model with "
                f"{p[-1]} output units, but y holds values from {labels.min():g} to "
                f"{labels.max():g}{'' if (labels % 1 == 0).all() else ', not all integers'}. "
                "End the model with one unit per class (e.g. Dense(n_classes, "
                "activation='softmax')) and map the labels to 0, 1, ...; for one-hot or "
                "probability targets use loss='categorical_crossentropy'."
            )


class LossFunctionWrapper(Loss):
    """Wraps a plain `fn(y_true, y_pred) -> per-sample values` as a forward-only Loss.

    minilstm differentiates losses by hand, so `gradient` raises NotImplementedError: training
    needs a built-in loss or a Loss subclass that implements `gradient`.

    Args:
        fn: the per-sample function. name: defaults to `fn.__name__`.
    """

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))
        self.fn = fn

    def check_targets(self, y_true_shape, y_pred_shape, y_true=None):
        """Accepts any targets: only `fn` knows what it expects."""

    def gradient(self, y_true, y_pred):
        raise NotImplementedError(
            f"minilstm cannot differentiate arbitrary callables, so the loss {self.name!r} "
            "cannot be trained on. Use a built-in loss (e.g. loss='mean_squared_error'), or "
            "subclass minilstm.losses.Loss and implement `call` and `gradient(y_true, y_pred)`."
        )


def _fits(true_shape, pred_shape):
    """Same rank and equal sizes, where None (an unknown batch size) matches anything."""
    return len(true_shape) == len(pred_shape) and all(
        a is None or b is None or a == b for a, b in zip(true_shape, pred_shape)
    )


def _hint(true_shape, pred_shape):
    t, p = _same_rank_shapes(true_shape, pred_shape)
    if len(pred_shape) == 3 and len(true_shape) < 3:
        return (
            "The model outputs one vector per timestep (return_sequences=True on the last "
            "LSTM): set return_sequences=False there, or give y a timestep axis."
        )
    if len(true_shape) == 3 and len(pred_shape) < 3:
        return (
            "y has a timestep axis but the model outputs one vector per sequence: set "
            "return_sequences=True on the last LSTM, or drop the timestep axis from y."
        )
    if len(t) == len(p) and _fits(t[1:], p[1:]):
        return "x and y must hold the same number of samples."
    if len(t) == len(p) and t[-1] != p[-1]:
        return (
            f"The last layer has {p[-1]} unit(s) but y has {t[-1]} value(s) per sample: "
            f"end the model with Dense({t[-1]}), or reshape y."
        )
    return "Reshape y to match the model output."


def _mismatch(loss_name, true_shape, pred_shape, hint, sparse=False):
    t, p = tuple(true_shape), tuple(pred_shape)
    batch = p[0] if p and p[0] is not None else (t[0] if t else None)
    expected = (batch,) + p[1:-1] if sparse else (batch,) + p[1:]
    if sparse or (len(p) == 2 and p[-1] == 1):
        alternative = expected + (1,) if sparse else expected[:-1]
        expected = f"{expected} or {alternative}"
    return ValueError(
        f"Targets do not fit the model output for loss '{loss_name}': expected y of shape "
        f"{expected}, but received y of shape {t} for a model output of shape {p}. {hint}"
    )


_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)
_ALIASES = {"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError}
_ALIASES.update({"MAE": MeanAbsoluteError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy})
_BY_NAME = {**{c.name: c for c in _CLASSES}, **{c.__name__: c for c in _CLASSES}, **_ALIASES}
_BY_FUNCTION = {c.fn: c for c in _CLASSES}


def _choices():
    def entry(cls):
        aliases = ", ".join(repr(a) for a, c in _ALIASES.items() if c is cls)
        return f"{cls.name!r}" + (f" ({aliases})" if aliases else "")

    return ", ".join(entry(cls) for cls in _CLASSES)


def get(identifier):
    """Returns the Loss for a name, a Loss class or instance, or a per-sample function.

    Names are Keras's, matched exactly: function names ('mean_squared_error'), aliases
    ('mse', 'MSE', 'mae', 'MAE', 'bce', 'BCE') and class names ('MeanSquaredError'). A
    built-in function (`losses.mse`) maps to its Loss class; any other callable is wrapped
    by LossFunctionWrapper (forward only).

    Args:
        identifier: a string, Loss instance or class, callable, or None (returned as is).

    >>> get("mse")
    <MeanSquaredError name='mean_squared_error'>
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        close = difflib.get_close_matches(identifier, list(_BY_NAME), n=1)
        raise ValueError(
            f"Could not interpret loss identifier: {identifier!r}. Expected one of "
            f"{_choices()}, a class name such as 'MeanSquaredError', a Loss instance, or a "
            "function f(y_true, y_pred)." + (f" Did you mean {close[0]!r}?" if close else "")
        )
    if callable(identifier):
        cls = _BY_FUNCTION.get(identifier)
        return cls() if cls else LossFunctionWrapper(identifier)
    raise TypeError(
        f"Could not interpret loss identifier: {identifier!r} of type "
        f"{type(identifier).__name__}. Expected a string such as 'mse', a Loss, or a function."
    )


def serialize(loss):
    """Keras's dict for a Loss instance; a plain function's name for a wrapped function."""
    if isinstance(loss, LossFunctionWrapper):
        return loss.name
    return {"module": "keras.losses", "class_name": type(loss).__name__,
            "config": loss.get_config(), "registered_name": None}


def deserialize(config):
    """A Loss from `serialize`'s dict (or a name); unknown classes list what exists."""
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name") if isinstance(config, dict) else None
    classes = {c.__name__: c for c in _CLASSES}
    if name not in classes:
        raise ValueError(f"Unknown loss: {name!r}. minilstm supports the losses "
                         f"{', '.join(sorted(classes))}.")
    return classes[name].from_config(config.get("config") or {})


def check_targets(loss, y_true_shape, y_pred_shape, y_true=None):
    """Raises ValueError, before training, if targets of this shape cannot train this output.

    The message says what was expected, what was received and how to fix it. Pass the
    targets as `y_true` to also check sparse labels against the number of output units.

    >>> check_targets("mse", (100,), (None, 1))
    >>> check_targets("mse", (100, 3), (None, 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Targets do not fit the model output for loss 'mean_squared_error': ...
    """
    get(loss).check_targets(y_true_shape, y_pred_shape, y_true)
