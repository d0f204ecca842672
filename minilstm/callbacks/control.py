"""Callbacks that steer training from hooks: TerminateOnNaN, LambdaCallback, LearningRateScheduler."""

import math

import numpy as np

from ..progbar import print_msg
from .callback import (
    Callback,
    _check_bool,
    _check_callable,
    _check_int,
    _read_learning_rate,
)


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
        self.raise_error = _check_bool("TerminateOnNaN", "raise_error", raise_error)

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
        on_train_batch_end: Functions called at those hooks. Each defaults to `None` (nothing);
            anything else that cannot be called raises TypeError here, not mid-training.
        **kwargs: Further hooks by name, checked the same way.

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
            received = ", ".join(f"{name}={kwargs[name]!r}" for name in unknown)
            raise TypeError(
                f"LambdaCallback got unknown hook(s) {', '.join(unknown)}. "
                f"Expected one of: {', '.join(hooks)}. Received: {received}."
            )
        named = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        named.update((name, fn) for name, fn in kwargs.items() if name in hooks)
        for name, fn in named.items():
            signature = "(epoch, logs)" if "epoch" in name else "(logs)"
            signature = "(batch, logs)" if "batch" in name else signature
            _check_callable("LambdaCallback", name, fn, allow_none=True, signature=signature)
        # Other keyword arguments become attributes, as in Keras; a hook left at None keeps the
        # base class's no-op.
        self.__dict__.update((name, value) for name, value in kwargs.items() if name not in hooks)
        self.__dict__.update((name, fn) for name, fn in named.items() if fn is not None)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to `schedule(epoch, lr)`.

    Keras 2's one-argument `schedule(epoch)` is accepted too. Adds `learning_rate` to the epoch
    logs. The current rate is read through float32, as Keras reads its float32 variable.

    Args:
        schedule: Function of the epoch index (from 0) and the current rate, returning a float.
            A non-callable raises TypeError here; what it returns is checked at each epoch.
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
        self.schedule = _check_callable(
            "LearningRateScheduler", "schedule", schedule, signature="schedule(epoch, lr)"
        )
        self.verbose = _check_int("LearningRateScheduler", "verbose", verbose, allow_bool=True)

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
