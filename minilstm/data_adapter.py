"""Turning what users pass to fit/evaluate/predict into checked arrays and batches.

Everything here runs before a model changes anything, so a rejected call
leaves weights and optimizer state untouched.
"""

import math

import numpy as np

from . import backend


def as_array(value, argument, dtype=None, keep_integers=False):
    """A host NumPy array of `value` (lists, pandas objects, device arrays).

    Numeric values are cast to `dtype` when given, integers too unless
    `keep_integers` (class labels); the NaN/inf check runs after the cast.
    """
    if value is None:
        raise ValueError(f"`{argument}` is required. Received: {argument}=None")
    if hasattr(value, "to_numpy"):  # pandas DataFrame / Series
        value = value.to_numpy()
    try:
        value = backend.to_numpy(value)
    except ValueError as error:  # NumPy refuses ragged nested lists
        raise ValueError(
            f"`{argument}` must be a rectangular numeric array, but its rows have different "
            f"lengths ({error}). Pad the sequences to one length first, e.g. with "
            "minilstm.utils.pad_sequences.") from None
    if value.dtype == object:
        raise TypeError(
            f"`{argument}` must be a numeric array; received an array of Python objects. "
            "Check that every row has the same length."
        )
    if value.dtype.kind in "USc":
        what = "complex numbers" if value.dtype.kind == "c" else "strings"
        raise TypeError(
            f"`{argument}` must hold real numbers; received {what} (dtype {value.dtype}). "
            "Convert the data to floats (or token ids) first.")
    castable = "fb" if keep_integers else "fbiu"
    if dtype is not None and value.dtype.kind in castable:
        value = value.astype(dtype, copy=False)
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int(np.size(value) - np.isfinite(value).sum())
        raise ValueError(
            f"`{argument}` contains {bad} NaN or infinite value(s). Clean or impute them "
            f"(e.g. np.nan_to_num) before training."
        )
    return value


def as_integer_ids(array, dtype):
    """Token ids for an integer model input: integral floats are cast, others refused."""
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise ValueError(
            f"This model's input takes integer ids (dtype {dtype}), but `x` holds non-integer "
            "values. Pass token ids, e.g. from pad_sequences(...).")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"This model's input takes integer ids (dtype {dtype}); received an "
                        f"array of dtype {array.dtype}.")
    return array.astype(dtype, copy=False)


def as_targets(y, floatx):
    """Targets as floatx, except integer class labels, which stay integers."""
    return as_array(y, "y", floatx, keep_integers=True)


def check_lengths(x, y):
    if y is not None and len(x) != len(y):
        raise ValueError(
            f"x and y must have the same number of samples. Received: x.shape={x.shape} "
            f"({len(x)} samples) and y.shape={y.shape} ({len(y)} samples)."
        )


def check_lengths_to(count, y):
    """y holds `count` samples, as x does."""
    if len(y) != count:
        raise ValueError(
            f"x and y must have the same number of samples. Received: {count} samples in x "
            f"and y.shape={y.shape} ({len(y)} samples).")


def check_lengths_all(xs):
    """Every input array holds the same number of samples."""
    counts = [len(x) for x in xs]
    if len(set(counts)) > 1:
        raise ValueError(f"All input arrays must have the same number of samples. Received "
                         f"arrays of shapes {[x.shape for x in xs]}.")


def unpack_validation(validation_data):
    """(x_val, y_val) from `validation_data`, which Keras accepts as a 2- or 3-tuple."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, "
            f"val_sample_weight). Received: a {type(validation_data).__name__} of length "
            f"{len(validation_data) if hasattr(validation_data, '__len__') else '?'}")
    return tuple(validation_data) + (None,) * (3 - len(validation_data))


def sample_weights_for(sample_weight, class_weight, ys, output_names):
    """Per-output sample weights (a list, None where unweighted), or None for no weighting.

    `sample_weight`: an array (B,) or (B, T) for a single output, or a list / dict per
    output. `class_weight`: {class index: weight}, single-output models only, turned
    into sample weights from the targets as Keras does (integer labels, a (B, 1)
    binary column, or the argmax of one-hot rows).
    """
    if sample_weight is None and class_weight is None:
        return None
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("Pass either `sample_weight` or `class_weight`, not both.")
        return [class_weight_to_sample_weight(class_weight, ys[0])] if len(ys) == 1 else \
            _class_weight_error(output_names)
    if isinstance(sample_weight, dict):
        sample_weight = [sample_weight.get(name) for name in output_names]
    elif len(ys) == 1 or not isinstance(sample_weight, (list, tuple)):
        sample_weight = [sample_weight] * len(ys) if len(ys) > 1 else [sample_weight]
    weights = []
    for weight, y in zip(sample_weight, ys):
        if weight is None:
            weights.append(None)
            continue
        weight = as_array(weight, "sample_weight", "float64")
        if weight.shape[0] != len(y) or weight.ndim > 2 or \
                (weight.ndim == 2 and tuple(weight.shape) != tuple(y.shape[:2])):
            raise ValueError(
                f"`sample_weight` must have shape (samples,) or, for outputs with timesteps, "
                f"(samples, timesteps) = {tuple(y.shape[:2])}. Received: sample_weight.shape="
                f"{weight.shape} for targets of shape {y.shape}.")
        if (weight < 0).any():
            raise ValueError("`sample_weight` must not be negative.")
        weights.append(weight)
    return weights


def _class_weight_error(output_names):
    raise ValueError(f"`class_weight` is only supported for models with a single output; this "
                     f"model has {len(output_names)} ({output_names}). Use `sample_weight`.")


def class_weight_to_sample_weight(class_weight, y):
    """Keras's rule: each sample weighs class_weight[its class]."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"`class_weight` must be a dict mapping class indices to weights. "
                        f"Received: {type(class_weight).__name__}")
    if y.ndim > 2:
        raise ValueError("`class_weight` is not supported for targets with a timestep axis "
                         f"(shape {y.shape}); use a (samples, timesteps) `sample_weight`.")
    if y.ndim == 2 and y.shape[1] > 1:
        classes = y.argmax(axis=1)
    else:
        classes = np.round(y.reshape(len(y))).astype("int64")
    missing = sorted(set(np.unique(classes).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"`class_weight` has no weight for classes {missing} that appear in y. "
                         f"Received class_weight={class_weight}")
    lookup = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([lookup[int(c)] for c in classes], dtype="float64")


def split_validation_lists(xs, ys, validation_split):
    """split_validation over lists of arrays (several inputs and outputs)."""
    parts = [split_validation(x, x, validation_split) for x in xs]
    targets = [split_validation(y, y, validation_split) for y in ys]
    if parts[0][1] is None:
        return (xs, ys), None
    train = ([p[0][0] for p in parts], [t[0][0] for t in targets])
    validation = ([p[1][0] for p in parts], [t[1][0] for t in targets])
    return train, validation


def lstm_input_message(shape, layer="LSTM"):
    """How to fix a non-3-D array fed to a recurrent layer, with the reshape spelled out."""
    shape = tuple(shape)
    head = (f"{layer} expects 3-D input (samples, timesteps, features), but got an array of "
            f"shape {shape}.")
    if len(shape) == 1:
        return head + f" If each value is one sample, use x.reshape(({shape[0]}, 1, 1))."
    if len(shape) == 2:
        n, k = shape
        return head + (
            f" If each row is one sequence of {k} timesteps with 1 feature, use "
            f"x.reshape(({n}, {k}, 1)); if it is one timestep with {k} features, use "
            f"x.reshape(({n}, 1, {k}))."
        )
    n, t = shape[0], shape[1]
    rest = math.prod(shape[2:])
    return head + (
        f" Flatten the trailing axes into features, e.g. x.reshape(({n}, {t}, {rest})), "
        "so that each sample is (timesteps, features)."
    )


def check_input_shape(x, expected, first_layer):
    """Checks x against the model's input shape (batch axis first, None = any)."""
    from .layers.rnn import RNN

    if isinstance(first_layer, RNN) and x.ndim != 3:
        raise ValueError(lstm_input_message(x.shape, type(first_layer).__name__))
    if expected is None:
        return
    if x.ndim != len(expected):
        raise ValueError(
            f"Input 0 of layer '{first_layer.name}' is incompatible with the layer: expected "
            f"ndim={len(expected)}, found ndim={x.ndim}. Full shape received: {x.shape}"
        )
    names = ("timesteps", "features") if x.ndim == 3 else ("features",) * (x.ndim - 1)
    for axis, (want, got) in enumerate(zip(expected[1:], x.shape[1:]), start=1):
        if want is not None and want != got:
            raise ValueError(
                f"The model expects inputs of shape {tuple(expected)} (axis {axis}, "
                f"{names[axis - 1] if axis - 1 < len(names) else 'size'}={want}), but got an "
                f"array of shape {x.shape}. Reshape the data to (samples, "
                f"{', '.join(str(d) for d in expected[1:])}) or rebuild the model for it."
            )


def split_validation(x, y, validation_split):
    """Keras's split: the last samples, taken before any shuffling, validate."""
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    if not validation_split:
        return (x, y), None
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))
    if split_at in (0, len(x)):
        raise ValueError(
            f"Training data contains {len(x)} samples, which is not sufficient to split it into "
            f"a validation and training set as specified by `validation_split="
            f"{validation_split}`. Either provide more data, or a different value for the "
            "`validation_split` argument."
        )
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def check_stateful_batches(n_samples, batch_size, static_batch, what):
    """A stateful model sees every batch at its fixed size, or refuses the data."""
    if static_batch is None:
        return
    if batch_size != static_batch:
        raise ValueError(
            f"This model has a stateful recurrent layer built for batches of {static_batch} samples, but "
            f"{what} was called with batch_size={batch_size}. Pass batch_size={static_batch}."
        )
    if n_samples % static_batch:
        raise ValueError(
            f"In a stateful network, you should only pass inputs with a number of samples that "
            f"can be divided by the batch size. Found: {n_samples} samples for {what} with "
            f"batch size {static_batch}. Trim or pad the data to a multiple of {static_batch}."
        )


def batch_slices(n_samples, batch_size):
    """(start, stop) of each batch; the last partial batch is kept, as in Keras."""
    return [(start, min(start + batch_size, n_samples))
            for start in range(0, n_samples, batch_size)]
