"""What `compile` sets up for a model with one or several outputs: losses and metrics.

Keras's rules: `loss` is one loss for every output, a list (one per output)
or a dict keyed by output name; `loss_weights` likewise; the total loss is
Σ_k w_k · loss_k. `metrics` is a list (for every output), a list of lists or
a dict. With several outputs the logs also hold `<output>_loss` and
`<output>_<metric>`, named after the layer that produced the output.
"""

import numpy as np

from .. import losses, metrics as metrics_module
from ..backend import epsilon, get_array_module


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


def _expand_to(weight, rank):
    """A per-sample (B,) or per-step (B, T) weight with trailing axes added up to `rank`."""
    while weight.ndim < rank:
        weight = weight[..., None]
    return weight


def weighted_loss(loss, y, p, sample_weight=None, mask=None, gradient=False):
    """One output's loss under Keras 3's "sum_over_batch_size" reduction, and its gradient.

    Per-sample values v (shape (B,) or (B, T)) times the weights w = sample_weight
    (and the output mask, for masked timesteps) are summed and divided by the
    number of values N, or with a mask by the number of unmasked values:

        L = Σ w·v / D,   D = N (no mask) or Σ mask + ε (Keras's apply_mask)
        dL/dp = (d mean(v)/dp) · w · N / D      (mean(v) is what loss.gradient differentiates)
    """
    if sample_weight is None and mask is None:
        return loss.value_and_gradient(y, p) if gradient else (loss(y, p), None)
    xp = get_array_module(p)
    values = xp.asarray(loss.call(y, p))
    weight = xp.ones(values.shape, dtype=values.dtype)
    if sample_weight is not None:
        weight = weight * _expand_to(xp.asarray(sample_weight, dtype=values.dtype), values.ndim)
    divisor = values.size
    if mask is not None and tuple(mask.shape) == tuple(values.shape):
        weight = weight * mask.astype(values.dtype)
        divisor = float(mask.sum()) + epsilon()
    value = xp.asarray((values * weight).sum() / divisor, dtype=values.dtype)
    if not gradient:
        return value, None
    scale = _expand_to(weight * (values.size / divisor), p.ndim)
    return value, (loss.gradient(y, p) * scale).astype(p.dtype, copy=False)


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

    def __call__(self, ys, predictions, sample_weights=None, masks=None, gradients=False):
        """(total loss, [loss of each output or None], [d total / d prediction or None]).

        The gradients are computed only when asked for (training).
        """
        sample_weights = sample_weights or [None] * len(ys)
        masks = masks or [None] * len(ys)
        values, grads = [], []
        for loss, weight, y, p, sw, mask in zip(self.losses, self.weights, ys, predictions,
                                               sample_weights, masks):
            if loss is None:
                values.append(None)
                grads.append(None)
                continue
            value, grad = weighted_loss(loss, y, p, sw, mask, gradients)
            values.append(value)
            # (a weight of 1, the default, would only copy the gradient)
            grads.append(grad if grad is None or weight == 1.0 else grad * weight)
        if len(values) == 1 and self.weights[0] == 1.0:
            return values[0], values, grads  # one output, weight 1: its loss is the total
        total = sum(w * v for w, v in zip(self.weights, values) if v is not None)
        return total, values, grads


def _combine(sample_weight, mask, prediction):
    """The weight a metric sees: the sample weight times the timestep mask, or None."""
    if mask is not None and mask.ndim == prediction.ndim - 1:
        mask = mask.astype(prediction.dtype)
        if sample_weight is None:
            return mask
        return mask * _expand_to(get_array_module(mask).asarray(sample_weight), mask.ndim)
    return sample_weight


class CompiledMetrics:
    """The metrics of every output, resolved from the first targets' shapes (Keras 3's rule)."""

    def __init__(self, metrics, output_names, weighted_metrics=None):
        for argument, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise TypeError(f"`{argument}` must be a list or a dict. Received: "
                                f"{argument}={value!r}")
        self.names = list(output_names)
        per_output = _per_output(metrics or [], self.names, "metrics", [])
        weighted = _per_output(weighted_metrics or [], self.names, "metrics", [])
        self.identifiers = [list(m) if isinstance(m, (list, tuple)) else [m] for m in per_output]
        self._weighted_count = [len(w) if isinstance(w, (list, tuple)) else 1 for w in weighted]
        self.identifiers = [ids + (list(w) if isinstance(w, (list, tuple)) else [w])
                            for ids, w in zip(self.identifiers, weighted)]
        self._weighted = []
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
            # the last `weighted_count` metrics of each output are the weighted_metrics
            self._weighted = [metric for metrics, count in zip(self.metrics, self._weighted_count)
                              for metric in metrics[len(metrics) - count:] if count]

    def update(self, ys, predictions, sample_weights=None, masks=None):
        """Adds a batch: output masks weigh every metric; sample weights only weighted ones."""
        sample_weights = sample_weights or [None] * len(ys)
        masks = masks or [None] * len(ys)
        for metrics, y, p, sw, mask in zip(self.metrics, ys, predictions, sample_weights, masks):
            for metric in metrics:
                weight = _combine(sw if metric in self._weighted else None, mask, p)
                metric.update_state(y, p, sample_weight=weight)

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
