"""A shared test helper: gradients through a model's whole graph against central differences."""

import numpy as np

from minilstm.kernels.gradcheck import numerical_gradient


def check_graph_gradients(model, xs, seed=0):
    """L = Σ_k Σ outputs_k · dy_k; every weight's and input's gradient against central
    differences, through model._graph (forward with training=True; no dropout in these models)."""
    rng = np.random.default_rng(seed)
    outputs, _ = model._graph.forward(xs, training=True)
    dys = [rng.standard_normal(o.shape) for o in outputs]

    def loss():
        result, _ = model._graph.forward(xs, training=True)
        return float(sum((o * d).sum() for o, d in zip(result, dys)))

    model._graph.forward(xs, training=True)
    input_grads = model._graph.backward(dys)
    for weight, grad in zip(model.weights, model._graph.weight_gradients()):
        np.testing.assert_allclose(grad, numerical_gradient(loss, weight), rtol=1e-5, atol=1e-9)
    for x, grad in zip(xs, input_grads):
        np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-5, atol=1e-9)
