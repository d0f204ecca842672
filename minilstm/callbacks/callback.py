"""The Callback base class: hooks into `fit`, `evaluate` and `predict`."""

import math
import numbers

import numpy as np


def _to_float(value):
    # Keras's pythonify_logs: 0-d arrays and NumPy scalars become floats, anything else is kept.
    if getattr(value, "ndim", 0) != 0:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _read_learning_rate(optimizer):
    # Keras holds the rate in a float32 variable and logs float() of it; reading through float32
    # gives the same logged values and text (`learning_rate: 0.0010` for 0.001, and messages such
    # as "reducing learning rate to 0.00010000000474974513.").
    return float(np.float32(optimizer.learning_rate))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_int(owner, name, value, minimum=0, allow_bool=False):
    """`value` as an int >= `minimum`, checked in the constructor so that fit cannot fail later.

    `bool` is not an integer here, except where Keras code commonly passes one (`verbose`).
    """
    if not (_is_int(value) or (allow_bool and isinstance(value, (bool, np.bool_)))):
        hint = ""
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            hint = f" Pass {name}={int(value)} without quotes."
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            if math.isfinite(value) and float(value).is_integer():
                hint = f" Pass {name}={int(value)}."
        raise TypeError(
            f"{owner}: `{name}` must be an integer >= {minimum}, but got type "
            f"{type(value).__name__}. Received: {name}={value!r}.{hint}"
        )
    if value < minimum:
        raise ValueError(
            f"{owner}: `{name}` must be an integer >= {minimum}. Received: {name}={value!r}."
        )
    return int(value)


def _check_float(owner, name, value, expected="", valid=lambda number: True, hint="",
                 allow_none=False):
    """`value` as a float: a real number (not bool, not a string), finite, with `valid(value)`.

    `expected` words the range for the message ("> 0", "in (0, 1)"), `hint` how to fix it.
    """
    if value is None and allow_none:
        return None
    wanted = f"a finite number{' ' + expected if expected else ''}"
    wanted += " or None" if allow_none else ""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        if isinstance(value, str):
            try:
                hint = f"Pass {name}={float(value)!r}, a number, not a string. {hint}"
            except ValueError:
                pass
        raise TypeError(
            f"{owner}: `{name}` must be {wanted}, but got type {type(value).__name__}. "
            f"Received: {name}={value!r}. {hint}".rstrip()
        )
    number = float(value)
    if not math.isfinite(number) or not valid(number):
        raise ValueError(f"{owner}: `{name}` must be {wanted}. Received: {name}={value!r}. "
                         f"{hint}".rstrip())
    return number


def _check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{owner}: `{name}` must be True or False. Received: {name}={value!r} "
            f"(type {type(value).__name__}). Pass {name}=True or {name}=False."
        )
    return bool(value)


def _check_callable(owner, name, value, allow_none=False, signature=""):
    if value is None and allow_none:
        return None
    if not callable(value):
        expected = "a function" + (f" {signature}" if signature else "")
        expected += " or None" if allow_none else ""
        raise TypeError(
            f"{owner}: `{name}` must be {expected}. Received: {name}={value!r} "
            f"(type {type(value).__name__}, which cannot be called)."
        )
    return value


def _pythonify(logs):
    """A copy of `logs` ordered as Keras 3 shows them, with Python-float values."""
    items = sorted((logs or {}).items(), key=lambda item: (item[0].startswith("val_"), item[0]))
    return {name: _to_float(value) for name, value in items}


class Callback:
    """Base class for callbacks: override the hooks you need.

    `fit` calls `on_train_begin`, then per epoch `on_epoch_begin`, per batch `on_train_batch_begin`
    and `on_train_batch_end`, then `on_epoch_end`, and finally `on_train_end`. `evaluate` and
    `predict` call the `on_test_*` and `on_predict_*` hooks the same way. Batch-end `logs` hold the
    running metrics so far; epoch-end `logs` add the `val_` entries. The train batch hooks call
    Keras 2's `on_batch_begin` / `on_batch_end`, so callbacks written against them still fire.

    Attributes:
        model: The model being trained, set by `set_model`.
        params: Dict of `verbose`, `epochs` and `steps` (steps per epoch), set by `set_params`.

    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: loss={logs['loss']}")
    >>> PrintLoss().on_epoch_end(0, {"loss": 0.25})
    epoch 0: loss=0.25
    """

    model = None
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        """Keras 2 alias of `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2 alias of `on_train_batch_end`."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass
