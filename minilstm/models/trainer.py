"""Trainer: compile, fit, evaluate and predict, written once for every model.

A model supplies its graph (`_graph`: forward and backward over lists of
arrays) and `_prepare_inputs` (user data -> checked arrays, one per input);
everything here works on those lists, so one loop serves a Sequential chain
and a Functional graph with several inputs and outputs.
"""

import numpy as np

from .. import backend, optimizers
from .. import data_adapter as data
from ..callbacks import CallbackList
from ..metrics import Mean
from .compile_utils import CompiledLoss, CompiledMetrics


class Trainer:
    """Keras's training methods; mixed into Model."""

    optimizer = None
    compiled = False
    stop_training = False
    history = None

    # -- compile ---------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                run_eagerly=False, **kwargs):
        """Configures training: optimizer (name or instance), loss(es), metrics, loss_weights."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword arguments: {sorted(kwargs)}")
        names = self._output_names_for_compile()
        compiled_loss = CompiledLoss(loss, loss_weights, names)
        compiled_metrics = CompiledMetrics(metrics, names)
        self.optimizer = optimizers.get(optimizer)
        self.loss = compiled_loss.losses[0] if len(names) == 1 else compiled_loss.losses
        self._compiled_loss, self._compiled_metrics = compiled_loss, compiled_metrics
        self.compiled = True

    def _output_names_for_compile(self):
        return self.output_names

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model "
                               f"(calling `{method}()` on an uncompiled model).")

    @property
    def metrics_names(self):
        if not self.compiled:
            return []
        names = ["loss"]
        if len(self._compiled_loss.names) > 1:
            names += [f"{n}_loss" for n in self._compiled_loss.names]
        return names + self._compiled_metrics.metric_names()

    # -- checked data ----------------------------------------------------------------

    def _prepare_targets(self, y, count):
        """User targets -> a list of checked arrays, one per output."""
        names = self.output_names
        if isinstance(y, dict):
            missing = [n for n in names if n not in y]
            if missing:
                raise ValueError(f"`y` is missing targets for outputs {missing}. Received "
                                 f"keys: {sorted(y)}")
            y = [y[n] for n in names]
        elif len(names) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise ValueError(f"The model has {len(names)} outputs ({names}): pass `y` as a "
                                 "list with one array per output, or a dict keyed by output name.")
        else:
            y = [y]
        ys = [data.as_targets(value, backend.floatx()) for value in y]
        for value in ys:
            data.check_lengths_to(count, value)
        return ys

    def _prepare_xy(self, x, y):
        xs = self._prepare_inputs(x)
        ys = self._prepare_targets(y, len(xs[0]))
        shapes = self._output_shapes()
        self._compiled_loss.check_targets(ys, shapes)
        self._compiled_metrics.resolve(ys, shapes)
        return xs, ys

    def _output_shapes(self):
        return [t.shape for t in self._graph.outputs]

    def _static_batch_size(self):
        """The fixed batch size of a model with stateful layers, else None."""
        if any(getattr(layer, "stateful", False) for layer in self.layers):
            return self._graph.inputs[0].shape[0]
        return None

    def _resolve_batch_size(self, batch_size, what, batch_input_shape=None):
        static = self._static_batch_size()
        if batch_input_shape is not None:
            declared = tuple(batch_input_shape)
            expected = tuple(self._graph.inputs[0].shape)
            if declared[1:] != expected[1:]:
                raise ValueError(f"{what}(batch_input_shape={declared}) does not match the "
                                 f"model's input shape {expected}.")
            if batch_size is not None and batch_size != declared[0]:
                raise ValueError(f"{what}() got batch_size={batch_size} and "
                                 f"batch_input_shape={declared}: they disagree.")
            batch_size = declared[0]
        if batch_size is None:
            batch_size = static or 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: "
                             f"batch_size={batch_size!r}")
        return int(batch_size)

    # -- one step --------------------------------------------------------------------

    def _train_step(self, xs, ys):
        predictions, _ = self._graph.forward(xs, training=True)
        losses = self._compiled_loss(ys, predictions)
        self._graph.backward(self._compiled_loss.gradients(ys, predictions))
        self.optimizer.apply_gradients(self._gradient_pairs())
        self._update_trackers(losses, ys, predictions)

    def _gradient_pairs(self):
        """(gradient, weight) for every weight the optimizer may change."""
        grads = self._graph.layer_grads
        pairs = []
        for layer in self.layers:
            if layer not in grads:
                continue
            pairs += [(g, w) for g, w, flag in zip(grads[layer], layer.weights,
                                                   layer._trainable_flags())
                      if flag and self.trainable]
        return pairs

    def _test_step(self, xs, ys):
        predictions, _ = self._graph.forward(xs, training=False)
        self._update_trackers(self._compiled_loss(ys, predictions), ys, predictions)

    def _update_trackers(self, losses, ys, predictions):
        """Adds one batch to the running loss(es) and metrics; `losses` = (total, per output)."""
        total, values = losses
        count = len(ys[0])
        self._loss_tracker.update_state(total, sample_weight=count)
        for tracker, value in zip(self._output_loss_trackers, values):
            if value is not None:
                tracker.update_state(value, sample_weight=count)
        self._compiled_metrics.update(ys, predictions)

    def _reset_trackers(self):
        self._loss_tracker = Mean(name="loss")
        names = self._compiled_loss.names
        self._output_loss_trackers = [Mean(name=f"{n}_loss") for n in names] if len(names) > 1 \
            else []
        self._compiled_metrics.reset()

    def _logs(self):
        logs = {"loss": self._loss_tracker.result()}
        logs.update({t.name: t.result() for t in self._output_loss_trackers})
        logs.update(self._compiled_metrics.logs())
        return logs

    @staticmethod
    def _result(logs):
        """Keras's return value: the loss alone as a float, else [loss, *metrics]."""
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # -- fit / evaluate / predict ----------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            batch_input_shape=None):
        """Trains for `epochs` passes over (x, y); returns a History.

        Checks x, y, batch size and stateful constraints before the first
        step, so a rejected call changes no weight and no optimizer slot.
        `batch_input_shape=(B, T, F)` (the seed's spelling) states the batch size.
        """
        self._require_compiled("fit")
        xs, ys = self._prepare_xy(x, y)
        batch_size = self._resolve_batch_size(batch_size, "fit", batch_input_shape)
        (xs, ys), validation = data.split_validation_lists(xs, ys, validation_split)
        if validation_data is not None:
            validation = self._prepare_xy(*data.unpack_validation(validation_data))
        static = self._static_batch_size()
        data.check_stateful_batches(len(xs[0]), batch_size, static, "fit")
        if validation is not None:
            data.check_stateful_batches(len(validation[0][0]), batch_size, static, "validation")

        xp = backend.xp()
        xs, ys = [xp.asarray(a) for a in xs], [xp.asarray(a) for a in ys]  # on the device once
        if validation is not None:
            validation = tuple([xp.asarray(a) for a in part] for part in validation)
        slices = data.batch_slices(len(xs[0]), batch_size)
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
            order = xp.asarray(np.random.permutation(len(xs[0]))) if shuffle else None
            for step, (start, stop) in enumerate(slices):
                callback_list.on_train_batch_begin(step)
                rows = slice(start, stop) if order is None else order[start:stop]
                self._train_step([a[rows] for a in xs], [a[rows] for a in ys])
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

    def _evaluate_arrays(self, xs, ys, batch_size, callback_list=None):
        xp = backend.xp()
        xs, ys = [xp.asarray(a) for a in xs], [xp.asarray(a) for a in ys]
        self._reset_trackers()
        for step, (start, stop) in enumerate(data.batch_slices(len(xs[0]), batch_size)):
            if callback_list:
                callback_list.on_test_batch_begin(step)
            self._test_step([a[start:stop] for a in xs], [a[start:stop] for a in ys])
            if callback_list:
                callback_list.on_test_batch_end(step, self._logs())
        return self._logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", callbacks=None,
                 return_dict=False):
        """Loss (a float) or [loss, *metrics] on (x, y), in inference mode."""
        self._require_compiled("evaluate")
        xs, ys = self._prepare_xy(x, y)
        batch_size = self._resolve_batch_size(batch_size, "evaluate")
        data.check_stateful_batches(len(xs[0]), batch_size, self._static_batch_size(),
                                    "evaluate")
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1,
                                     steps=len(data.batch_slices(len(xs[0]), batch_size)))
        callback_list.on_test_begin()
        logs = self._evaluate_arrays(xs, ys, batch_size, callback_list)
        callback_list.on_test_end(logs)
        return logs if return_dict else self._result(logs)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        """Outputs for x as NumPy arrays (a list with several outputs), batch by batch."""
        xs = self._prepare_inputs(x)
        batch_size = self._resolve_batch_size(batch_size, "predict")
        data.check_stateful_batches(len(xs[0]), batch_size, self._static_batch_size(), "predict")
        slices = data.batch_slices(len(xs[0]), batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1, steps=len(slices))
        callback_list.on_predict_begin()
        xp = backend.xp()
        xs, batches = [xp.asarray(a) for a in xs], []
        for step, (start, stop) in enumerate(slices):
            callback_list.on_predict_batch_begin(step)
            outputs, _ = self._graph.forward([a[start:stop] for a in xs], training=False)
            batches.append(outputs)
            callback_list.on_predict_batch_end(step, {"outputs": outputs})
        callback_list.on_predict_end()
        return self._concatenate(batches)

    def _concatenate(self, batches):
        """Per-batch output lists -> one NumPy array per output, shaped as the model returns."""
        outputs = [np.concatenate([backend.to_numpy(b[k]) for b in batches], axis=0)
                   for k in range(len(batches[0]))]
        return self._unwrap(outputs, outputs=True)

    def train_on_batch(self, x, y):
        """One optimizer step on one batch; returns the loss (or [loss, *metrics])."""
        self._require_compiled("train_on_batch")
        xs, ys = self._prepare_xy(x, y)
        data.check_stateful_batches(len(xs[0]), len(xs[0]), self._static_batch_size(),
                                    "train_on_batch")
        self._reset_trackers()
        xp = backend.xp()
        self._train_step([xp.asarray(a) for a in xs], [xp.asarray(a) for a in ys])
        return self._result(self._logs())

    def test_on_batch(self, x, y):
        """Loss (or [loss, *metrics]) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        xs, ys = self._prepare_xy(x, y)
        return self._result(self._evaluate_arrays(xs, ys, len(xs[0])))

    def predict_on_batch(self, x):
        """Outputs for one batch as NumPy arrays."""
        xs = self._prepare_inputs(x)
        xp = backend.xp()
        outputs, _ = self._graph.forward([xp.asarray(a) for a in xs], training=False)
        return self._concatenate([outputs])

    def _call_on_arrays(self, x, training=False):
        """model(x) on arrays: the outputs as arrays of the active module."""
        xs = self._prepare_inputs(x)
        xp = backend.xp()
        outputs, _ = self._graph.forward([xp.asarray(a) for a in xs], training=training)
        return self._unwrap(outputs, outputs=True)

    # -- inputs ----------------------------------------------------------------------

    def _prepare_inputs(self, x):
        """User inputs -> a list of checked arrays, one per model input."""
        tensors = self._graph.inputs
        names = [t.node.layer.name for t in tensors]
        if isinstance(x, dict):
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"`x` is missing inputs {missing}. Received keys: {sorted(x)}")
            x = [x[n] for n in names]
        elif len(tensors) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(tensors):
                raise ValueError(f"The model has {len(tensors)} inputs ({names}): pass `x` as a "
                                 "list with one array per input, or a dict keyed by input name.")
        else:
            x = [x]
        xs = []
        for value, tensor in zip(x, tensors):
            integer = np.dtype(tensor.dtype).kind in "iu"
            array = data.as_array(value, "x", None if integer else backend.floatx(),
                                  keep_integers=integer)
            data.check_input_shape(array, tensor.shape, self._first_consumer(tensor))
            xs.append(array)
        data.check_lengths_all(xs)
        return xs

    def _first_consumer(self, tensor):
        for node in self._graph.nodes:
            if any(t is tensor for t in node.parents):
                return node.layer
        return tensor.node.layer
