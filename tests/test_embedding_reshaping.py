"""Embedding, Masking, RepeatVector, Flatten, Reshape, Permute: Keras 3's semantics as
formulas, argument and shape errors, and gradients by float64 central differences, alone and
with LSTMs (a padded, masked batch against its sequences run one by one)."""

import os
import warnings

import numpy as np
import pytest

from minilstm import backend
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers import LSTM, Dense, Input
from minilstm.layers.embedding import Embedding
from minilstm.layers.masking import Masking
from minilstm.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from minilstm.models import Model, Sequential


@pytest.fixture
def float64():
    backend.set_floatx("float64")


def _rng(seed=0):
    return np.random.default_rng(seed)


def check_layer_gradient(layer, x, seed=0):
    """L = Σ layer(x)·dy: the input gradient from backward against central differences."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    dy = _rng(seed).standard_normal(layer(x).shape)

    def loss():
        return float((layer.forward(x) * dy).sum())

    layer.forward(x)
    dx = layer.backward(dy)
    assert layer.grads == [] and dx.shape == x.shape
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-9)


# -- Embedding -------------------------------------------------------------------------------

def test_embedding_forward_is_a_row_lookup():
    layer = Embedding(7, 3)
    ids = np.array([[1, 6, 1], [0, 2, 5]])
    out = layer(ids)
    table = layer.get_weights()[0]
    assert table.shape == (7, 3) and layer.weights[0] is layer.embeddings
    assert np.abs(table).max() <= 0.05  # 'uniform' is RandomUniform(-0.05, 0.05)
    np.testing.assert_array_equal(out, table[ids])
    assert out.dtype == np.float32 and layer.output_shape == (None, 3, 3)
    assert Embedding.input_dtype == "int32"


def test_embedding_accepts_integral_floats_and_rejects_the_rest():
    layer = Embedding(5, 2)
    np.testing.assert_array_equal(layer(np.array([[1.0, 4.0]])), layer(np.array([[1, 4]])))
    with pytest.raises(ValueError, match="non-integral value 1.5"):
        layer(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match="non-integral value nan"):
        layer(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="integer token ids"):
        layer(np.array([["a"]]))


@pytest.mark.parametrize("bad", [5, -1])
def test_embedding_out_of_range_ids_change_nothing(bad):
    layer = Embedding(5, 2)
    layer(np.array([[1, 2]]))
    before, cache = layer.get_weights()[0], layer._cache
    with pytest.raises(ValueError, match=rf"token id {bad}, outside \[0, input_dim=5\)"):
        layer(np.array([[0, bad, 1]]))
    np.testing.assert_array_equal(layer.get_weights()[0], before)
    assert layer._cache is cache


def test_embedding_out_of_range_ids_in_fit_leave_the_weights_unchanged():
    model = Sequential([Input(shape=(3,), dtype="int32"), Embedding(4, 2), LSTM(2), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match="token id 4"):
        model.fit(np.array([[0, 1, 2], [1, 2, 4]]), np.zeros((2, 1)), epochs=1, verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_embedding_gradient_scatter_adds_repeated_ids(float64):
    layer = Embedding(6, 3)
    ids = np.array([[1, 3, 1, 1], [5, 3, 0, 1]])
    dy = _rng(1).standard_normal((2, 4, 3))
    layer(ids)
    assert layer.backward(dy) is None  # ids have no gradient
    expected = np.zeros((6, 3))
    np.add.at(expected, ids.ravel(), dy.reshape(-1, 3))
    np.testing.assert_allclose(layer.grads[0], expected, rtol=1e-12)
    assert layer.grads[0][1].tolist() == pytest.approx(dy[ids == 1].sum(axis=0).tolist())

    def loss():
        return float((layer.forward(ids) * dy).sum())

    np.testing.assert_allclose(layer.grads[0], numerical_gradient(loss, layer.embeddings),
                               rtol=1e-6, atol=1e-9)


def test_embedding_mask_zero():
    ids = np.array([[3, 1, 0, 0], [2, 0, 1, 0]])
    np.testing.assert_array_equal(Embedding(4, 2, mask_zero=True).compute_mask(ids), ids != 0)
    assert Embedding(4, 2).compute_mask(ids) is None


def test_embedding_arguments():
    with pytest.raises(ValueError, match=r"`input_dim` must be a positive integer. Received: "
                                         r"input_dim=0"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="`output_dim`"):
        Embedding(3, 2.0)
    with pytest.raises(NotImplementedError, match="embeddings_regularizer"):
        Embedding(3, 2, embeddings_regularizer="l2")
    with pytest.raises(NotImplementedError, match="embeddings_constraint"):
        Embedding(3, 2, embeddings_constraint="non_neg")
    with pytest.raises(TypeError, match="mask_zero"):
        Embedding(3, 2, mask_zero=1)
    table = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(Embedding(3, 2, weights=[table]).get_weights()[0], table)
    np.testing.assert_array_equal(Embedding(3, 2, weights=table)(np.array([[2]])), [[[4.0, 5.0]]])
    with pytest.raises(ValueError, match="weight shape"):
        Embedding(3, 2, weights=np.zeros((2, 2)))
    config = Embedding(3, 2, mask_zero=True, name="emb").get_config()
    assert config["input_dim"] == 3 and config["output_dim"] == 2 and config["mask_zero"]
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"


def test_embedding_input_length_is_deprecated_but_declares_the_shape():
    with pytest.warns(UserWarning, match="`input_length` is deprecated"):
        layer = Embedding(10, 4, input_length=5)
    model = Sequential([layer, LSTM(3)])
    assert model.output_shape == (None, 3) and layer.output_shape == (None, 5, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Embedding(10, 4)


def _padded_batch(seed=2):
    """Two id sequences of lengths 4 and 2, post-padded with 0 to length 5."""
    rng = _rng(seed)
    sequences = [rng.integers(1, 9, size=4), rng.integers(1, 9, size=2)]
    padded = np.zeros((2, 5), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        padded[row, :len(sequence)] = sequence
    return sequences, padded


def test_masked_embedding_lstm_matches_unpadded_sequences_one_by_one(float64):
    """Embedding(mask_zero=True) -> LSTM: a padded batch gives each sequence's own output, and
    its gradients are the sum of the sequences' gradients."""
    inputs = Input(shape=(None,), dtype="int32")
    embedding, lstm = Embedding(9, 3, mask_zero=True), LSTM(4)
    model = Model(inputs, lstm(embedding(inputs)))
    sequences, padded = _padded_batch()
    dys = _rng(3).standard_normal((2, 4))

    outputs, _ = model._graph.forward([padded], training=True)
    model._graph.backward([dys])
    batch_grads = [model._graph.layer_grads[layer] for layer in (embedding, lstm)]

    one_by_one = [[np.zeros_like(w) for w in layer.weights] for layer in (embedding, lstm)]
    for row, sequence in enumerate(sequences):
        single, _ = model._graph.forward([sequence[None]], training=True)
        np.testing.assert_allclose(outputs[0][row], single[0][0], rtol=1e-12)
        model._graph.backward([dys[row:row + 1]])
        for total, layer in zip(one_by_one, (embedding, lstm)):
            for k, grad in enumerate(model._graph.layer_grads[layer]):
                total[k] += grad
    for batch, single in zip(batch_grads, one_by_one):
        for a, b in zip(batch, single):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)

    def loss():
        result, _ = model._graph.forward([padded], training=True)
        return float((result[0] * dys).sum())

    for weight, grad in zip(model.weights, batch_grads[0] + batch_grads[1]):
        np.testing.assert_allclose(grad, numerical_gradient(loss, weight), rtol=1e-5, atol=1e-9)


def test_embedding_shared_between_two_inputs(float64):
    """One Embedding used twice, on sequences of two lengths: its table gradient sums both
    calls."""
    first, second = Input(shape=(3,), dtype="int32"), Input(shape=(4,), dtype="int32")
    shared = Embedding(5, 2)
    from minilstm.layers.merging import concatenate

    model = Model([first, second], Dense(1)(concatenate([LSTM(2)(shared(first)),
                                                         LSTM(2)(shared(second))])))
    xs = [np.array([[1, 2, 2], [0, 4, 1]]), np.array([[3, 3, 1, 4], [2, 0, 0, 2]])]
    dys = [_rng(4).standard_normal((2, 1))]

    def loss():
        return float((model._graph.forward(xs, training=True)[0][0] * dys[0]).sum())

    model._graph.forward(xs, training=True)
    assert model._graph.backward(dys) == [None, None]
    np.testing.assert_allclose(model._graph.layer_grads[shared][0],
                               numerical_gradient(loss, shared.embeddings), rtol=1e-5, atol=1e-9)


# -- Masking ---------------------------------------------------------------------------------

def test_masking_zeroes_the_masked_steps_and_emits_the_mask(float64):
    x = np.array([[[1.0, 2.0], [9.0, 9.0], [0.0, 9.0]]])
    layer = Masking(mask_value=9.0)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer(x), [[[1.0, 2.0], [0.0, 0.0], [0.0, 9.0]]])
    check_layer_gradient(Masking(), np.where(_rng(5).random((2, 4, 3)) < 0.3, 0.0, 1.0)
                         * _rng(6).standard_normal((2, 4, 3)))
    dx = (layer(x), layer.backward(np.ones_like(x)))[1]
    np.testing.assert_array_equal(dx, [[[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]])
    assert Masking(0.5, name="m").get_config() == {"name": "m", "trainable": True,
                                                   "mask_value": 0.5}
    with pytest.raises(TypeError, match="mask_value"):
        Masking("0")


def test_masking_lstm_matches_the_unpadded_sequences(float64):
    inputs = Input(shape=(4, 2))
    lstm = LSTM(3, return_sequences=False)
    model = Model(inputs, Dense(1)(lstm(Masking()(inputs))))
    rng = _rng(7)
    x = rng.standard_normal((2, 4, 2))
    x[0, 3] = 0.0
    x[1, 2:] = 0.0
    out = model(x)
    head = model.layers[-1]
    np.testing.assert_allclose(out[0], head(lstm(x[:1, :3]))[0], rtol=1e-12)
    np.testing.assert_allclose(out[1], head(lstm(x[1:, :2]))[0], rtol=1e-12)


# -- reshaping layers ------------------------------------------------------------------------

def test_repeat_vector(float64):
    x = _rng(8).standard_normal((2, 3))
    out = RepeatVector(4)(x)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out, np.stack([x] * 4, axis=1))
    check_layer_gradient(RepeatVector(4), x)
    with pytest.raises(ValueError, match=r"expected ndim=2, found ndim=3. Full shape received: "
                                         r"\(None, 3, 2\)"):
        RepeatVector(2)(Input(shape=(3, 2)))
    with pytest.raises(TypeError, match="integer value for `n`"):
        RepeatVector(2.0)
    with pytest.raises(ValueError, match="positive integer"):
        RepeatVector(0)
    assert RepeatVector(3, name="r").get_config() == {"name": "r", "trainable": True, "n": 3}


def test_flatten(float64):
    x = _rng(9).standard_normal((2, 3, 4, 2))
    np.testing.assert_array_equal(Flatten()(x), x.reshape(2, -1))
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x),
                                  np.moveaxis(x, 1, -1).reshape(2, -1))
    check_layer_gradient(Flatten(), x)
    check_layer_gradient(Flatten(data_format="channels_first"), x)
    assert Flatten().compute_output_shape((None, 3, 4)) == (None, 12)
    assert Flatten().compute_output_shape((None, None, 4)) == (None, None)
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="channels_middle")
    assert Flatten(name="f").get_config()["data_format"] == "channels_last"


def test_reshape(float64):
    x = _rng(10).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(Reshape((4, 3))(x), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(Reshape((-1, 2))(x), x.reshape(2, 6, 2))
    check_layer_gradient(Reshape((2, -1, 3)), x)
    assert Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    with pytest.raises(ValueError, match=r"at most one unknown dimension \(-1\)"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="non-negative integer"):
        Reshape((-2, 3))
    with pytest.raises(TypeError, match="target_shape"):
        Reshape(5)
    with pytest.raises(ValueError, match=r"total size of the tensor must be unchanged. Received: "
                                         r"input_shape=\(3, 4\), target_shape=\(5, 2\)"):
        Reshape((5, 2))(Input(shape=(3, 4)))
    with pytest.raises(ValueError, match="not divisible"):
        Reshape((-1, 5))(x)


def test_permute(float64):
    x = _rng(11).standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(Permute((3, 1, 2))(x), np.transpose(x, (0, 3, 1, 2)))
    check_layer_gradient(Permute((3, 1, 2)), x)
    check_layer_gradient(Permute((2, 1)), x[:, :, :, 0])
    assert Permute((2, 1)).compute_output_shape((None, 3, 4)) == (None, 4, 3)
    with pytest.raises(ValueError, match="must be consecutive and start from 1"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=4"):
        Permute((2, 1))(x)
    assert Permute((2, 1), name="p").get_config()["dims"] == (2, 1)


def test_encoder_repeatvector_decoder_model(float64):
    """LSTM -> RepeatVector -> LSTM(return_sequences) -> Permute -> Flatten -> Reshape -> Dense;
    gradients through every layer by central differences."""
    inputs = Input(shape=(3, 2))
    encoded = RepeatVector(2)(LSTM(3)(inputs))
    decoded = LSTM(4, return_sequences=True)(encoded)  # (B, 2, 4)
    reshaped = Reshape((4, 2))(Flatten()(Permute((2, 1))(decoded)))
    model = Model(inputs, Dense(1)(reshaped))
    assert model.output_shape == (None, 4, 1)
    x = _rng(12).standard_normal((2, 3, 2))
    dy = _rng(13).standard_normal((2, 4, 1))

    def loss():
        return float((model._graph.forward([x], training=True)[0][0] * dy).sum())

    model._graph.forward([x], training=True)
    (dx,) = model._graph.backward([dy])
    grads = model._graph.weight_gradients()
    for weight, grad in zip(model.weights, grads):
        np.testing.assert_allclose(grad, numerical_gradient(loss, weight), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-9)


# -- optional parity with real Keras ---------------------------------------------------------

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {keras.__version__}")
    return keras


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_parity_embedding_lstm_and_reshaping():
    keras = _keras()
    import minilstm.layers as our_layers

    def build(layers, model_class, input_fn, extra):
        ids = input_fn(shape=(5,), dtype="int32")
        sequence = layers.LSTM(4, return_sequences=True)(
            extra.Embedding(12, 3, mask_zero=True)(ids))
        summary = extra.RepeatVector(2)(layers.LSTM(3)(sequence))
        flat = extra.Flatten()(extra.Permute((2, 1))(summary))
        return model_class(ids, layers.Dense(2)(extra.Reshape((3, 2))(flat)))

    class Ours:
        Embedding, RepeatVector, Flatten, Permute, Reshape = (
            Embedding, RepeatVector, Flatten, Permute, Reshape)

    keras.utils.set_random_seed(3)
    theirs = build(keras.layers, keras.Model, keras.Input, keras.layers)
    ours = build(our_layers, Model, Input, Ours)
    ours.set_weights(theirs.get_weights())
    ids = np.array([[3, 7, 1, 0, 0], [11, 2, 0, 0, 0], [5, 5, 5, 5, 9]], dtype="int32")
    np.testing.assert_allclose(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0),
                               rtol=1e-5, atol=1e-6)
