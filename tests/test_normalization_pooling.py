"""Pooling, SpatialDropout1D, LayerNormalization and BatchNormalization: Keras 3 semantics as
written-out formulas, gradients by float64 central differences, and errors."""

import os

import numpy as np
import pytest

from minilstm import backend, losses
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers.convolutional import Conv1D
from minilstm.layers.dense import Dense
from minilstm.layers.dropout import Dropout
from minilstm.layers.lstm import LSTM
from minilstm.layers.normalization import BatchNormalization, LayerNormalization
from minilstm.layers.pooling import (AveragePooling1D, GlobalAveragePooling1D,
                                     GlobalMaxPooling1D, MaxPooling1D)
from minilstm.layers.regularization import SpatialDropout1D
from minilstm.models import Sequential


def assert_gradient_close(analytic, numeric):
    """Per entry |analytic - numeric| <= 1e-9 + 1e-5·|numeric| (float64 central differences)."""
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def check_layer_gradients(layer, x, rng, training=True, mask=None, weights=slice(None)):
    """Analytic dx and weight gradients (those `weights` selects) against central
    differences of L = Σ y·r."""
    y = layer(x, training=training, mask=mask)
    r = rng.standard_normal(y.shape)

    def loss():
        return float((layer.forward(x, training=training, mask=mask) * r).sum())

    layer.forward(x, training=training, mask=mask)
    dx = layer.backward(r)
    assert dx.shape == x.shape
    assert_gradient_close(dx, numerical_gradient(loss, x))
    assert len(layer.grads) == len(layer.weights)
    for weight, grad in zip(layer.weights[weights], layer.grads[weights]):
        assert grad.shape == weight.shape
        assert_gradient_close(grad, numerical_gradient(loss, weight))


def pool_loop(x, pool_size, strides, padding, mode):
    """Keras/TF pooling by loops: 'same' pads (total // 2 left) and skips the pads."""
    batch, length, channels = x.shape
    if padding == "valid":
        out, left = (length - pool_size) // strides + 1, 0
    else:
        out = -(-length // strides)
        left = max((out - 1) * strides + pool_size - length, 0) // 2
    y = np.zeros((batch, out, channels))
    for t in range(out):
        start = t * strides - left
        window = x[:, max(start, 0):min(start + pool_size, length)]  # real steps only
        y[:, t] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return y


POOL_CASES = [  # (length, pool_size, strides, padding)
    (8, 2, None, "valid"), (9, 2, None, "valid"), (9, 3, 2, "valid"), (10, 3, 1, "valid"),
    (8, 2, None, "same"), (9, 2, None, "same"), (9, 3, 2, "same"), (10, 4, 3, "same"),
    (5, 4, 1, "same"), (3, 3, 3, "valid"),
]


# -- MaxPooling1D / AveragePooling1D ---------------------------------------------------


@pytest.mark.parametrize("layer_class,mode", [(MaxPooling1D, "max"),
                                              (AveragePooling1D, "average")])
@pytest.mark.parametrize("length,pool_size,strides,padding", POOL_CASES)
def test_pooling_matches_a_loop(layer_class, mode, length, pool_size, strides, padding):
    backend.set_floatx("float64")
    x = np.random.default_rng(0).standard_normal((2, length, 3))
    layer = layer_class(pool_size, strides=strides, padding=padding)
    expected = pool_loop(x, pool_size, strides or pool_size, padding, mode)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)
    assert layer.compute_output_shape((None, length, 3)) == (None, expected.shape[1], 3)


@pytest.mark.parametrize("layer_class", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize("length,pool_size,strides,padding", POOL_CASES)
def test_pooling_gradients_by_finite_differences(layer_class, length, pool_size, strides,
                                                 padding):
    backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    layer = layer_class(pool_size, strides=strides, padding=padding)
    check_layer_gradients(layer, rng.standard_normal((2, length, 3)), rng)


def test_average_same_padding_excludes_the_pads_from_the_count():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)  # 1..5; pool 3, stride 1: one pad each side
    np.testing.assert_allclose(AveragePooling1D(3, 1, "same")(x)[0, :, 0],
                               [1.5, 2.0, 3.0, 4.0, 4.5])


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima():
    layer = MaxPooling1D(3)
    x = np.array([[[2.0], [5.0], [5.0], [1.0], [1.0], [1.0]]])
    np.testing.assert_array_equal(layer(x)[0, :, 0], [5.0, 1.0])
    dx = layer.backward(np.array([[[10.0], [7.0]]]))
    np.testing.assert_array_equal(dx[0, :, 0], [0.0, 10.0, 0.0, 7.0, 0.0, 0.0])


def test_overlapping_windows_add_their_gradients():
    layer = AveragePooling1D(2, strides=1)
    layer(np.ones((1, 4, 1)))
    np.testing.assert_allclose(layer.backward(np.ones((1, 3, 1)))[0, :, 0], [0.5, 1, 1, 0.5])


@pytest.mark.parametrize("layer_class", [MaxPooling1D, AveragePooling1D])
def test_pooling_channels_first(layer_class):
    backend.set_floatx("float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 3))
    last = layer_class(3, 2, "same")
    first = layer_class(3, 2, "same", data_format="channels_first")
    np.testing.assert_allclose(first(x.transpose(0, 2, 1)), last(x).transpose(0, 2, 1))
    assert first.compute_output_shape((None, 3, 7)) == (None, 3, 4)
    check_layer_gradients(first, x.transpose(0, 2, 1).copy(), rng)


def test_pooling_errors_and_config():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling1D(0)
    with pytest.raises(ValueError, match="padding"):
        MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="zero or negative"):
        MaxPooling1D(4)(np.ones((1, 3, 1)))
    with pytest.raises(ValueError, match="expected ndim=3"):
        AveragePooling1D()(np.ones((2, 3)))
    config = MaxPooling1D(3).get_config()
    assert config["pool_size"] == (3,) and config["strides"] == (3,)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    assert MaxPooling1D().name.startswith("max_pooling1d")


# -- global pooling ------------------------------------------------------------------


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling_values_shapes_and_gradients(keepdims, data_format):
    backend.set_floatx("float64")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3))  # channels_last view
    axis = 1 if data_format == "channels_last" else 2
    data = x if data_format == "channels_last" else x.transpose(0, 2, 1).copy()
    for layer_class, reduce in [(GlobalMaxPooling1D, np.max), (GlobalAveragePooling1D, np.mean)]:
        layer = layer_class(data_format=data_format, keepdims=keepdims)
        y = layer(data)
        np.testing.assert_allclose(y, reduce(data, axis=axis, keepdims=keepdims))
        assert layer.compute_output_shape(data.shape) == y.shape
        check_layer_gradients(layer, data, rng)


def test_global_average_with_a_mask_averages_unmasked_steps_only():
    backend.set_floatx("float64")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=bool)
    layer = GlobalAveragePooling1D()
    expected = np.stack([x[b, mask[b]].mean(axis=0) for b in range(3)])
    np.testing.assert_allclose(layer(x, mask=mask), expected)
    check_layer_gradients(layer, x, rng, mask=mask)
    assert layer.compute_mask(x, mask) is None
    x[0, 3:] = np.inf  # masked steps never reach the sum
    assert np.isfinite(layer(x, mask=mask)).all()


def test_global_average_all_masked_sample_is_nan_as_in_keras():
    layer = GlobalAveragePooling1D()
    y = layer(np.ones((2, 3, 1)), mask=np.array([[0, 0, 0], [1, 0, 0]]))
    assert np.isnan(y[0]).all() and y[1, 0] == 1.0


def test_global_max_ignores_the_mask_and_ties_go_first():
    layer = GlobalMaxPooling1D()
    x = np.array([[[1.0], [4.0], [4.0]]])
    assert layer(x, mask=np.array([[1, 0, 0]]))[0, 0] == 4.0
    np.testing.assert_array_equal(layer.backward(np.array([[3.0]]))[0, :, 0], [0, 3, 0])


def test_global_average_in_a_model_after_masked_lstm():
    from minilstm.layers import Input
    from minilstm.models import Model

    inputs = Input(shape=(4, 2))
    outputs = GlobalAveragePooling1D()(LSTM(3, return_sequences=True)(inputs))
    model = Model(inputs, outputs)
    assert model.predict(np.ones((2, 4, 2)), verbose=0).shape == (2, 3)


# -- SpatialDropout1D ------------------------------------------------------------------


def test_spatial_dropout_drops_whole_channels_with_inverted_scaling():
    layer = SpatialDropout1D(0.4, seed=3)
    x = np.random.rand(64, 7, 16).astype("float32") + 0.5
    y = layer(x, training=True)
    kept = y != 0  # x > 0 everywhere, so only dropping makes a zero
    np.testing.assert_array_equal(kept, np.broadcast_to(kept[:, :1], kept.shape))
    np.testing.assert_allclose(y, kept * x / 0.6, rtol=1e-6)
    assert 0.3 < (~kept[:, 0]).mean() < 0.5
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), kept / 0.6, rtol=1e-6)
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert isinstance(layer, Dropout)


def test_spatial_dropout_seed_repeats_and_zero_rate_is_identity():
    x = np.ones((4, 3, 5), dtype="float32")
    first = SpatialDropout1D(0.5, seed=7)(x, training=True)
    np.testing.assert_array_equal(first, SpatialDropout1D(0.5, seed=7)(x, training=True))
    np.testing.assert_array_equal(SpatialDropout1D(0.0)(x, training=True), x)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"rate": 1.0}, ValueError, "rate"), ({"rate": -0.1}, ValueError, "rate"),
    ({"rate": 0.1, "seed": -1}, ValueError, "seed"), ({"rate": 0.1, "seed": 1.5}, ValueError,
                                                      "seed"),
])
def test_spatial_dropout_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpatialDropout1D(**kwargs)


def test_spatial_dropout_needs_3d_input_and_config():
    with pytest.raises(ValueError, match="expected ndim=3"):
        SpatialDropout1D(0.1)(np.ones((2, 3)), training=True)
    assert SpatialDropout1D(0.2, seed=1).get_config()["seed"] == 1
    assert SpatialDropout1D(0.2).supports_masking


# -- LayerNormalization ----------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 1, [1, 2], (-2, -1)])
def test_layer_normalization_formula(axis):
    backend.set_floatx("float64")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3)) * 3 + 1
    layer = LayerNormalization(axis=axis, epsilon=1e-3)
    layer.build(x.shape)
    axes = tuple(np.atleast_1d(axis) % 3)
    shape = tuple(x.shape[a] for a in sorted(np.atleast_1d(axis)))
    gamma, beta = rng.standard_normal(shape), rng.standard_normal(shape)
    layer.set_weights([gamma, beta])
    broadcast = [1, 1, 1]
    for a in axes:
        broadcast[a] = x.shape[a]
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma.reshape(broadcast) \
        + beta.reshape(broadcast)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)
    check_layer_gradients(layer, x, rng)


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_layer_normalization_without_center_or_scale(center, scale):
    backend.set_floatx("float64")
    rng = np.random.default_rng(6)
    layer = LayerNormalization(center=center, scale=scale,
                               gamma_initializer="random_normal",
                               beta_initializer="random_normal")
    x = rng.standard_normal((3, 5))
    layer(x)
    assert len(layer.weights) == center + scale
    check_layer_gradients(layer, x, rng)


def test_layer_normalization_errors_and_config():
    with pytest.raises(TypeError, match="axis"):
        LayerNormalization(axis="last")
    with pytest.raises(NotImplementedError, match="gamma_regularizer"):
        LayerNormalization(gamma_regularizer="l2")
    with pytest.raises(NotImplementedError, match="rms_scaling"):
        LayerNormalization(rms_scaling=True)
    with pytest.raises(ValueError, match="out of bounds"):
        LayerNormalization(axis=3)(np.ones((2, 3)))
    layer = LayerNormalization()
    layer(np.ones((2, 3)))
    config = layer.get_config()
    assert config["axis"] == [-1] and config["epsilon"] == 1e-3
    assert [name for name in layer._weight_names] == ["gamma", "beta"]
    assert layer.supports_masking


# -- BatchNormalization ----------------------------------------------------------------


def test_batch_normalization_training_formula_and_moving_update():
    backend.set_floatx("float64")
    rng = np.random.default_rng(7)
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3)
    x1, x2 = rng.standard_normal((4, 5, 3)) * 2 + 1, rng.standard_normal((4, 5, 3)) - 2
    layer.build(x1.shape)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    layer.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    moving_mean, moving_var = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))  # biased, every axis but -1
        expected = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
        np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-12)
        moving_mean = moving_mean * 0.9 + mean * (1 - 0.9)
        moving_var = moving_var * 0.9 + var * (1 - 0.9)
        np.testing.assert_allclose(layer.moving_mean, moving_mean, rtol=1e-12)
        np.testing.assert_allclose(layer.moving_variance, moving_var, rtol=1e-12)
    inference = (x1 - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta
    np.testing.assert_allclose(layer(x1, training=False), inference, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_mean, moving_mean, rtol=1e-12)  # unchanged


def test_frozen_batch_normalization_uses_moving_statistics_even_when_training():
    layer = BatchNormalization(trainable=False)
    x = np.random.rand(4, 3).astype("float32") + 2
    np.testing.assert_allclose(layer(x, training=True), x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean, np.zeros(3))


def test_batch_normalization_axis_1_on_sequences():
    backend.set_floatx("float64")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 5))
    layer = BatchNormalization(axis=1, center=False)
    y = layer(x, training=True)
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    assert [w.shape for w in layer.weights] == [(4,)] * 3
    check_layer_gradients(layer, x, rng, training=True)


def test_batch_normalization_masked_moments_follow_keras():
    backend.set_floatx("float64")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)
    layer = BatchNormalization(momentum=0.0, beta_initializer="random_normal",
                               gamma_initializer="random_normal")
    y = layer(x, training=True, mask=mask)
    count = mask.sum() + 1e-7  # Keras divides by count + epsilon
    mean = x[mask].sum(axis=0) / count
    var = ((x[mask] - mean) ** 2).sum(axis=0) / count
    gamma, beta = layer.gamma, layer.beta
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-10)
    np.testing.assert_allclose(layer.moving_mean, mean, rtol=1e-12)  # momentum 0
    check_layer_gradients(layer, x, rng, training=True, mask=mask)
    with pytest.raises(ValueError, match="one dimension less"):
        layer(x, training=True, mask=np.ones((3, 4, 2)))


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_gradients_by_finite_differences(training):
    backend.set_floatx("float64")
    rng = np.random.default_rng(10)
    layer = BatchNormalization(gamma_initializer="random_normal",
                               beta_initializer="random_normal",
                               moving_mean_initializer="random_normal",
                               moving_variance_initializer="ones")
    # At inference the output reads the moving statistics, but they are not trained: by
    # contract their gradients are zeros, so central differences are checked on x, gamma, beta.
    check_layer_gradients(layer, rng.standard_normal((6, 4)), rng, training=training,
                          weights=slice(0, 2 if not training else None))
    assert not layer.grads[2].any() and not layer.grads[3].any()


def test_moving_statistics_are_non_trainable_weights():
    layer = BatchNormalization()
    layer.build((None, 5, 3))
    assert [name for name in layer._weight_names] == ["gamma", "beta", "moving_mean",
                                                      "moving_variance"]
    assert layer._trainable_flags() == [True, True, False, False]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    assert layer.non_trainable_weights[0] is layer.moving_mean
    frozen = BatchNormalization(scale=False, trainable=False)
    frozen.build((None, 3))
    assert frozen._trainable_flags() == [False, False, False]


@pytest.mark.parametrize("loss_name", ["mse", "binary_crossentropy"])
def test_whole_model_gradient_conv_batchnorm_pool_lstm_dense(loss_name):
    """Every weight's gradient through Conv1D -> BatchNorm -> MaxPooling1D -> LSTM ->
    LayerNorm -> Dense -> loss (the moving statistics get zeros, which is what central
    differences give: in training the output does not read them)."""
    backend.set_floatx("float64")
    rng = np.random.default_rng(11)
    model = Sequential([Conv1D(4, 3, padding="same", input_shape=(8, 2)),
                        BatchNormalization(gamma_initializer="random_normal"),
                        MaxPooling1D(), LSTM(3, return_sequences=True),
                        LayerNormalization(), GlobalAveragePooling1D(),
                        Dense(1, activation="sigmoid")])
    loss = losses.get(loss_name)
    x, y = rng.standard_normal((5, 8, 2)), rng.random((5, 1))

    def scalar_loss():
        return float(loss(y, model(x, training=True)))

    outputs, _ = model._graph.forward([x], training=True)
    model._graph.backward([loss.gradient(y, outputs[0])])
    analytic = model._graph.weight_gradients()
    assert len(analytic) == len(model.weights)
    for weight, grad in zip(model.weights, analytic):
        assert_gradient_close(grad, numerical_gradient(scalar_loss, weight))


def test_fit_updates_moving_statistics_by_the_formula_only():
    """One SGD step: gamma/beta move by the optimizer, moving stats by the momentum formula."""
    backend.set_floatx("float64")
    rng = np.random.default_rng(12)
    model = Sequential([BatchNormalization(momentum=0.8, input_shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((8, 3)) * 2 + 3, rng.standard_normal((8, 1))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    layer = model.layers[0]
    np.testing.assert_allclose(layer.moving_mean, 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, 0.8 + 0.2 * x.var(axis=0), rtol=1e-12)
    assert not np.allclose(layer.gamma, 1.0)  # trainable weights did move
    assert len(model.non_trainable_weights) == 2


@pytest.mark.parametrize("kwargs,error,match", [
    ({"axis": 1.5}, TypeError, "axis"), ({"momentum": 1.5}, ValueError, "momentum"),
    ({"epsilon": 0}, ValueError, "epsilon"), ({"renorm": True}, NotImplementedError, "renorm"),
    ({"synchronized": True}, NotImplementedError, "synchronized"),
    ({"beta_constraint": "non_neg"}, NotImplementedError, "beta_constraint"),
])
def test_batch_normalization_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(**kwargs)


def test_batch_normalization_config_keys():
    config = BatchNormalization().get_config()
    assert {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
            "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
            "renorm", "synchronized"} <= set(config)
    assert config["momentum"] == 0.99 and config["epsilon"] == 1e-3


# -- optional parity with real Keras --------------------------------------------------


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("training", [False, True])
def test_keras_parity_batch_normalization(training):
    keras = _keras()
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((6, 5, 3)) * 2 + 1).astype("float32")
    weights = [rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3),
               rng.random(3) + 0.5]
    theirs, ours = keras.layers.BatchNormalization(momentum=0.7), BatchNormalization(momentum=0.7)
    theirs.build(x.shape)
    ours.build(x.shape)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x, training=training), np.asarray(theirs(x, training=training)),
                               rtol=1e-5, atol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_keras_parity_layer_normalization(axis):
    keras = _keras()
    rng = np.random.default_rng(14)
    x = (rng.standard_normal((2, 4, 3)) * 3).astype("float32")
    theirs, ours = keras.layers.LayerNormalization(axis=axis), LayerNormalization(axis=axis)
    theirs.build(x.shape)
    ours.build(x.shape)
    weights = [rng.standard_normal(w.shape) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool_size,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                       (4, 3, "same"), (3, 1, "same")])
def test_keras_parity_pooling(name, pool_size, strides, padding):
    keras = _keras()
    x = np.random.default_rng(15).standard_normal((2, 10, 3)).astype("float32")
    ours = {"MaxPooling1D": MaxPooling1D, "AveragePooling1D": AveragePooling1D}[name]
    expected = np.asarray(getattr(keras.layers, name)(pool_size, strides, padding)(x))
    np.testing.assert_allclose(ours(pool_size, strides, padding)(x), expected, rtol=1e-5,
                               atol=1e-6)


def test_keras_parity_global_average_with_mask():
    keras = _keras()
    x = np.random.default_rng(16).standard_normal((2, 4, 3)).astype("float32")
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    expected = np.asarray(keras.layers.GlobalAveragePooling1D()(x, mask=mask))
    np.testing.assert_allclose(GlobalAveragePooling1D()(x, mask=mask), expected, rtol=1e-5)
