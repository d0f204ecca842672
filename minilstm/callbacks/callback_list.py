"""CallbackList: calls every hook on a list of callbacks, as fit/evaluate/predict need."""

from .callback import Callback, _pythonify
from .history import History
from .progbar_logger import ProgbarLogger


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
        if clean and logs is not None:  # (fit without a callback that reads them passes None)
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
