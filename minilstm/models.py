"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict."""

import numpy as np

from . import backend, losses, metrics as metrics_module, optimizers, saving
from . import data_adapter as data
from .callbacks import CallbackList
from .layers.base import Layer, _unique_name
from .layers.input_layer import InputLayer
from .summary import summary_lines


class Sequential:
    """A linear stack of layers, trained by hand-written backpropagation.

    Args:
        layers: optional list of layers to add in order.
        name: model name; default 'sequential', 'sequential_1', ...

    >>> import numpy as np
    >>> from minilstm.models import Sequential
    >>> from minilstm.layers import LSTM, Dense
    >>> model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.predict(np.zeros((2, 3, 1)), verbose=0).shape
    (2, 1)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or _unique_name("sequential")
        self.trainable = trainable
        self.layers = []
        self._input_shape = None
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------

    def add(self, layer):
        """Adds a layer on top of the stack; builds it if the input shape is known."""
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `minilstm.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model.")
        if isinstance(layer, InputLayer):
            if self.layers or self._input_shape is not None:
                raise ValueError(f"Sequential model '{self.name}' has already been configured "
                                 f"to use input shape {self._input_shape}; an InputLayer can "
                                 "only come first.")
            self._input_shape = layer._batch_input_shape
            return
        if not self.layers and self._input_shape is None:
            self._input_shape = layer._batch_input_shape
        self.layers.append(layer)
        if self._input_shape is not None:
            self._build_from(len(self.layers) - 1)

    def pop(self):
        """Removes the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        return self.layers.pop()

    def _build_from(self, first):
        shape = self._input_shape if first == 0 else self.layers[first - 1].output_shape
        for layer in self.layers[first:]:
            if not layer.built:
                layer.build(shape)
            shape = layer.output_shape

    def build(self, input_shape=None):
        """Builds every layer for inputs of `input_shape` (batch axis included)."""
        if input_shape is not None and self._input_shape is None:
            self._input_shape = tuple(input_shape)
        if self._input_shape is None:
            raise ValueError("You must provide an `input_shape` argument to build the model.")
        self._build_from(0)

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    def _static_batch_size(self):
        """The fixed batch size of a stateful model, else None."""
        if any(getattr(layer, "stateful", False) for layer in self.layers):
            return self._input_shape[0]
        return None

    def dtype_itemsize(self):
        return np.dtype(backend.floatx()).itemsize

    def summary(self, print_fn=None):
        """Prints the layers, output shapes and parameter counts as Keras 3 does."""
        for line in summary_lines(self):
            (print_fn or print)(line)

    # -- weights and states ----------------------------------------------------

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self):
        """All weights as NumPy arrays, layer by layer in Keras order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Loads a list like `get_weights()` returns; checks everything before changing anything."""
        weights = list(weights)
        expected = [tuple(w.shape) for w in self.weights]
        received = [tuple(np.shape(w)) for w in weights]
        if expected != received:
            raise ValueError(
                f"You called `set_weights(weights)` on model '{self.name}' with weights of "
                f"shapes {received}, but the model expects {len(expected)} weights of shapes "
                f"{expected}."
            )
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def save_weights(self, filepath):
        """Saves the weights to `.npz`, or `.weights.h5` (Keras layout, needs h5py)."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        """Loads weights saved by `save_weights`."""
        saving.load_weights(self, filepath)

    def reset_states(self):
        """Zeroes the carried states of every stateful layer (Keras 2's Model.reset_states)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

    reset_state = reset_states

    # -- compile ---------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                run_eagerly=False, **kwargs):
        """Configures training: optimizer (name or instance), loss, and metrics to track."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword arguments: {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse'. Received: loss=None")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"`metrics` must be a list. Received: metrics={metrics!r}")
        optimizer, loss = optimizers.get(optimizer), losses.get(loss)
        for identifier in metrics or []:
            metrics_module.validate(identifier)
        self.optimizer, self.loss = optimizer, loss
        self._metric_identifiers = list(metrics or [])
        self._compiled_metrics = None  # resolved from the first targets' shapes
        self.compiled = True

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model "
                               f"(calling `{method}()` on an uncompiled model).")

    # -- checked data ----------------------------------------------------------

    def _prepare_x(self, x):
        x = data.as_array(x, "x", backend.floatx())
        first = self.layers[0] if self.layers else None
        if first is None:
            raise ValueError("This Sequential model has no layers yet: add() some first.")
        data.check_input_shape(x, self._input_shape, first)
        return x

    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + x.shape[1:])

    def _prepare_xy(self, x, y):
        x, y = self._prepare_x(x), data.as_targets(y, backend.floatx())
        data.check_lengths(x, y)
        self._ensure_built(x)
        losses.check_targets(self.loss, y.shape, (len(y),) + self.output_shape[1:], y_true=y)
        if self._compiled_metrics is None:
            output_shape = (len(y),) + tuple(self.output_shape[1:])
            self._compiled_metrics = [metrics_module.resolve(m, y.shape, output_shape)
                                      for m in self._metric_identifiers]
        return x, y

    def _resolve_batch_size(self, batch_size, what, batch_input_shape=None):
        static = self._static_batch_size()
        if batch_input_shape is not None:
            declared = tuple(batch_input_shape)
            if self._input_shape is not None and declared[1:] != tuple(self._input_shape[1:]):
                raise ValueError(f"{what}(batch_input_shape={declared}) does not match the "
                                 f"model's input shape {self._input_shape}.")
            if batch_size is not None and batch_size != declared[0]:
                raise ValueError(f"{what}() got batch_size={batch_size} and "
                                 f"batch_input_shape={declared}: they disagree.")
            batch_size = declared[0]
        if batch_size is None:
            batch_size = static or 32
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: "
                             f"batch_size={batch_size!r}")
        return int(batch_size)

    # -- one step --------------------------------------------------------------

    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _train_step(self, x, y):
        y_pred = self._forward(x, training=True)
        loss = self.loss(y, y_pred)
        dy = self.loss.gradient(y, y_pred)
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        self.optimizer.apply_gradients(
            [(g, w) for layer in self.layers if layer.trainable
             for g, w in zip(layer.grads, layer.trainable_weights)])
        self._update_trackers(loss, y, y_pred)

    def _test_step(self, x, y):
        y_pred = self._forward(x, training=False)
        self._update_trackers(self.loss(y, y_pred), y, y_pred)

    def _update_trackers(self, loss, y, y_pred):
        self._loss_tracker.update_state(loss, sample_weight=len(y))
        for metric in self._compiled_metrics:
            metric.update_state(y, y_pred)

    def _reset_trackers(self):
        self._loss_tracker = metrics_module.Mean(name="loss")
        for metric in self._compiled_metrics:
            metric.reset_state()

    def _logs(self):
        logs = {"loss": self._loss_tracker.result()}
        logs.update({metric.name: metric.result() for metric in self._compiled_metrics})
        return logs

    @staticmethod
    def _result(logs):
        """Keras's return value: the loss alone as a float, else [loss, *metrics]."""
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @property
    def metrics_names(self):
        return ["loss"] + [m if isinstance(m, str) else getattr(m, "name", str(m))
                           for m in getattr(self, "_metric_identifiers", [])]

    # -- fit / evaluate / predict ----------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            batch_input_shape=None):
        """Trains for `epochs` passes over (x, y); returns a History.

        Checks x, y, batch size and stateful constraints before the first
        step, so a rejected call changes no weight and no optimizer slot.
        `batch_input_shape=(B, T, F)` (the seed's spelling) states the batch size.
        """
        self._require_compiled("fit")
        x, y = self._prepare_xy(x, y)
        batch_size = self._resolve_batch_size(batch_size, "fit", batch_input_shape)
        (x, y), validation = data.split_validation(x, y, validation_split)
        if validation_data is not None:
            validation = self._prepare_xy(*validation_data[:2])
        static = self._static_batch_size()
        data.check_stateful_batches(len(x), batch_size, static, "fit")
        if validation is not None:
            data.check_stateful_batches(len(validation[0]), batch_size, static, "validation")

        xp = backend.xp()
        x_dev, y_dev = xp.asarray(x), xp.asarray(y)  # on the device once for the whole fit
        if validation is not None:
            validation = tuple(xp.asarray(part) for part in validation)
        slices = data.batch_slices(len(x), batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                     model=self, verbose=verbose, epochs=epochs,
                                     steps=len(slices))
        want_batch_logs = verbose == 1 or bool(callbacks)
        self.stop_training = False
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            self._reset_trackers()
            order = xp.asarray(np.random.permutation(len(x))) if shuffle else None
            for step, (start, stop) in enumerate(slices):
                callback_list.on_train_batch_begin(step)
                rows = slice(start, stop) if order is None else order[start:stop]
                self._train_step(x_dev[rows], y_dev[rows])
                callback_list.on_train_batch_end(step, self._logs() if want_batch_logs else None)
                if self.stop_training:  # e.g. TerminateOnNaN, mid-epoch as in Keras
                    break
            logs = self._logs()
            if validation is not None:
                val_logs = self._evaluate_arrays(*validation, batch_size)
                logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return callback_list.history

    def _evaluate_arrays(self, x, y, batch_size, callback_list=None):
        xp = backend.xp()
        x_dev, y_dev = xp.asarray(x), xp.asarray(y)
        self._reset_trackers()
        for step, (start, stop) in enumerate(data.batch_slices(len(x), batch_size)):
            if callback_list:
                callback_list.on_test_batch_begin(step)
            self._test_step(x_dev[start:stop], y_dev[start:stop])
            if callback_list:
                callback_list.on_test_batch_end(step, self._logs())
        return self._logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", callbacks=None,
                 return_dict=False):
        """Loss (a float) or [loss, *metrics] on (x, y), in inference mode."""
        self._require_compiled("evaluate")
        x, y = self._prepare_xy(x, y)
        batch_size = self._resolve_batch_size(batch_size, "evaluate")
        data.check_stateful_batches(len(x), batch_size, self._static_batch_size(), "evaluate")
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1,
                                     steps=len(data.batch_slices(len(x), batch_size)))
        callback_list.on_test_begin()
        logs = self._evaluate_arrays(x, y, batch_size, callback_list)
        callback_list.on_test_end(logs)
        return logs if return_dict else self._result(logs)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        """Outputs for x as a NumPy array, computed batch by batch in inference mode."""
        x = self._prepare_x(x)
        self._ensure_built(x)
        batch_size = self._resolve_batch_size(batch_size, "predict")
        data.check_stateful_batches(len(x), batch_size, self._static_batch_size(), "predict")
        slices = data.batch_slices(len(x), batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1, steps=len(slices))
        callback_list.on_predict_begin()
        x_dev, outputs = backend.xp().asarray(x), []
        for step, (start, stop) in enumerate(slices):
            callback_list.on_predict_batch_begin(step)
            outputs.append(self._forward(x_dev[start:stop], training=False))
            callback_list.on_predict_batch_end(step, {"outputs": outputs[-1]})
        callback_list.on_predict_end()
        return self._concatenate(outputs)

    @staticmethod
    def _concatenate(outputs):
        if isinstance(outputs[0], list):  # return_state: [output, h, c] per batch
            return [Sequential._concatenate([o[k] for o in outputs]) for k in range(3)]
        return np.concatenate([backend.to_numpy(o) for o in outputs], axis=0)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Keras 2's class predictions: argmax for several outputs, `> 0.5` for one.

        One output unit gives int32 of shape (N, 1), as Keras 2 did;
        several give the argmax, shape (N,).
        """
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """Keras 2's alias of predict for probabilistic outputs."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def train_on_batch(self, x, y):
        """One optimizer step on one batch; returns the loss (or [loss, *metrics])."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare_xy(x, y)
        data.check_stateful_batches(len(x), len(x), self._static_batch_size(), "train_on_batch")
        self._reset_trackers()
        xp = backend.xp()
        self._train_step(xp.asarray(x), xp.asarray(y))
        return self._result(self._logs())

    def test_on_batch(self, x, y):
        """Loss (or [loss, *metrics]) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        x, y = self._prepare_xy(x, y)
        return self._result(self._evaluate_arrays(x, y, len(x)))

    def predict_on_batch(self, x):
        """Outputs for one batch as a NumPy array."""
        x = self._prepare_x(x)
        self._ensure_built(x)
        return self._concatenate([self._forward(backend.xp().asarray(x), training=False)])

    def __call__(self, x, training=False):
        x = self._prepare_x(x)
        self._ensure_built(x)
        return self._forward(backend.xp().asarray(x), training=training)
