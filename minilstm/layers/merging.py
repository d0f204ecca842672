"""Merging layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

Each takes a list of arrays and returns one; `backward(dy)` returns one gradient per
input, as a list. The functional forms (`concatenate(inputs)`, `add(inputs)`, ...)
make the layer and call it, as Keras does.

Elementwise merges broadcast as Keras 3 does: an input of lower rank gets axes of
size 1 inserted after the batch axis, then axes of size 1 stretch; the backward pass
sums the gradient back over the stretched axes.

Masks (Keras 3): an elementwise merge's output mask is the OR of its inputs' masks
(None when any input has none); Concatenate concatenates the masks along its axis
(unmasked inputs count as all True) and reduces over the last axis; Dot drops them.
Multiply, Maximum and Minimum also let masked positions of one input fall back to the
others' values, as Keras 3's merge functions do.
"""

import numpy as np

from .. import backend
from .base import Layer
from .node import is_symbolic


def _as_shapes(input_shape, layer):
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
            isinstance(s, (list, tuple)) for s in input_shape):
        raise ValueError(f"A merge layer ({layer}) should be called on a list of inputs. "
                         f"Received: input_shape={input_shape} (not a list of shapes)")
    return [tuple(s) for s in input_shape]


def _check_batch(shapes):
    batch_sizes = {s[0] for s in shapes if s} - {None}
    if len(batch_sizes) > 1:
        raise ValueError("Cannot merge tensors with different batch sizes. "
                         f"Received tensors with shapes {shapes}")


def _broadcast_shape(shape1, shape2):
    """Keras's elementwise output shape of two shapes without their batch axis."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    output = list(shape1[:len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
        if i is None or j is None:
            output.append(None)
        elif i == 1 or j == 1:
            output.append(j if i == 1 else i)
        elif i != j:
            raise ValueError("Inputs have incompatible shapes. "
                             f"Received shapes {tuple(shape1)} and {tuple(shape2)}")
        else:
            output.append(i)
    return tuple(output)


def _expand_mask(mask, shape, xp):
    """A (batch, timesteps) mask broadcast to the full shape of its input."""
    mask = xp.asarray(mask).astype(bool)
    while mask.ndim < len(shape):
        mask = mask[..., None]
    return xp.broadcast_to(mask, shape)


class _Merge(Layer):
    """Base of the merging layers: list-of-arrays calls, shape checks, mask rules."""

    supports_masking = True

    def build(self, input_shape):
        shapes = _as_shapes(input_shape, type(self).__name__)
        super().build(shapes)
        self.input_shape = shapes

    def compute_output_shape(self, input_shape):
        shapes = _as_shapes(input_shape, type(self).__name__)
        self._check_count(shapes)
        _check_batch(shapes)
        output = shapes[0][1:]
        for shape in shapes[1:]:
            output = _broadcast_shape(output, shape[1:])
        batch = ({s[0] for s in shapes} - {None}) or {None}
        return (batch.pop(),) + tuple(output)

    def _check_count(self, shapes):
        """Subtract and Dot take exactly two inputs."""

    def _check_call_shape(self, shape):
        self.compute_output_shape(shape)  # a shared merge layer re-checks each call

    def compute_mask(self, inputs, mask=None):
        """The OR of the input masks, or None when any input has none (Keras 3)."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(f"`mask` should be a list. Received: mask={mask}")
        if any(m is None for m in mask):
            return None
        xp = backend.get_array_module(mask[0])
        output = xp.asarray(mask[0]).astype(bool)
        for m in mask[1:]:
            output = output | xp.asarray(m).astype(bool)
        return output

    def __call__(self, inputs, training=False, mask=None):
        """Applies the layer to a list of arrays, or records a graph node for KerasTensors."""
        if is_symbolic(inputs):
            return super().__call__(inputs, training=training)
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer ({type(self).__name__}) should be called on a "
                             f"list of inputs. Received: inputs of type {type(inputs).__name__}"
                             " (not a list of tensors)")
        xp = backend.xp()
        arrays = [xp.asarray(x, dtype=self.dtype or backend.floatx()) for x in inputs]
        shapes = [(None,) + tuple(x.shape[1:]) for x in arrays]
        if not self.built:
            self.build(shapes)
        return self.forward(arrays, training=training, mask=mask)

    def _checked_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer ({type(self).__name__}) should be called on a "
                             "list of inputs.")
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return list(inputs)


class _Elementwise(_Merge):
    """Elementwise merges: inputs broadcast to one shape, then `_merge` / `_merge_backward`."""

    def forward(self, inputs, training=False, mask=None):
        inputs = self._checked_inputs(inputs)
        xp = backend.get_array_module(inputs[0])
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        rank = len(shape)
        expanded = []
        for x in inputs:  # Keras: a lower-rank input gets axes inserted at 1
            expanded.append(x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]))
        full = [xp.broadcast_to(x, shape) for x in expanded]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        masks = [None if m is None or x.ndim != rank else _expand_mask(m, shape, xp)
                 for m, x in zip(masks, inputs)]
        output, extra = self._merge(full, masks, xp)
        self._cache = ([x.shape for x in inputs], [x.shape for x in expanded], extra)
        return output

    def backward(self, dy):
        shapes, expanded_shapes, extra = self._cache
        grads = self._merge_backward(dy, extra)
        self.grads = []
        return [_unbroadcast(g, e).reshape(s) for g, e, s in zip(grads, expanded_shapes, shapes)]

    def _merge(self, inputs, masks, xp):
        """(output, what `_merge_backward` needs) for inputs of one shape."""
        raise NotImplementedError

    def _merge_backward(self, dy, extra):
        """One gradient per input, each of the output's shape."""
        raise NotImplementedError


def _unbroadcast(grad, shape):
    """Sums `grad` over the axes that broadcasting stretched, back to `shape`."""
    axes = tuple(k for k, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class Add(_Elementwise):
    """Adds a list of inputs elementwise.

    Input shape: a list of arrays of one shape (or broadcastable, as Keras).
    Output shape: that shape.

    >>> import numpy as np
    >>> Add()([np.ones((2, 3)), np.ones((2, 3))])[0].tolist()
    [2.0, 2.0, 2.0]
    """

    def _merge(self, inputs, masks, xp):
        return sum(inputs[1:], inputs[0].copy()), len(inputs)

    def _merge_backward(self, dy, count):
        return [dy] * count


class Subtract(_Elementwise):
    """Subtracts two inputs: `inputs[0] - inputs[1]`.

    >>> import numpy as np
    >>> Subtract()([np.full((1, 2), 3.0), np.ones((1, 2))]).tolist()
    [[2.0, 2.0]]
    """

    def _check_count(self, shapes):
        if len(shapes) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: input_shape={shapes}")

    def _merge(self, inputs, masks, xp):
        return inputs[0] - inputs[1], None

    def _merge_backward(self, dy, extra):
        return [dy, -dy]


class Average(_Elementwise):
    """Averages a list of inputs elementwise.

    >>> import numpy as np
    >>> Average()([np.zeros((1, 2)), np.full((1, 2), 4.0)]).tolist()
    [[2.0, 2.0]]
    """

    def _merge(self, inputs, masks, xp):
        return sum(inputs[1:], inputs[0].copy()) / len(inputs), len(inputs)

    def _merge_backward(self, dy, count):
        return [dy / count] * count


class Multiply(_Elementwise):
    """Multiplies a list of inputs elementwise.

    With masks (Keras 3): a masked position of one input counts as 1; when every input
    has a mask, positions masked in all inputs output 0.

    >>> import numpy as np
    >>> Multiply()([np.full((1, 2), 3.0), np.full((1, 2), 2.0)]).tolist()
    [[6.0, 6.0]]
    """

    def _merge(self, inputs, masks, xp):
        factors = [x if m is None else xp.where(m, x, xp.ones_like(x))
                   for x, m in zip(inputs, masks)]
        output = factors[0].copy()
        for factor in factors[1:]:
            output = output * factor
        keep = None
        if all(m is not None for m in masks):
            keep = masks[0]
            for m in masks[1:]:
                keep = keep | m
            output = xp.where(keep, output, xp.zeros_like(output))
        return output, (factors, masks, keep)

    def _merge_backward(self, dy, extra):
        factors, masks, keep = extra
        grads = []
        for i, mask in enumerate(masks):
            grad = dy
            for j, factor in enumerate(factors):
                if j != i:  # the product of the others; no division, so zeros are safe
                    grad = grad * factor
            if mask is not None:
                grad = grad * mask
            if keep is not None:
                grad = grad * keep
            grads.append(grad)
        return grads


class _Extremum(_Elementwise):
    """Maximum / Minimum: each output element is one input's element.

    The gradient goes to that input only; on ties, to the first input holding the
    extreme value (a documented choice: the maximum is not differentiable there).
    """

    def _better(self, candidate, current):
        raise NotImplementedError

    def _merge(self, inputs, masks, xp):
        # Keras 3's `_apply_merge_op_and_or_mask`, tracking which input each value came from.
        output, source, output_mask = inputs[0], xp.zeros(inputs[0].shape, dtype=np.int64), masks[0]
        for index, (x, mask) in enumerate(zip(inputs[1:], masks[1:]), start=1):
            x_source = xp.full(x.shape, index, dtype=np.int64)
            if mask is not None:
                x, x_source = xp.where(mask, x, output), xp.where(mask, x_source, source)
            if output_mask is not None:
                output = xp.where(output_mask, output, x)
                source = xp.where(output_mask, source, x_source)
            output_mask = (output_mask | mask if mask is not None and output_mask is not None
                           else None)
            take = self._better(x, output)  # strict: ties keep the earlier input
            output, source = xp.where(take, x, output), xp.where(take, x_source, source)
        return output.copy(), (source, len(inputs))

    def _merge_backward(self, dy, extra):
        source, count = extra
        return [dy * (source == i) for i in range(count)]


class Maximum(_Extremum):
    """Elementwise maximum of a list of inputs (gradient to the first maximum on ties).

    >>> import numpy as np
    >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    def _better(self, candidate, current):
        return candidate > current


class Minimum(_Extremum):
    """Elementwise minimum of a list of inputs (gradient to the first minimum on ties).

    >>> import numpy as np
    >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    def _better(self, candidate, current):
        return candidate < current


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`.

    Args:
        axis: the axis to concatenate along; default -1 (features). Every other axis
            must match.

    Input shape: a list of arrays of one rank, equal except along `axis`.
    Output shape: that shape, with `axis` the sum of the inputs' sizes.

    >>> import numpy as np
    >>> Concatenate(axis=1)([np.zeros((2, 2, 5)), np.ones((2, 1, 5))]).shape
    (2, 3, 5)
    """

    def __init__(self, axis=-1, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"`axis` of Concatenate must be an integer. Received: axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = _as_shapes(input_shape, "Concatenate")
        error = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                 f"concatenation axis. Received: input_shape={shapes}")
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(error)
        if not -rank <= self.axis < rank:
            raise ValueError(f"`axis`={self.axis} is out of range for inputs of rank {rank}. "
                             f"Received: input_shape={shapes}")
        axis = self.axis % rank
        output = list(shapes[0])
        for k in range(rank):
            sizes = [s[k] for s in shapes]
            if k == axis:
                output[k] = None if None in sizes else sum(sizes)
            elif len(set(sizes) - {None}) > 1:
                raise ValueError(error)
            else:
                output[k] = next((d for d in sizes if d is not None), None)
        return tuple(output)

    def forward(self, inputs, training=False, mask=None):
        inputs = self._checked_inputs(inputs)
        xp = backend.get_array_module(inputs[0])
        self._cache = [x.shape[self.axis] for x in inputs]
        return xp.concatenate(inputs, axis=self.axis)

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        splits = np.cumsum(self._cache)[:-1].tolist()
        self.grads = []
        return list(xp.split(dy, splits, axis=self.axis))

    def compute_mask(self, inputs, mask=None):
        """Keras 3: the masks (all True for an unmasked input) concatenated along `axis`,
        then reduced with any() over the last axis."""
        if mask is None or all(m is None for m in mask):
            return None
        xp = backend.get_array_module(next(m for m in mask if m is not None))
        full = [xp.ones(x.shape, dtype=bool) if m is None else _expand_mask(m, x.shape, xp)
                for x, m in zip(inputs, mask)]
        return xp.concatenate(full, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis, xp):
    """Keras's `normalize`: x * min(1 / ||x||, 1 / epsilon) along `axis`; (y, scale, clamped)."""
    square_sum = (x * x).sum(axis=axis, keepdims=True)
    limit = 1.0 / backend.epsilon()
    with np.errstate(divide="ignore"):
        inverse = 1.0 / xp.sqrt(square_sum)
    clamped = inverse >= limit
    scale = xp.where(clamped, limit, inverse).astype(x.dtype)
    return x * scale, scale, clamped


def _l2_normalize_backward(dy, y, scale, clamped, axis):
    # y = x/||x||: dx = (dy - y * Σ dy·y) / ||x||; where the scale is clamped it is a constant.
    projection = (dy * y).sum(axis=axis, keepdims=True)
    return (dy - y * (projection * ~clamped)) * scale


class Dot(_Merge):
    """Dot product of two inputs along one axis of each, sample by sample.

    For inputs x (B, *a) and y (B, *b) and axes (i, j), the output is
    (B, *a without axis i, *b without axis j), as Keras's `batch_dot`; a result
    with only the batch axis left is (B, 1).

    Args:
        axes: an integer, or a pair (axis of x, axis of y); negative counts from the end;
            the batch axis 0 cannot be one.
        normalize: whether to L2-normalise each input along its dot axis first, so the
            output is the cosine similarity; default False.

    >>> import numpy as np
    >>> x = np.arange(10.0).reshape(1, 5, 2)
    >>> y = np.arange(10.0, 20.0).reshape(1, 2, 5)
    >>> Dot(axes=(1, 2))([x, y]).tolist()
    [[[260.0, 360.0], [320.0, 445.0]]]
    """

    supports_masking = True

    def __init__(self, axes, normalize=False, **kwargs):
        if isinstance(axes, bool) or not isinstance(axes, (int, np.integer, list, tuple)):
            raise TypeError("Invalid type for argument `axes`: it should be a list or an int. "
                            f"Received: axes={axes!r}")
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError("Invalid format for argument `axes`: it should contain two "
                                 f"elements. Received: axes={axes}")
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
                raise ValueError("Invalid format for argument `axes`: list elements should be "
                                 f"integers. Received: axes={axes}")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"`normalize` of Dot must be True or False. "
                            f"Received: normalize={normalize!r}")
        super().__init__(**kwargs)
        self.axes = (tuple(int(a) for a in axes) if isinstance(axes, (list, tuple))
                     else int(axes))
        self.normalize = bool(normalize)

    def _check_count(self, shapes):
        if len(shapes) != 2:
            raise ValueError("A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={shapes}")

    def _resolved_axes(self, shape1, shape2):
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        resolved = []
        for axis, shape in zip(axes, (shape1, shape2)):
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"Invalid `axes`={self.axes} for inputs of shapes {shape1} "
                                 f"and {shape2}: axis {axis} is out of range.")
            resolved.append(axis % len(shape))
        if 0 in resolved:
            raise ValueError("Cannot perform batch_dot over axis 0 (the batch axis). "
                             f"Received: axes={self.axes} for inputs of shapes {shape1} and "
                             f"{shape2}.")
        return resolved

    def compute_output_shape(self, input_shape):
        shapes = _as_shapes(input_shape, "Dot")
        self._check_count(shapes)
        _check_batch(shapes)
        shape1, shape2 = shapes
        if len(shape1) < 2 or len(shape2) < 2:
            raise ValueError("Cannot do batch_dot on inputs with rank < 2. "
                             f"Received inputs with shapes {shape1} and {shape2}.")
        axis1, axis2 = self._resolved_axes(shape1, shape2)
        if None not in (shape1[axis1], shape2[axis2]) and shape1[axis1] != shape2[axis2]:
            raise ValueError(f"Incompatible input shapes: axis values {shape1[axis1]} (at axis "
                             f"{axis1}) != {shape2[axis2]} (at axis {axis2}). Full input "
                             f"shapes: {shape1}, {shape2}")
        batch = shape1[0] if shape1[0] is not None else shape2[0]
        rest = [d for k, d in enumerate(shape1) if k not in (0, axis1)]
        rest += [d for k, d in enumerate(shape2) if k not in (0, axis2)]
        return (batch,) + tuple(rest or [1])

    def forward(self, inputs, training=False, mask=None):
        x, y = self._checked_inputs(inputs)
        xp = backend.get_array_module(x)
        axis1, axis2 = self._resolved_axes(x.shape, y.shape)
        norms = None
        if self.normalize:
            x, *x_norm = _l2_normalize(x, axis1, xp)
            y, *y_norm = _l2_normalize(y, axis2, xp)
            norms = (x, x_norm, y, y_norm)
        # (B, M, K) @ (B, K, N): x's dot axis moved last, y's moved next to the batch axis.
        x_moved, y_moved = xp.moveaxis(x, axis1, -1), xp.moveaxis(y, axis2, 1)
        x_rows = x_moved.reshape(x.shape[0], -1, x.shape[axis1])
        y_cols = y_moved.reshape(y.shape[0], y.shape[axis2], -1)
        output = x_rows @ y_cols
        self._cache = (x_rows, y_cols, x_moved.shape, y_moved.shape, (axis1, axis2), norms)
        return output.reshape(self.compute_output_shape([x.shape, y.shape]))

    def backward(self, dy):
        x_rows, y_cols, x_moved_shape, y_moved_shape, (axis1, axis2), norms = self._cache
        xp = backend.get_array_module(dy)
        d_out = dy.reshape(x_rows.shape[0], x_rows.shape[1], y_cols.shape[2])
        dx = xp.moveaxis((d_out @ xp.swapaxes(y_cols, 1, 2)).reshape(x_moved_shape), -1, axis1)
        dy_in = xp.moveaxis((xp.swapaxes(x_rows, 1, 2) @ d_out).reshape(y_moved_shape), 1, axis2)
        if norms is not None:
            x_normalized, x_norm, y_normalized, y_norm = norms
            dx = _l2_normalize_backward(dx, x_normalized, *x_norm, axis1)
            dy_in = _l2_normalize_backward(dy_in, y_normalized, *y_norm, axis2)
        self.grads = []
        return [dx, dy_in]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


# -- functional forms: make the layer and call it, as keras.layers.add(...) does -----------

def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`: `Concatenate(axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of `Add`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract` (exactly two inputs)."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of `Dot`; `axes` defaults to -1 as in Keras 3."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
