"""What `compile` sets up for a model with one or several outputs: losses and metrics.

Keras's rules: `loss` is one loss for every output, a list (one per output)
or a dict keyed by output name; `loss_weights` likewise; the total loss is
Σ_k w_k · loss_k. `metrics` is a list (for every output), a list of lists or
a dict. With several outputs the logs also hold `<output>_loss` and
`<output>_<metric>`, named after the layer that produced the output.
"""

import numpy as np

from .. import losses, metrics as metrics_module


def _per_output(value, names, argument, default):
    """`value` spread over the outputs: one for all, a list (one each) or a dict by name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"`{argument}` names outputs {unknown}, but the model's outputs are "
                             f"{names}. Received: {argument}={value!r}")
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)) and (argument != "metrics" or
                                            any(isinstance(v, (list, tuple)) for v in value)):
        if len(value) != len(names):
            raise ValueError(
                f"`{argument}` has {len(value)} entries but the model has {len(names)} outputs "
                f"({names}); give one entry per output, or a dict keyed by output name. "
                f"Received: {argument}={value!r}")
        return list(value)
    return [value] * len(names)


class CompiledLoss:
    """The losses of every output and their weights; the total and its gradients."""

    def __init__(self, loss, loss_weights, output_names):
        self.names = list(output_names)
        identifiers = _per_output(loss, self.names, "loss", None)
        if all(identifier is None for identifier in identifiers):
            raise ValueError("compile() needs a loss, e.g. loss='mse'. Received: loss=None")
        self.losses = [None if identifier is None else losses.get(identifier)
                       for identifier in identifiers]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, self.names,
                              "loss_weights", 1.0)
        for name, weight in zip(self.names, weights):
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) \
                    or not np.isfinite(weight):
                raise ValueError(f"`loss_weights` must be finite numbers. Received: "
                                 f"{weight!r} for output '{name}'")
        self.weights = [float(w) for w in weights]

    def check_targets(self, ys, output_shapes):
        for loss, y, shape in zip(self.losses, ys, output_shapes):
            if loss is not None:
                losses.check_targets(loss, y.shape, (len(y),) + tuple(shape[1:]), y_true=y)

    def __call__(self, ys, predictions):
        """(total loss, [loss of each output or None])."""
        values = [None if loss is None else loss(y, p)
                  for loss, y, p in zip(self.losses, ys, predictions)]
        total = sum(w * v for w, v in zip(self.weights, values) if v is not None)
        return total, values

    def gradients(self, ys, predictions):
        """d total / d prediction of each output (None for outputs without a loss)."""
        return [None if loss is None else loss.gradient(y, p) * w
                for loss, w, y, p in zip(self.losses, self.weights, ys, predictions)]


class CompiledMetrics:
    """The metrics of every output, resolved from the first targets' shapes (Keras 3's rule)."""

    def __init__(self, metrics, output_names):
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError(f"`metrics` must be a list or a dict. Received: metrics={metrics!r}")
        self.names = list(output_names)
        per_output = _per_output(metrics or [], self.names, "metrics", [])
        self.identifiers = [list(m) if isinstance(m, (list, tuple)) else [m] for m in per_output]
        for identifiers in self.identifiers:
            for identifier in identifiers:
                metrics_module.validate(identifier)
        self.metrics = None  # [[Metric]] per output, once shapes are known

    def resolve(self, ys, output_shapes):
        if self.metrics is None:
            self.metrics = [
                [metrics_module.resolve(m, y.shape, (len(y),) + tuple(shape[1:]))
                 for m in identifiers]
                for identifiers, y, shape in zip(self.identifiers, ys, output_shapes)]

    def update(self, ys, predictions):
        for metrics, y, p in zip(self.metrics, ys, predictions):
            for metric in metrics:
                metric.update_state(y, p)

    def reset(self):
        for metric in self._flat():
            metric.reset_state()

    def _flat(self):
        return [m for metrics in (self.metrics or []) for m in metrics]

    def logs(self):
        """{name: value}: the metric's name, prefixed by the output's with several outputs."""
        several = len(self.names) > 1
        return {(f"{name}_{metric.name}" if several else metric.name): metric.result()
                for name, metrics in zip(self.names, self.metrics or [])
                for metric in metrics}

    def metric_names(self):
        several = len(self.names) > 1
        return [f"{name}_{m if isinstance(m, str) else getattr(m, 'name', str(m))}"
                if several else (m if isinstance(m, str) else getattr(m, "name", str(m)))
                for name, identifiers in zip(self.names, self.identifiers) for m in identifiers]
