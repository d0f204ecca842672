"""The Callback base class: hooks into `fit`, `evaluate` and `predict`."""

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
