"""Callbacks that watch a logged quantity: EarlyStopping and ReduceLROnPlateau."""

import operator
import warnings

import numpy as np

from ..progbar import print_msg
from .callback import (
    Callback,
    _check_bool,
    _check_float,
    _check_int,
    _read_learning_rate,
)

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
        mode: `"auto"`, `"min"` or `"max"`; any other string warns and uses `"auto"`, as in
            Keras.
        baseline: Initial best value, a finite number or `None`. Defaults to `None`.
        min_delta: Smallest change that counts as an improvement, a finite number (its absolute
            value is used, as in Keras). Defaults to `0`.

    The arguments are checked here, not at the first epoch end: a name that is not a string, a
    `baseline` or `min_delta` given as a string, NaN or infinity raise TypeError / ValueError
    naming the argument.

    >>> MonitorCallback("val_accuracy").monitor_op is operator.gt
    True
    """

    # The warning for a missing monitor; subclasses word it as Keras does.
    _missing_message = "Metric `{monitor}` is not available. Available metrics are: {available}"

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        owner = type(self).__name__
        if not isinstance(monitor, str):
            raise TypeError(
                f"{owner}: `monitor` must be the name of a logged quantity, a string such as "
                f"'val_loss' or 'accuracy'. Received: monitor={monitor!r}."
            )
        if not isinstance(mode, str):
            raise TypeError(
                f"{owner}: `mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}."
            )
        baseline = _check_float(
            owner, "baseline", baseline, allow_none=True,
            hint="The baseline is a value of the monitored quantity, such as baseline=0.5.",
        )
        min_delta = _check_float(
            owner, "min_delta", min_delta,
            hint="Pass the smallest change that counts as an improvement, such as min_delta=0.001.",
        )
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
        patience: Epochs without improvement before stopping, an int >= 0. Defaults to `0`.
        verbose: `1` prints when stopping and restoring. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`). Defaults to `"auto"`.
        baseline: Value the quantity must beat to reset `wait`. Defaults to `None`.
        restore_best_weights: Whether to restore, at the end of training, the weights of the epoch
            with the best value (via `model.get_weights` / `set_weights`). Defaults to `False`.
        start_from_epoch: Epochs to skip before monitoring starts, an int >= 0. Defaults to `0`.

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
        patience = _check_int("EarlyStopping", "patience", patience)
        verbose = _check_int("EarlyStopping", "verbose", verbose, allow_bool=True)
        restore_best_weights = _check_bool(
            "EarlyStopping", "restore_best_weights", restore_best_weights
        )
        start_from_epoch = _check_int("EarlyStopping", "start_from_epoch", start_from_epoch)
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
        factor: Factor in (0, 1) to multiply the rate by. Defaults to `0.1`.
        patience: Epochs without improvement before reducing, an int >= 0. Defaults to `10`.
        verbose: `1` prints each reduction. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`). Defaults to `"auto"`.
        min_delta: Minimum change that counts as an improvement. Defaults to `1e-4`.
        cooldown: Epochs to wait after a reduction, an int >= 0. Defaults to `0`.
        min_lr: Lower bound on the rate, a finite number >= 0. Defaults to `0.0`.

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
        owner = "ReduceLROnPlateau"
        factor = _check_float(
            owner, "factor", factor, "in (0, 1)", lambda number: number > 0,
            hint="The rate is multiplied by it on a plateau: use a value such as factor=0.1.",
        )
        if factor >= 1.0:  # Keras's check and text
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}. "
                "Use a factor below 1, such as 0.1 or 0.5, to lower the rate."
            )
        patience = _check_int(owner, "patience", patience)
        verbose = _check_int(owner, "verbose", verbose, allow_bool=True)
        cooldown = _check_int(owner, "cooldown", cooldown)
        min_lr = _check_float(
            owner, "min_lr", min_lr, ">= 0", lambda number: number >= 0,
            hint="It is the lowest rate to reduce to, such as min_lr=1e-6, or 0 for no bound.",
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
