"""Symbolic tensors and the nodes that record layer calls: the Functional API's graph.

`Input(shape=...)` returns a `KerasTensor`: a shape and a dtype, no values.
Calling a layer on KerasTensors builds the layer for their shapes, records a
`Node` (this layer, called on these tensors, gave these tensors) and returns
new KerasTensors. `Model(inputs, outputs)` walks the nodes back from its
outputs to find the graph it runs.
"""

import numpy as np


class KerasTensor:
    """A symbolic tensor: the shape and dtype of a value a model will compute.

    Attributes:
        shape: tuple with the batch axis first (None where unknown).
        dtype: dtype name, e.g. 'float32' or 'int32'.
        node: the Node that produced it (its layer is `node.layer`).
        index: which output of that node it is.
        name: the producing layer's name (with the output index when several).
    """

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = str(np.dtype(dtype))
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node, index), as Keras names it."""
        return (self.node.layer if self.node else None, self.node, self.index)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A KerasTensor is symbolic: it has a shape but no values, so it cannot be turned "
            "into a NumPy array. Build a model with `Model(inputs, outputs)` and call "
            "`model.predict(x)` on data, or call the layer on an array instead.")

    def __len__(self):
        raise TypeError(f"A KerasTensor has no length; its shape is {self.shape}.")


class Node:
    """One call of a layer inside a graph.

    Attributes:
        layer: the layer called.
        inputs: the KerasTensors passed positionally, as a list.
        multiple_inputs: whether the layer was called on a list of tensors.
        state_inputs: KerasTensors passed as `initial_state=` (recurrent layers).
        outputs: the KerasTensors returned, as a list.
        multiple_outputs: whether the call returned a list.
    """

    def __init__(self, layer, inputs, multiple_inputs, state_inputs, output_shapes,
                 output_dtype):
        self.layer = layer
        self.inputs = list(inputs)
        self.multiple_inputs = multiple_inputs
        self.state_inputs = list(state_inputs)
        self.multiple_outputs = isinstance(output_shapes, list)
        shapes = output_shapes if self.multiple_outputs else [output_shapes]
        self.outputs = [
            KerasTensor(shape, output_dtype, node=self, index=k,
                        name=layer.name if len(shapes) == 1 else f"{layer.name}_{k}")
            for k, shape in enumerate(shapes)
        ]

    @property
    def parents(self):
        """Tensors this node reads: its inputs, then its initial states."""
        return self.inputs + self.state_inputs

    def output_value(self):
        """What the layer call returned: one tensor, or the list."""
        return self.outputs if self.multiple_outputs else self.outputs[0]

    def __repr__(self):
        return f"<Node {self.layer.name}: {len(self.parents)} in, {len(self.outputs)} out>"


def is_symbolic(value):
    """True when value is a KerasTensor or a (nested) list/tuple holding one."""
    if isinstance(value, KerasTensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(is_symbolic(item) for item in value)
    return False
