"""Conv1D: Keras 3's output lengths and padding as formulas, a direct loop as the oracle,
gradients by float64 central differences (alone and under an LSTM), and errors."""

import os

import numpy as np
import pytest

from minilstm import backend, losses
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers.convolutional import Conv1D
from minilstm.layers.dense import Dense
from minilstm.layers.lstm import LSTM
from minilstm.layers.pooling import MaxPooling1D
from minilstm.models import Sequential


def assert_gradient_close(analytic, numeric):
    """Per entry |analytic - numeric| <= 1e-9 + 1e-5·|numeric| (float64 central differences)."""
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def keras_pads(length, kernel_size, strides, dilation, padding):
    """Keras 3 / TF padding, written out: (left, right, output length)."""
    span = dilation * (kernel_size - 1) + 1
    if padding == "valid":
        return 0, 0, (length - span) // strides + 1
    out = -(-length // strides)  # ceil(L / s)
    if padding == "causal":
        return span - 1, 0, out
    total = max((out - 1) * strides + span - length, 0)
    return total // 2, total - total // 2, out  # the odd step goes right


def conv1d_loop(x, kernel, bias, strides, dilation, padding):
    """y[b, t, f] = Σ_k Σ_c x_pad[b, t*s + k*d, c] · kernel[k, c, f] + bias[f], by loops."""
    batch, length, channels = x.shape
    kernel_size, _, filters = kernel.shape
    left, right, out = keras_pads(length, kernel_size, strides, dilation, padding)
    x_pad = np.concatenate([np.zeros((batch, left, channels)), x,
                            np.zeros((batch, right, channels))], axis=1)
    y = np.zeros((batch, out, filters))
    for b in range(batch):
        for t in range(out):
            for f in range(filters):
                total = bias[f]
                for k in range(kernel_size):
                    for c in range(channels):
                        total += x_pad[b, t * strides + k * dilation, c] * kernel[k, c, f]
                y[b, t, f] = total
    return y


CASES = [  # (length, kernel_size, strides, dilation, padding)
    (10, 3, 1, 1, "valid"), (10, 3, 2, 1, "valid"), (11, 4, 3, 1, "valid"),
    (10, 3, 1, 2, "valid"), (10, 3, 1, 1, "same"), (10, 4, 1, 1, "same"),
    (10, 3, 2, 1, "same"), (11, 4, 3, 1, "same"), (10, 3, 1, 3, "same"),
    (10, 3, 1, 1, "causal"), (10, 2, 1, 3, "causal"), (9, 3, 2, 1, "causal"),
    (5, 5, 1, 1, "valid"), (1, 3, 1, 1, "same"),
]


@pytest.mark.parametrize("length,kernel_size,strides,dilation,padding", CASES)
def test_conv1d_matches_a_direct_loop(length, kernel_size, strides, dilation, padding):
    backend.set_floatx("float64")
    rng = np.random.default_rng(0)
    layer = Conv1D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    x = rng.standard_normal((2, length, 2))
    layer.build((None, length, 2))
    kernel, bias = rng.standard_normal((kernel_size, 2, 3)), rng.standard_normal(3)
    layer.set_weights([kernel, bias])
    expected = conv1d_loop(x, kernel, bias, strides, dilation, padding)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape((None, length, 2)) == (None, expected.shape[1], 3)


@pytest.mark.parametrize("padding,strides,dilation,expected", [
    ("valid", 1, 1, 8), ("valid", 2, 1, 4), ("valid", 3, 1, 3), ("valid", 1, 2, 6),
    ("same", 1, 1, 10), ("same", 2, 1, 5), ("same", 3, 1, 4), ("same", 1, 4, 10),
    ("causal", 1, 1, 10), ("causal", 3, 1, 4), ("causal", 1, 2, 10),
])
def test_output_length_per_padding(padding, strides, dilation, expected):
    """10 steps, kernel 3: valid floor((L - d(K-1) - 1)/s) + 1, same and causal ceil(L/s)."""
    layer = Conv1D(2, 3, strides=strides, padding=padding, dilation_rate=dilation)
    assert layer.compute_output_shape((None, 10, 1)) == (None, expected, 2)
    assert layer(np.ones((1, 10, 1))).shape == (1, expected, 2)
    assert layer.compute_output_shape((None, None, 1)) == (None, None, 2)


def test_same_padding_puts_the_extra_step_on_the_right():
    """Kernel 2, stride 1: one pad step, on the right, so y[t] = x[t]·w0 + x[t+1]·w1."""
    layer = Conv1D(1, 2, padding="same", use_bias=False)
    layer.build((None, 4, 1))
    layer.set_weights([np.array([[[1.0]], [[10.0]]])])
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    np.testing.assert_allclose(layer(x)[0, :, 0], [21.0, 32.0, 43.0, 4.0])


def test_causal_output_never_sees_later_steps():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = np.random.rand(2, 9, 3).astype("float32")
    before = layer(x)
    x[:, 5] += 1.0
    after = layer(x)
    np.testing.assert_array_equal(before[:, :5], after[:, :5])
    assert not np.allclose(before[:, 5:], after[:, 5:])


def test_channels_first_is_channels_last_transposed():
    x = np.random.rand(2, 7, 3).astype("float32")
    last = Conv1D(4, 3, padding="same", strides=2)
    first = Conv1D(4, 3, padding="same", strides=2, data_format="channels_first")
    last.build((None, 7, 3))
    first.build((None, 3, 7))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(x.transpose(0, 2, 1)), last(x).transpose(0, 2, 1),
                               rtol=1e-6)
    assert first.output_shape == (None, 4, 4)


def test_weight_layout_and_glorot_limit_follow_keras():
    layer = Conv1D(8, 5)
    layer.build((None, 20, 3))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3, 8) and bias.shape == (8,)
    limit = np.sqrt(6 / (5 * 3 + 5 * 8))  # fans include the receptive field
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit
    assert not bias.any()
    assert layer.count_params() == 5 * 3 * 8 + 8
    assert Conv1D(2, 3).name.startswith("conv1d")


def test_activation_and_no_bias():
    layer = Conv1D(2, 2, activation="relu", use_bias=False)
    y = layer(np.random.randn(3, 5, 2))
    assert (y >= 0).all() and len(layer.weights) == 1


# -- gradients -----------------------------------------------------------------------


def check_layer_gradients(layer, x, rng, training=True):
    """Analytic dx and weight gradients against central differences of L = Σ y·r."""
    y = layer(x, training=training)
    r = rng.standard_normal(y.shape)

    def loss():
        return float((layer.forward(x, training=training) * r).sum())

    layer.forward(x, training=training)
    dx = layer.backward(r)
    assert_gradient_close(dx, numerical_gradient(loss, x))
    assert len(layer.grads) == len(layer.weights)
    for weight, grad in zip(layer.weights, layer.grads):
        assert grad.shape == weight.shape
        assert_gradient_close(grad, numerical_gradient(loss, weight))


@pytest.mark.parametrize("length,kernel_size,strides,dilation,padding", CASES)
def test_conv1d_gradients_by_finite_differences(length, kernel_size, strides, dilation, padding):
    backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    layer = Conv1D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                   activation="tanh", bias_initializer="random_normal")
    check_layer_gradients(layer, rng.standard_normal((2, length, 2)), rng)


def test_conv1d_gradients_channels_first_no_bias():
    backend.set_floatx("float64")
    rng = np.random.default_rng(2)
    layer = Conv1D(2, 3, strides=2, padding="same", data_format="channels_first",
                   use_bias=False)
    check_layer_gradients(layer, rng.standard_normal((2, 3, 7)), rng)


@pytest.mark.parametrize("loss_name", ["mse", "binary_crossentropy"])
def test_whole_model_gradient_conv_pool_lstm_dense(loss_name):
    """d loss / d every weight through Conv1D -> MaxPooling1D -> LSTM -> Dense -> loss."""
    backend.set_floatx("float64")
    rng = np.random.default_rng(3)
    model = Sequential([Conv1D(4, 3, padding="causal", activation="tanh", input_shape=(8, 2)),
                        MaxPooling1D(), LSTM(3),
                        Dense(1, activation="sigmoid")])
    loss = losses.get(loss_name)
    x, y = rng.standard_normal((5, 8, 2)), rng.random((5, 1))

    def scalar_loss():
        return float(loss(y, model(x, training=True)))

    outputs, _ = model._graph.forward([x], training=True)
    model._graph.backward([loss.gradient(y, outputs[0])])
    analytic = model._graph.weight_gradients()
    assert len(analytic) == len(model.weights) == 2 + 3 + 2
    for weight, grad in zip(model.weights, analytic):
        assert_gradient_close(grad, numerical_gradient(scalar_loss, weight))


def test_model_with_conv1d_trains():
    rng = np.random.default_rng(4)
    model = Sequential([Conv1D(4, 3, padding="same", input_shape=(6, 1)), MaxPooling1D(),
                        LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((32, 6, 1)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (32, 1)


# -- arguments and errors ---------------------------------------------------------------


@pytest.mark.parametrize("kwargs,error,match", [
    ({"filters": 0, "kernel_size": 3}, ValueError, "filters"),
    ({"filters": 2, "kernel_size": 0}, ValueError, "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "strides": 0}, ValueError, "strides"),
    ({"filters": 2, "kernel_size": 3, "padding": "full"}, ValueError, "padding"),
    ({"filters": 2, "kernel_size": 3, "data_format": "nwc"}, ValueError, "data_format"),
    ({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, ValueError,
     "dilation_rate"),
    ({"filters": 2, "kernel_size": 3, "groups": 0}, ValueError, "groups"),
    ({"filters": 2, "kernel_size": 3, "groups": 2}, NotImplementedError, "groups"),
    ({"filters": 2, "kernel_size": 3, "kernel_regularizer": "l2"}, NotImplementedError,
     "kernel_regularizer"),
    ({"filters": 2, "kernel_size": 3, "bias_constraint": "non_neg"}, NotImplementedError,
     "bias_constraint"),
    ({"filters": 2, "kernel_size": 3, "activation": "nope"}, ValueError, "nope"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Conv1D(**kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="expected ndim=3"):
        Conv1D(2, 3)(np.ones((4, 5)))
    with pytest.raises(ValueError, match="zero or negative"):
        Conv1D(2, 5)(np.ones((1, 4, 1)))
    layer = Conv1D(2, 3)
    layer(np.ones((1, 5, 2)))
    with pytest.raises(ValueError, match="expected 2 channels"):
        layer(np.ones((1, 5, 3)))


def test_kernel_size_tuple_and_config_keys():
    layer = Conv1D(4, (3,), strides=(2,), padding="SAME")
    config = layer.get_config()
    assert config["kernel_size"] == (3,) and config["strides"] == (2,)
    assert config["padding"] == "same" and config["data_format"] == "channels_last"
    assert {"filters", "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
            "bias_initializer", "kernel_regularizer", "bias_constraint"} <= set(config)
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"


# -- optional parity with real Keras --------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"padding": "valid"}, {"padding": "same", "strides": 2}, {"padding": "same"},
    {"padding": "causal", "dilation_rate": 2}, {"padding": "valid", "dilation_rate": 3},
    {"padding": "same", "strides": 3, "activation": "tanh"},
    {"padding": "same", "data_format": "channels_first"},
])
def test_keras_parity_conv1d(kwargs):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    shape = (3, 11) if kwargs.get("data_format") == "channels_first" else (11, 3)
    x = rng.standard_normal((2,) + shape).astype("float32")
    theirs = keras.layers.Conv1D(4, 4, **kwargs)
    theirs.build((None,) + shape)
    weights = [rng.standard_normal((4, 3, 4)), rng.standard_normal(4)]
    theirs.set_weights(weights)
    ours = Conv1D(4, 4, **kwargs)
    ours.build((None,) + shape)
    ours.set_weights(weights)
    expected = np.asarray(theirs(x))
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    assert ours.compute_output_shape((None,) + shape) == theirs.compute_output_shape(
        (None,) + shape)
