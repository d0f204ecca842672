"""Bidirectional and TimeDistributed: Keras semantics as formulas, and gradients by central
differences through the wrappers, alone and inside models."""

import numpy as np
import pytest

from minilstm import backend
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN, TimeDistributed
from minilstm.models import Model, Sequential


def _gradcheck_layer(layer, x, mask=None, initial_state=None, seed=0):
    backend.set_floatx("float64")
    rng = np.random.default_rng(seed)

    def run():
        outputs = layer.forward(x, training=True, mask=mask, initial_state=initial_state) \
            if initial_state is not None else layer.forward(x, training=True, mask=mask)
        return outputs if isinstance(outputs, list) else [outputs]

    upstream = [rng.standard_normal(np.shape(o)) for o in run()]

    def loss():
        return float(sum((o * d).sum() for o, d in zip(run(), upstream)))

    several = isinstance(layer.forward(x, training=True, mask=mask,
                                       **({"initial_state": initial_state}
                                          if initial_state is not None else {})), list)
    dx = layer.backward(upstream if several else upstream[0])
    grads = list(layer.grads)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-9)
    for weight, grad in zip(layer.weights, grads):
        np.testing.assert_allclose(grad, numerical_gradient(loss, weight), rtol=1e-5, atol=1e-9)
    for state, grad in zip(initial_state or [], getattr(layer, "initial_state_grads", [])):
        np.testing.assert_allclose(grad, numerical_gradient(loss, state), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN], ids=["LSTM", "GRU", "SimpleRNN"])
def test_bidirectional_gradients(cls, merge_mode):
    backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    layer = Bidirectional(cls(3, return_sequences=True), merge_mode=merge_mode)
    layer.build((None, 4, 2))
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1]], bool)
    _gradcheck_layer(layer, rng.standard_normal((3, 4, 2)), mask=mask)


def test_bidirectional_return_state_and_initial_state_gradients():
    backend.set_floatx("float64")
    rng = np.random.default_rng(2)
    layer = Bidirectional(LSTM(3, return_state=True))
    layer.build((None, 4, 2))
    states = [rng.standard_normal((2, 3)) for _ in range(4)]
    _gradcheck_layer(layer, rng.standard_normal((2, 4, 2)), initial_state=states)


def test_bidirectional_is_the_two_directions_merged():
    """concat = [forward layer's output, backward layer's output flipped to input order]."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    layer = Bidirectional(GRU(4, return_sequences=True))
    out = backend.to_numpy(layer(x))
    assert layer.forward_layer.name.startswith("forward_gru")
    assert layer.backward_layer.name.startswith("backward_gru") and layer.backward_layer.go_backwards
    forward = GRU(4, return_sequences=True)
    backward = GRU(4, return_sequences=True, go_backwards=True)
    for single, sub in ((forward, layer.forward_layer), (backward, layer.backward_layer)):
        single.build((None, 5, 3))
        single.set_weights(sub.get_weights())
    expected = np.concatenate([backend.to_numpy(forward(x)),
                               backend.to_numpy(backward(x))[:, ::-1]], axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert len(layer.get_weights()) == 6 and layer.count_params() == 2 * forward.count_params()


def test_bidirectional_argument_errors():
    with pytest.raises(ValueError, match="Invalid merge mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="recurrent layer"):
        Bidirectional(Dense(2))
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="return_sequences"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))


def test_time_distributed_dense_equals_dense_per_step_and_gradients():
    backend.set_floatx("float64")
    rng = np.random.default_rng(4)
    layer = TimeDistributed(Dense(3, activation="tanh"))
    layer.build((None, 4, 2))
    x = rng.standard_normal((2, 4, 2))
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(layer(x), np.tanh(x @ kernel + bias), rtol=1e-12)
    _gradcheck_layer(layer, x)


def test_time_distributed_over_a_small_sequential():
    backend.set_floatx("float64")
    inner = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dense(2)])
    layer = TimeDistributed(inner)
    layer.build((None, 5, 3))
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 2)
    _gradcheck_layer(layer, np.random.default_rng(5).standard_normal((2, 5, 3)))


def test_wrappers_inside_a_model_train_and_count_params(capsys):
    inputs = Input(shape=(6, 2))
    x = Bidirectional(LSTM(4, return_sequences=True))(inputs)
    outputs = TimeDistributed(Dense(1))(x)
    model = Model(inputs, outputs)
    assert model.output_shape == (None, 6, 1)
    assert model.count_params() == 2 * 4 * (4 * (2 + 4) + 4) + (8 + 1)
    model.compile(optimizer="adam", loss="mse")
    x_data = np.random.default_rng(6).random((16, 6, 2)).astype("float32")
    y = np.cumsum(x_data[..., :1], axis=1) / 6
    first = model.evaluate(x_data, y, verbose=0)
    model.fit(x_data, y, epochs=20, batch_size=8, verbose=0)
    assert model.evaluate(x_data, y, verbose=0) < first
    model.summary()
    assert "bidirectional" in capsys.readouterr().out


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_reading_the_data_skips_both_input_gradients(merge_mode, monkeypatch):
    """A training step passes input_grad=False through Bidirectional to both directions;
    the weights' gradients are those of the full backward."""
    rng = np.random.default_rng(4)
    inputs = Input((5, 3))
    bi = Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode)
    outputs = bi(inputs)
    outputs = Dense(1)(outputs if merge_mode else outputs[0])
    model = Model(inputs, outputs)
    seen = []
    for layer in (bi.forward_layer, bi.backward_layer):
        original = layer.backward

        def recording(dy, _original=original, **options):
            seen.append(options)
            return _original(dy, **options)
        monkeypatch.setattr(layer, "backward", recording)
    x = rng.standard_normal((6, 5, 3)).astype("float32")
    graph = model._graph
    dy = [np.ones_like(graph.forward([x], training=True)[0][0])]
    assert graph.backward(dy, input_grads=False) == [None]
    assert seen == [{"input_grad": False}] * 2
    skipped = [g.copy() for g in graph.layer_grads[bi]]
    graph.forward([x], training=True)
    assert graph.backward(dy)[0].shape == x.shape
    for got, expected in zip(skipped, graph.layer_grads[bi]):
        np.testing.assert_array_equal(got, expected)
