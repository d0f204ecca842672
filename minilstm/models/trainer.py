"""Trainer: compile, fit, evaluate and predict, written once for every model.

A model supplies its graph (`_graph`: forward and backward over lists of
arrays) and `_prepare_inputs` (user data -> checked arrays, one per input);
everything here works on those lists, so one loop serves a Sequential chain
and a Functional graph with several inputs and outputs.
"""

import warnings

import numpy as np

from .. import backend, optimizers
from .. import data_adapter as data
from ..callbacks import CallbackList
from ..layers.base import no_cache
from ..metrics import Mean
from . import arguments
from .batches import ArraySlices, SourceBatches, is_batch_source
from .compile_utils import CompiledLoss, CompiledMetrics


class Trainer:
    """Keras's training methods; mixed into Model."""

    optimizer = None
    compiled = False
    stop_training = False
    history = None

    # -- compile ---------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, **kwargs):
        """Configures training: optimizer (name or instance), loss(es), loss_weights, metrics.

        `metrics` see the output masks but not sample weights; `weighted_metrics`
        are weighted by sample_weight / class_weight too, as in Keras.
        """
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword arguments: {sorted(kwargs)}")
        names = self._output_names_for_compile()
        compiled_loss = CompiledLoss(loss, loss_weights, names)
        compiled_metrics = CompiledMetrics(metrics, names, weighted_metrics)
        self.optimizer = optimizers.get(optimizer)
        self.loss = compiled_loss.losses[0] if len(names) == 1 else compiled_loss.losses
        self._compiled_loss, self._compiled_metrics = compiled_loss, compiled_metrics
        self.compiled = True
        # What compile was given, for the compile_config of saved files.
        self._compile_arguments = {"loss": loss, "loss_weights": loss_weights,
                                   "metrics": metrics, "weighted_metrics": weighted_metrics}

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
        if y is None:
            raise ValueError("Training and evaluation need targets: pass `y` (or batches of "
                             "(x, y) from a generator or dataset). Received: y=None")
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

    def _train_step(self, xs, ys, sample_weights=None):
        predictions, masks = self._graph.forward(xs, training=True)
        losses = self._compiled_loss(ys, predictions, sample_weights, masks, gradients=True)
        self._graph.backward(losses[2], input_grads=False)  # only the weights' gradients
        self.optimizer.apply_gradients(self._gradient_pairs())
        self._update_trackers(losses, ys, predictions, sample_weights, masks)

    def _gradient_pairs(self):
        """(gradient, weight) for every weight the optimizer may change."""
        if not self.trainable:
            return []
        grads = self._graph.layer_grads
        pairs = []
        for layer in self.layers:
            layer_grads = grads.get(layer)
            if layer_grads is not None:
                pairs += [(g, w) for g, w, flag in zip(layer_grads, layer.weights,
                                                       layer._trainable_flags()) if flag]
        return pairs

    def _test_step(self, xs, ys, sample_weights=None):
        with no_cache():  # evaluate and validation never go backward: the inference kernels
            predictions, masks = self._graph.forward(xs, training=False)
        losses = self._compiled_loss(ys, predictions, sample_weights, masks)
        self._update_trackers(losses, ys, predictions, sample_weights, masks)

    def _update_trackers(self, losses, ys, predictions, sample_weights, masks):
        """Adds one batch to the running loss(es) and metrics; `losses` = (total, per output)."""
        total, values = losses[0], losses[1]
        count = len(ys[0])
        self._loss_tracker.update_state(total, sample_weight=count)
        for tracker, value in zip(self._output_loss_trackers, values):
            if value is not None:
                tracker.update_state(value, sample_weight=count)
        self._compiled_metrics.update(ys, predictions, sample_weights, masks)

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

    # -- data -> batches ---------------------------------------------------------------

    def _prepare_batch(self, x, y, sample_weight, class_weight=None):
        """One batch (or all the data) -> checked (xs, ys, sample_weights) host lists."""
        xs, ys = self._prepare_xy(x, y)
        sample_weights = data.sample_weights_for(sample_weight, class_weight, ys,
                                                 self._compiled_loss.names)
        return xs, ys, sample_weights

    def _training_batches(self, x, y, sample_weight, class_weight, batch_size, steps, shuffle,
                          what, batch_input_shape=None, validation_split=0.0):
        """(batches, validation arrays or None) for fit / evaluate."""
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError(f"`y` and `sample_weight` must not be given to {what}() when "
                                 "`x` is a generator or dataset: its batches carry them.")
            if validation_split:
                raise ValueError("`validation_split` is only supported for arrays, not for a "
                                 "generator or dataset: pass `validation_data` instead.")
            return SourceBatches(x, steps, lambda *batch: self._prepare_batch(
                *batch, class_weight=class_weight)), None
        xs, ys, sws = self._prepare_batch(x, y, sample_weight, class_weight)
        batch_size = self._resolve_batch_size(batch_size, what, batch_input_shape)
        (xs, ys), validation = data.split_validation_lists(xs, ys, validation_split)
        if sws is not None and validation is not None:
            sws = [None if w is None else w[:len(xs[0])] for w in sws]
        data.check_stateful_batches(len(xs[0]), batch_size, self._static_batch_size(), what)
        return ArraySlices(xs, ys, sws, batch_size, shuffle), validation

    # -- fit / evaluate / predict ----------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, batch_input_shape=None):
        """Trains for `epochs` passes over the data; returns a History.

        `x` may be arrays (with `y`, `sample_weight`, `class_weight`), or a
        generator / PyDataset of `(x, y)` or `(x, y, sample_weight)` batches
        (with `steps_per_epoch`). Arrays are checked before the first step, so
        a rejected call changes no weight and no optimizer slot.
        `batch_input_shape=(B, T, F)` (the seed's spelling) states the batch size.
        """
        self._require_compiled("fit")
        verbose = arguments.fit_arguments(epochs, verbose, validation_split, shuffle,
                                          initial_epoch, validation_freq, steps_per_epoch,
                                          validation_steps)
        if shuffle == "batch":
            shuffle = True  # Keras 2's chunked shuffle; whole-array shuffling is what it approximates
        batches, validation = self._training_batches(
            x, y, sample_weight, class_weight, batch_size, steps_per_epoch, shuffle, "fit",
            batch_input_shape, validation_split)
        validation_batch_size = validation_batch_size or getattr(batches, "batch_size",
                                                                 batch_size)
        validation_batches = None
        if validation_data is not None:
            validation_batches = self._evaluation_batches(
                validation_data, validation_batch_size, validation_steps, "validation")
        elif validation is not None:
            validation_batch_size = self._resolve_batch_size(validation_batch_size, "validation")
            data.check_stateful_batches(len(validation[0][0]), validation_batch_size,
                                        self._static_batch_size(), "validation")
            validation_batches = ArraySlices(*validation, None, validation_batch_size)
        callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                     model=self, verbose=verbose, epochs=epochs,
                                     steps=batches.steps)
        want_batch_logs = verbose == 1 or bool(callbacks)
        self.stop_training = False
        callback_list.on_train_begin()
        # A callback may move the start on (BackupAndRestore resuming), as Keras's _initial_epoch.
        resumed, self._initial_epoch = getattr(self, "_initial_epoch", None), None
        initial_epoch = resumed or initial_epoch
        logs = {}
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            self._reset_trackers()
            for step, (xs, ys, sws) in enumerate(batches.epoch()):
                callback_list.on_train_batch_begin(step)
                self._train_step(xs, ys, sws)
                callback_list.on_train_batch_end(step, self._logs() if want_batch_logs else None)
                if self.stop_training:  # e.g. TerminateOnNaN, mid-epoch as in Keras
                    break
            if getattr(batches, "exhausted", False):
                break
            logs = self._logs()
            self._warn_if_diverged(logs, epoch)
            if validation_batches is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._run_evaluation(validation_batches)
                logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return callback_list.history

    def _warn_if_diverged(self, logs, epoch):
        loss = logs.get("loss")
        if loss is not None and not np.isfinite(loss) and not getattr(self, "_warned_nan", False):
            self._warned_nan = True
            warnings.warn(
                f"The training loss became {loss} in epoch {epoch + 1}: the weights diverged. "
                "Lower the learning rate, clip the gradients (clipnorm=1.0 on the optimizer), "
                "or stop at the first bad batch with callbacks=[TerminateOnNaN()].",
                RuntimeWarning, stacklevel=3)

    def _evaluation_batches(self, data_or_source, batch_size, steps, what, sample_weight=None):
        if is_batch_source(data_or_source):
            return SourceBatches(data_or_source, steps, self._prepare_batch)
        x, y, sw = data.unpack_validation(data_or_source) if what == "validation" else \
            (data_or_source[0], data_or_source[1], sample_weight)
        xs, ys, sws = self._prepare_batch(x, y, sw)
        batch_size = self._resolve_batch_size(batch_size, what)
        data.check_stateful_batches(len(xs[0]), batch_size, self._static_batch_size(), what)
        return ArraySlices(xs, ys, sws, batch_size)

    def _run_evaluation(self, batches, callback_list=None):
        self._reset_trackers()
        for step, (xs, ys, sws) in enumerate(batches.epoch()):
            if callback_list:
                callback_list.on_test_batch_begin(step)
            self._test_step(xs, ys, sws)
            if callback_list:
                callback_list.on_test_batch_end(step, self._logs())
        return self._logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss (a float) or [loss, *metrics] on the data, in inference mode."""
        self._require_compiled("evaluate")
        verbose = arguments.verbosity(verbose)
        arguments.integer("steps", steps, minimum=1, allow_none=True)
        if is_batch_source(x) and (y is not None or sample_weight is not None):
            raise ValueError("`y` and `sample_weight` must not be given to evaluate() when `x` "
                             "is a generator or dataset: its batches carry them.")
        batches = self._evaluation_batches(x if is_batch_source(x) else (x, y), batch_size,
                                           steps, "evaluate", sample_weight)
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1, steps=batches.steps)
        callback_list.on_test_begin()
        logs = self._run_evaluation(batches, callback_list)
        if self._loss_tracker.count == 0:
            raise ValueError("evaluate() received no batches: the generator or dataset is empty.")
        callback_list.on_test_end(logs)
        return logs if return_dict else self._result(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for x as NumPy arrays (a list with several outputs), batch by batch."""
        verbose = arguments.verbosity(verbose)
        arguments.integer("steps", steps, minimum=1, allow_none=True)
        if is_batch_source(x):
            batches = SourceBatches(x, steps, lambda x, y=None, sw=None: (
                self._prepare_inputs(x), None, None))
        else:
            xs = self._prepare_inputs(x)
            batch_size = self._resolve_batch_size(batch_size, "predict")
            data.check_stateful_batches(len(xs[0]), batch_size, self._static_batch_size(),
                                        "predict")
            batches = ArraySlices(xs, None, None, batch_size)
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=1, steps=batches.steps)
        callback_list.on_predict_begin()
        outputs = []
        for step, (xs, _, _) in enumerate(batches.epoch()):
            callback_list.on_predict_batch_begin(step)
            with no_cache():
                batch_outputs, _ = self._graph.forward(xs, training=False)
            outputs.append(batch_outputs)
            callback_list.on_predict_batch_end(step, {"outputs": batch_outputs})
        callback_list.on_predict_end()
        if not outputs:
            raise ValueError("predict() received no data: pass at least one sample.")
        return self._concatenate(outputs)

    def _concatenate(self, batches):
        """Per-batch output lists -> one NumPy array per output, shaped as the model returns."""
        outputs = [np.concatenate([backend.to_numpy(b[k]) for b in batches], axis=0)
                   for k in range(len(batches[0]))]
        return self._unwrap(outputs, outputs=True)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (or [loss, *metrics])."""
        self._require_compiled("train_on_batch")
        xs, ys, sws = self._prepare_batch(x, y, sample_weight, class_weight)
        data.check_stateful_batches(len(xs[0]), len(xs[0]), self._static_batch_size(),
                                    "train_on_batch")
        self._reset_trackers()
        batch = next(ArraySlices(xs, ys, sws, len(xs[0])).epoch())
        self._train_step(*batch)
        logs = self._logs()
        return logs if return_dict else self._result(logs)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (or [loss, *metrics]) on one batch, without updating weights."""
        self._require_compiled("test_on_batch")
        xs, ys, sws = self._prepare_batch(x, y, sample_weight)
        logs = self._run_evaluation(ArraySlices(xs, ys, sws, len(xs[0])))
        return logs if return_dict else self._result(logs)

    def predict_on_batch(self, x):
        """Outputs for one batch as NumPy arrays."""
        xs = self._prepare_inputs(x)
        xp = backend.xp()
        with no_cache():
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
            if integer:
                array = data.as_integer_ids(array, tensor.dtype)
            data.check_input_shape(array, tensor.shape, self._first_consumer(tensor))
            xs.append(array)
        data.check_lengths_all(xs)
        if len(xs[0]) == 0:
            raise ValueError(f"The model received 0 samples (x of shape {xs[0].shape}): pass at "
                             "least one sample.")
        return xs

    def _first_consumer(self, tensor):
        for node in self._graph.nodes:
            if any(t is tensor for t in node.inputs):  # not initial states: any shape checks
                return node.layer
        return tensor.node.layer
