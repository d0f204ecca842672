"""Graph: the layer calls between a model's inputs and outputs, run forward and backward.

The graph is found by walking back from the output tensors through the
Nodes that layer calls recorded (`minilstm/layers/node.py`), and kept in
topological order. Forward runs the nodes in that order on arrays, passing
masks along (`compute_mask`); backward runs them in reverse, summing the
gradients that reach one tensor from several consumers (fan-out) and the
weight gradients of a layer called at several nodes (shared layers). A layer
keeps what its backward needs in `_cache`, which is saved per node after each
forward call and put back before that node's backward.
"""

import collections

from .. import backend
from ..layers.base import keeps_cache
from ..layers.input_layer import InputLayer


def _autocast(layer, x, several):
    """Float inputs cast to the dtype of the layer's weights, as Keras autocasts.

    Returns (x, the dtype it had, or None when nothing was cast).
    """
    weights = layer.weights
    if several or not weights or getattr(x, "dtype", None) is None or x.dtype.kind != "f" \
            or x.dtype == weights[0].dtype or weights[0].dtype.kind != "f":
        return x, None
    return x.astype(weights[0].dtype), x.dtype


def _add(table, key, value):
    """table[key] += value (key: a tensor's id), where None means 'no gradient yet'."""
    if value is None:
        return
    table[key] = value if table.get(key) is None else table[key] + value


# A node as forward and backward walk it: the ids of the tensors it reads (inputs, then
# initial states) and writes, worked out once (a batch-1 training step notices the
# microseconds), and whether every input is a model input (its gradient is never read).
_Step = collections.namedtuple("_Step", "node layer inputs states outputs reads_only_data")


class Graph:
    """The nodes from `inputs` to `outputs`, in an order every node's inputs come first.

    Args:
        inputs: the model's input KerasTensors (from `Input`).
        outputs: the KerasTensors the model returns.
    """

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.nodes = self._topological_order()
        self.layers = []  # each layer once, in order of first use (InputLayers included)
        for node in self.nodes:
            if node.layer not in self.layers:
                self.layers.append(node.layer)
        model_inputs = {id(t) for t in self.inputs}
        self._steps = [
            _Step(node, node.layer, [id(t) for t in node.inputs],
                  [id(t) for t in node.state_inputs], [id(t) for t in node.outputs],
                  all(id(t) in model_inputs for t in node.inputs))
            for node in self.nodes if not isinstance(node.layer, InputLayer)]
        self._saved = None  # per step: (the layer's cache, the dtype its input was cast from)
        self.layer_grads = {}

    def _topological_order(self):
        order, done, active = [], set(), set()
        input_ids = {id(t) for t in self.inputs}

        def visit(tensor, consumer):
            node = tensor.node
            if node is None:
                raise ValueError(f"{tensor} was not produced by a layer call or `Input`.")
            if id(node) in done:
                return
            if id(node) in active:
                raise ValueError("The layer graph has a cycle; a model must be acyclic.")
            if isinstance(node.layer, InputLayer) and id(tensor) not in input_ids:
                raise ValueError(
                    f"Graph disconnected: cannot obtain value for tensor {tensor} at layer "
                    f"'{consumer}'. The input '{node.layer.name}' is not one of the model's "
                    "inputs: pass it in `Model(inputs=[...], ...)`.")
            active.add(id(node))
            for parent in node.parents:
                visit(parent, node.layer.name)
            active.discard(id(node))
            done.add(id(node))
            order.append(node)

        for tensor in self.inputs:
            if tensor.node is None or not isinstance(tensor.node.layer, InputLayer):
                raise ValueError(
                    f"Every model input must come from `minilstm.Input(...)`. Received: {tensor}")
        for tensor in self.outputs:
            visit(tensor, "the model's outputs")
        return order

    # -- forward ---------------------------------------------------------------------

    def forward(self, arrays, training=False, masks=None):
        """Runs every node on the input arrays: (outputs, output masks), lists."""
        values, mask_of = {}, {}
        for k, tensor in enumerate(self.inputs):
            values[id(tensor)] = arrays[k]
            mask_of[id(tensor)] = None if masks is None else masks[k]
        saved = []
        for node, layer, inputs, states, output_keys, _ in self._steps:
            if node.multiple_inputs:
                x, mask = [values[k] for k in inputs], [mask_of[k] for k in inputs]
            else:
                x, mask = values[inputs[0]], mask_of[inputs[0]]
            options = {"initial_state": [values[k] for k in states]} if states else {}
            x, cast_from = _autocast(layer, x, node.multiple_inputs)
            output = layer.forward(x, training=training, mask=mask, **options)
            output_mask = layer.compute_mask(x, mask)
            saved.append((getattr(layer, "_cache", None), cast_from))
            outputs = output if node.multiple_outputs else [output]
            output_masks = (output_mask if isinstance(output_mask, list)
                            else [output_mask] * len(outputs))
            for key, value, value_mask in zip(output_keys, outputs, output_masks):
                values[key] = value
                mask_of[key] = value_mask
        # Inside no_cache() (predict, evaluate) the layers kept nothing to go back with.
        self._saved = saved if keeps_cache() else None
        return [values[id(t)] for t in self.outputs], [mask_of[id(t)] for t in self.outputs]

    # -- backward --------------------------------------------------------------------

    def backward(self, output_grads, input_grads=True):
        """Gradients of the inputs (list; None where none flows) from those of the outputs.

        Fills `layer_grads`: layer -> gradients aligned with `layer.weights`, summed
        over every node that calls the layer. input_grads=False (a training step,
        which reads only `layer_grads`) returns None for the inputs and lets layers
        that read only the inputs skip that gradient (`skips_input_gradient`).
        """
        if self._saved is None:
            raise RuntimeError("Graph.backward needs a forward first, outside `no_cache()` "
                               "(predict and evaluate keep no cache).")
        grads = {}
        for tensor, grad in zip(self.outputs, output_grads):
            _add(grads, id(tensor), grad)
        self.layer_grads = {}
        for (node, layer, inputs, states, outputs, reads_only_data), saved in zip(
                reversed(self._steps), reversed(self._saved)):
            output_grads = [grads.get(k) for k in outputs]
            if all(g is None for g in output_grads):
                continue
            layer._cache, cast_from = saved
            options = {}
            if not input_grads and reads_only_data and layer.skips_input_gradient:
                options["input_grad"] = False  # its input is data: nothing reads dx
            dx = layer.backward(output_grads if node.multiple_outputs else output_grads[0],
                                **options)
            if cast_from is not None and dx is not None:
                dx = dx.astype(cast_from)
            if layer.weights:
                self._accumulate(layer, layer.grads)
            for key, grad in zip(inputs, dx if node.multiple_inputs else [dx]):
                _add(grads, key, grad)
            for key, grad in zip(states, getattr(layer, "initial_state_grads", [])):
                _add(grads, key, grad)
        return [grads.get(id(t)) for t in self.inputs] if input_grads else [None] * len(self.inputs)

    def weight_gradients(self):
        """The gradients of every layer's weights, in the order of the layers' `weights`,
        zeros for a layer no gradient reached (call after backward)."""
        return [g for layer in self.layers
                for g in self.layer_grads.get(layer) or [
                    backend.get_array_module(w).zeros_like(w) for w in layer.weights]]

    def _accumulate(self, layer, layer_grads):
        previous = self.layer_grads.get(layer)
        self.layer_grads[layer] = (list(layer_grads) if previous is None
                                   else [a + b for a, b in zip(previous, layer_grads)])
