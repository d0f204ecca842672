"""Callbacks: hooks into `fit`, `evaluate` and `predict`, with Keras 3's semantics and text.

`fit` wraps the user's callbacks in a `CallbackList` that adds `History` and `ProgbarLogger`, then
calls its `on_*` hooks around every epoch and batch. Callbacks see log dicts of Python floats in the
order Keras 3 shows them (train keys alphabetically, then `val_` keys), so the progress line reads
`loss: … - mae: … - val_loss: … - val_mae: …`. Set `model.stop_training = True` to stop training.
"""

import csv
import math
import operator
import os
import warnings

import numpy as np

from .progbar import Progbar, print_msg


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


class CallbackList(Callback):
    """Calls every hook on a list of callbacks, in order; what `fit`, `evaluate`, `predict` use.

    A `History` and then a `ProgbarLogger` are appended when asked for, unless the list already
    holds one. Every callback gets `set_model(model)` and `set_params(params)`. The train and test
    batch-end, epoch-end and `*_end` hooks pass every callback one copy of the logs, sorted and with
    Python floats, so one callback's additions (`learning_rate`) reach the next; afterwards those
    additions are copied into the caller's dict, whose order is left alone.

    Args:
        callbacks: A `Callback` or a list of them. Defaults to `None` (none).
        add_history: Whether to append a `History`. Defaults to `False`.
        add_progbar: Whether to append a `ProgbarLogger`. Defaults to `False`.
        model: The model, handed to every callback. Defaults to `None`.
        **params: `verbose`, `epochs`, `steps`, handed to every callback as one dict.

    >>> import types
    >>> model = types.SimpleNamespace(stop_training=False)
    >>> callbacks = CallbackList(add_history=True, add_progbar=True, model=model,
    ...                          verbose=2, epochs=2, steps=1)
    >>> callbacks.on_train_begin()
    >>> for epoch in range(2):  # doctest: +ELLIPSIS
    ...     callbacks.on_epoch_begin(epoch)
    ...     callbacks.on_train_batch_end(0, {"loss": 0.5 / (epoch + 1)})
    ...     callbacks.on_epoch_end(epoch, {"val_loss": 0.75, "loss": 0.5 / (epoch + 1)})
    Epoch 1/2
    1/1 - 0s - ...s/step - loss: 0.5000 - val_loss: 0.7500
    Epoch 2/2
    1/1 - 0s - ...s/step - loss: 0.2500 - val_loss: 0.7500
    >>> callbacks.on_train_end()
    >>> callbacks.history.history
    {'loss': [0.5, 0.25], 'val_loss': [0.75, 0.75]}
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                hint = (
                    f"; did you mean `{callback.__name__}()`?" if isinstance(callback, type) else ""
                )
                raise TypeError(
                    "Expected every callback to be a `Callback` instance. "
                    f"Received: callbacks[{index}]={callback!r}{hint}"
                )
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self.set_model(model)
        self.set_params(params)

    @property
    def history(self):
        """The `History` in the list, or `None`."""
        return self._history

    def set_model(self, model):
        if model is None:
            return
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def _call(self, hook, *args, logs=None, clean=False):
        passed = {} if logs is None else logs
        if clean:
            passed = _pythonify(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, passed)
        if clean and logs is not None:
            # The caller's dict keeps its order (evaluate returns values in compile order) but
            # gains what callbacks added, as in Keras, where they mutate the model's own dict.
            logs.update(passed)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=logs, clean=True)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs, clean=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs, clean=True)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs, clean=True)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs, clean=True)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs, clean=True)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        # Prediction logs carry output arrays: passed through untouched.
        self._call("on_predict_batch_end", batch, logs=logs)


class History(Callback):
    """Records the epoch-end logs of `fit`; `fit` returns it and sets it as `model.history`.

    Attributes:
        history: Dict mapping each log name to its list of per-epoch Python floats.
        epoch: The epoch indices recorded (from `initial_epoch`).
        params: `{"verbose": ..., "epochs": ..., "steps": ...}`.

    >>> history = History()
    >>> history.on_train_begin()
    >>> history.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
    >>> history.history, history.epoch
    ({'loss': [0.5], 'val_loss': [0.75]}, [0])
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(_to_float(value))
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the `Epoch i/N` line and the progress bar from the hooks (`Progbar`, `params`).

    `fit` adds one when `verbose != 0`. `Epoch i/N` is printed only when `epochs > 1`. With
    `verbose=1` the bar is redrawn after each batch with the running logs and finished at epoch end
    with all logs, `val_` ones included; with `verbose=2` only the finished line prints. Inside
    `fit`, validation (the `on_test_*` hooks) stays silent; `evaluate` and `predict` get a bar of
    their own, `predict`'s without values.

    >>> logger = ProgbarLogger()
    >>> logger.set_params({"verbose": 2, "epochs": 1, "steps": 4})
    >>> logger.on_test_begin()
    >>> for step in range(4):
    ...     logger.on_test_batch_end(step, {"loss": 0.25})
    >>> logger.on_test_end({"loss": 0.25})  # doctest: +ELLIPSIS
    4/4 - 0s - ...s/step - loss: 0.2500
    """

    def __init__(self):
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def _start(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update(self, batch, logs):
        if self.progbar is None:
            self._start()
        self.seen = batch + 1  # batch is 0-based
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start()
        if self.target is None:  # steps unknown until the first pass ends
            self.target = self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


_MAXIMIZED_SUFFIXES = (
    "accuracy",
    "acc",
    "auc",
    "precision",
    "recall",
    "score",
    "iou",
    "similarity",
)
_MINIMIZED_SUFFIXES = ("loss", "error", "crossentropy", "hinge", "divergence", "logcosh", "poisson")
_MINIMIZED_NAMES = ("mae", "mse", "mape", "msle", "rmse", "kld")


class MonitorCallback(Callback):
    """Base for callbacks that watch one logged quantity: its direction and the improvement test.

    An improvement is `monitor_op(current - min_delta, best)`, where `monitor_op` is `<` in `min`
    mode (and `min_delta` is stored negated, as Keras does) and `>` in `max` mode. In `auto` mode
    the direction comes from the name without its `val_` prefix: losses, errors and `mae`-like
    names are minimized, accuracy-like names (`accuracy`, `acc`, `auc`, ...) maximized, and any
    other name raises `ValueError` asking for `mode`.

    Args:
        monitor: Name of the logged quantity. Defaults to `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"`; anything else warns and uses `"auto"`.
        baseline: Initial best value, or `None`. Defaults to `None`.
        min_delta: Smallest change that counts as an improvement. Defaults to `0`.

    >>> MonitorCallback("val_accuracy").monitor_op is operator.gt
    True
    """

    # The warning for a missing monitor; subclasses word it as Keras does.
    _missing_message = "Metric `{monitor}` is not available. Available metrics are: {available}"

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode. "
                "Expected one of 'auto', 'min', 'max'.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.baseline = baseline
        self.best = baseline
        self.monitor_op = operator.lt if self._minimizes() else operator.gt
        self.min_delta = -abs(min_delta) if self.monitor_op is operator.lt else abs(min_delta)

    def _minimizes(self):
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name.endswith(_MAXIMIZED_SUFFIXES):
            return False
        if name in _MINIMIZED_NAMES or name.endswith(_MINIMIZED_SUFFIXES):
            return True
        raise ValueError(
            f"{type(self).__name__} callback received monitor={self.monitor}, but minilstm isn't "
            "able to automatically determine whether that metric should be maximized or "
            "minimized. Pass `mode='max'` in order to monitor based on the highest metric value, "
            "or pass `mode='min'` in order to use the lowest value."
        )

    def _is_improvement(self, value, reference):
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))

    def _get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            available = ",".join(logs)
            warnings.warn(
                self._missing_message.format(monitor=self.monitor, available=available),
                stacklevel=3,
            )
        return value


class EarlyStopping(MonitorCallback):
    """Stops training when a monitored quantity has stopped improving.

    At each epoch end `wait` grows by one, and resets to 0 when the value improves on the best so
    far (and beats `baseline`, if given). Training stops, by `model.stop_training = True`, once
    `wait >= patience` at an epoch after the first.

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        min_delta: Minimum change that counts as an improvement. Defaults to `0`.
        patience: Epochs without improvement before stopping. Defaults to `0`.
        verbose: `1` prints when stopping and restoring. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`). Defaults to `"auto"`.
        baseline: Value the quantity must beat to reset `wait`. Defaults to `None`.
        restore_best_weights: Whether to restore, at the end of training, the weights of the epoch
            with the best value (via `model.get_weights` / `set_weights`). Defaults to `False`.
        start_from_epoch: Epochs to skip before monitoring starts. Defaults to `0`.

    >>> import types
    >>> stopper = EarlyStopping(monitor="loss", patience=1)
    >>> stopper.set_model(types.SimpleNamespace(stop_training=False))
    >>> stopper.on_train_begin()
    >>> for epoch, loss in enumerate([0.5, 0.4, 0.45, 0.3]):
    ...     stopper.on_epoch_end(epoch, {"loss": loss})
    ...     if stopper.model.stop_training:
    ...         break
    >>> stopper.stopped_epoch, stopper.best
    (2, 0.4)
    """

    _missing_message = (
        "Early stopping conditioned on metric `{monitor}` which is not available. "
        "Available metrics are: {available}"
    )

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, baseline, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when a monitored quantity stops improving.

    After `patience` epochs without an improvement of more than `min_delta`, sets
    `model.optimizer.learning_rate = max(lr * factor, min_lr)` (when `lr > min_lr`), then waits
    `cooldown` epochs before counting again. Adds `learning_rate` to the epoch logs, so `History`
    records it.

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        factor: Factor below 1 to multiply the rate by. Defaults to `0.1`.
        patience: Epochs without improvement before reducing. Defaults to `10`.
        verbose: `1` prints each reduction. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`). Defaults to `"auto"`.
        min_delta: Minimum change that counts as an improvement. Defaults to `1e-4`.
        cooldown: Epochs to wait after a reduction. Defaults to `0`.
        min_lr: Lower bound on the rate. Defaults to `0.0`.

    >>> import types
    >>> model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.5))
    >>> reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> reduce.set_model(model)
    >>> reduce.on_train_begin()
    >>> for epoch in range(3):
    ...     reduce.on_epoch_end(epoch, {"loss": 1.0})
    >>> model.optimizer.learning_rate
    0.125
    """

    _missing_message = (
        "Learning rate reduction is conditioned on metric `{monitor}` which is not available. "
        "Available metrics are: {available}."
    )

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        super().__init__(monitor, mode, min_delta=min_delta)
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = _read_learning_rate(optimizer)
        current = self._get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            old_lr = _read_learning_rate(optimizer)
            if self.wait >= self.patience and old_lr > np.float32(self.min_lr):
                new_lr = max(old_lr * self.factor, self.min_lr)
                optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    print_msg(
                        f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                    )
                self.cooldown_counter = self.cooldown
                self.wait = 0


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's `loss` is NaN or infinite.

    Prints `Batch {b}: Invalid loss, terminating training` and sets `model.stop_training = True`,
    or raises `RuntimeError` with `raise_error=True`.

    Args:
        raise_error: Whether to raise instead of stopping. Defaults to `False`.

    >>> import types
    >>> terminate = TerminateOnNaN()
    >>> terminate.set_model(types.SimpleNamespace(stop_training=False))
    >>> terminate.on_train_batch_end(3, {"loss": float("nan")})
    Batch 3: Invalid loss, terminating training
    >>> terminate.model.stop_training
    True
    """

    def __init__(self, raise_error=False):
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. "
                f"Loss value: {loss}. Terminating training immediately."
            )
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class LambdaCallback(Callback):
    """Builds a callback from plain functions, one per hook.

    Epoch hooks take `(epoch, logs)`, batch hooks `(batch, logs)`, train hooks `(logs)`. Other
    hooks (`on_test_begin=`, Keras 2's `on_batch_end=`, ...) may be passed as keyword arguments.

    Args:
        on_epoch_begin, on_epoch_end, on_train_begin, on_train_end, on_train_batch_begin,
        on_train_batch_end: Functions called at those hooks. Each defaults to `None` (nothing).
        **kwargs: Further hooks by name.

    >>> lstm_resets = []
    >>> reset = LambdaCallback(on_epoch_end=lambda epoch, logs: lstm_resets.append(epoch))
    >>> reset.on_epoch_end(0, {})
    >>> lstm_resets
    [0]
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        hooks = [name for name in dir(Callback) if name.startswith("on_")]
        unknown = [name for name in kwargs if name.startswith("on_") and name not in hooks]
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook(s) {', '.join(unknown)}. "
                f"Expected one of: {', '.join(hooks)}."
            )
        self.__dict__.update(kwargs)
        named = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        self.__dict__.update((name, fn) for name, fn in named.items() if fn is not None)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to `schedule(epoch, lr)`.

    Keras 2's one-argument `schedule(epoch)` is accepted too. Adds `learning_rate` to the epoch
    logs. The current rate is read through float32, as Keras reads its float32 variable.

    Args:
        schedule: Function of the epoch index (from 0) and the current rate, returning a float.
        verbose: `1` prints each new rate. Defaults to `0`.

    >>> import types
    >>> model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.01))
    >>> scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr / 2)
    >>> scheduler.set_model(model)
    >>> for epoch in range(3):
    ...     scheduler.on_epoch_begin(epoch)
    >>> round(model.optimizer.learning_rate, 5)  # the rate is read through float32, as in Keras
    0.0025
    """

    def __init__(self, schedule, verbose=0):
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, _read_learning_rate(optimizer))
        except TypeError:  # Keras 2's schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.floating)):
            raise TypeError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate!r}"
            )
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print_msg(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _read_learning_rate(self.model.optimizer)


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file: an `epoch` column, then the log names sorted.

    The columns are fixed by the first epoch; a missing value is written as `NA`.

    Args:
        filename: Path of the CSV file.
        separator: Column separator. Defaults to `","`.
        append: Whether to append to an existing file (no second header). Defaults to `False`.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> logger = CSVLogger(path)
    >>> logger.on_train_begin()
    >>> logger.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
    >>> logger.on_train_end()
    >>> print(open(path).read().splitlines())
    ['epoch,loss,val_loss', '0,0.5,0.75']
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        has_rows = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.append_header = not (self.append and has_rows)
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # Held open across epochs and closed in on_train_end, as Keras does.
        mode = "a" if self.append else "w"
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            fieldnames = ["epoch", *self.keys]
            self.writer = csv.DictWriter(self.csv_file, fieldnames, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
