"""The Functional API: Input, Model, graphs with fan-out, shared layers, several inputs and
outputs, nested models and recurrent initial states; gradients by finite differences."""

import re

import numpy as np
import pytest

import minilstm
from minilstm import backend, utils
from minilstm.layers import GRU, LSTM, Activation, Dense, Input, SimpleRNN
from minilstm.models import Model, Sequential

from graph_checks import check_graph_gradients


@pytest.fixture
def float64():
    backend.set_floatx("float64")


def test_fan_out_sums_the_gradients_of_both_branches(float64):
    inputs = Input(shape=(4, 2))
    sequence = LSTM(3, return_sequences=True)(inputs)
    left = GRU(2)(sequence)  # the same tensor feeds two layers
    right = SimpleRNN(2)(sequence)
    model = Model(inputs, [left, right])
    check_graph_gradients(model, [np.random.default_rng(1).standard_normal((3, 4, 2))])


def test_a_shared_layer_accumulates_both_gradients(float64):
    first, second = Input(shape=(4, 2)), Input(shape=(4, 2))
    shared = LSTM(3)
    head = Dense(1)
    model = Model([first, second], [head(shared(first)), head(shared(second))])
    assert len(model.weights) == 5  # shared weights appear once
    rng = np.random.default_rng(2)
    check_graph_gradients(model, [rng.standard_normal((2, 4, 2)),
                                   rng.standard_normal((2, 4, 2))])


def test_encoder_decoder_through_initial_state(float64):
    encoder_inputs = Input(shape=(5, 3))
    _, h, c = LSTM(4, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(3, 2))
    decoded = LSTM(4, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    outputs = Dense(2, activation="softmax")(decoded)
    model = Model([encoder_inputs, decoder_inputs], outputs)
    rng = np.random.default_rng(3)
    check_graph_gradients(model, [rng.standard_normal((2, 5, 3)),
                                   rng.standard_normal((2, 3, 2))])


def test_nested_model_as_a_layer(float64):
    inner_inputs = Input(shape=(4, 2))
    inner = Model(inner_inputs, Dense(3)(LSTM(3)(inner_inputs)), name="inner")
    outer_inputs = Input(shape=(4, 2))
    outer = Model(outer_inputs, Activation("tanh")(inner(outer_inputs)))
    assert inner in outer.layers and len(outer.weights) == 5
    check_graph_gradients(outer, [np.random.default_rng(4).standard_normal((3, 4, 2))])


def test_nested_model_used_twice_shares_its_weights(float64):
    inner_inputs = Input(shape=(3,))
    inner = Model(inner_inputs, Dense(2, activation="tanh")(inner_inputs))
    a, b = Input(shape=(3,)), Input(shape=(3,))
    outer = Model([a, b], [inner(a), inner(b)])
    rng = np.random.default_rng(5)
    check_graph_gradients(outer, [rng.standard_normal((4, 3)), rng.standard_normal((4, 3))])


def test_return_state_outputs_only_partly_used(float64):
    """Only h of [output, h, c] reaches the loss: the unused gradients are zeros, not errors."""
    inputs = Input(shape=(4, 2))
    _, h, _ = LSTM(3, return_sequences=True, return_state=True)(inputs)
    model = Model(inputs, Dense(1)(h))
    check_graph_gradients(model, [np.random.default_rng(6).standard_normal((2, 4, 2))])


# -- training with several inputs and outputs --------------------------------------------


def test_two_outputs_with_loss_weights_and_keras_history_keys():
    utils.set_random_seed(0)
    inputs = Input(shape=(5, 2))
    features = LSTM(8)(inputs)
    value = Dense(1, name="value")(features)
    label = Dense(3, activation="softmax", name="label")(features)
    model = Model(inputs, [value, label])
    model.compile(optimizer="adam", loss={"value": "mse", "label": "sparse_categorical_crossentropy"},
                  loss_weights={"value": 2.0, "label": 0.5}, metrics={"label": ["accuracy"]})
    rng = np.random.default_rng(0)
    x = rng.random((32, 5, 2)).astype("float32")
    y = [x.sum(axis=(1, 2))[:, None] / 10, rng.integers(0, 3, 32)]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25)
    assert sorted(history.history) == sorted([
        "loss", "value_loss", "label_loss", "label_accuracy",
        "val_loss", "val_value_loss", "val_label_loss", "val_label_accuracy"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    # total = Σ w_k · loss_k
    assert logs["loss"] == pytest.approx(2.0 * logs["value_loss"] + 0.5 * logs["label_loss"],
                                         rel=1e-5)
    value_pred, label_pred = model.predict(x, verbose=0)
    assert value_pred.shape == (32, 1) and label_pred.shape == (32, 3)


def test_loss_weights_scale_the_gradients():
    """With one output, loss_weights=[w] makes every gradient (and SGD step) w times larger."""
    utils.set_random_seed(1)
    inputs = Input(shape=(3, 1))
    outputs = Dense(1)(LSTM(2)(inputs))
    x, y = np.random.default_rng(1).random((4, 3, 1)), np.ones((4, 1))
    steps = []
    for weight in (1.0, 3.0):
        model = Model(inputs, outputs)
        model.set_weights([np.full_like(w, 0.1) for w in model.get_weights()])
        before = model.get_weights()
        model.compile(optimizer=minilstm.optimizers.SGD(0.1), loss="mse", loss_weights=[weight])
        model.train_on_batch(x, y)
        steps.append([a - b for a, b in zip(model.get_weights(), before)])
    for one, three in zip(*steps):
        np.testing.assert_allclose(three, 3 * one, rtol=1e-4, atol=1e-7)


def test_inputs_by_name_and_list():
    a, b = Input(shape=(3, 1), name="series"), Input(shape=(2,), name="static")
    model = Model({"series": a, "static": b}, [Dense(1)(LSTM(2)(a)), Dense(1)(b)])
    model.compile(optimizer="adam", loss="mse")
    x = {"series": np.ones((4, 3, 1)), "static": np.ones((4, 2))}
    first, second = model.predict(x, verbose=0)
    assert first.shape == second.shape == (4, 1)
    np.testing.assert_array_equal(model.predict([x["series"], x["static"]], verbose=0)[1], second)
    with pytest.raises(ValueError, match="missing inputs \\['static'\\]"):
        model.predict({"series": np.ones((4, 3, 1))}, verbose=0)


# -- structure and errors -----------------------------------------------------------------


def test_structure_accessors_and_summary(capsys):
    inputs = Input(shape=(6, 2), name="sequence")
    x = LSTM(4, name="encoder")(inputs)
    outputs = Dense(1, name="head")(x)
    model = Model(inputs, outputs, name="forecaster")
    assert [layer.name for layer in model.layers] == ["sequence", "encoder", "head"]
    assert model.get_layer("encoder") is model.layers[1] and model.get_layer(index=-1).name == "head"
    assert model.inputs[0] is inputs and model.outputs[0] is outputs
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    model.summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "sequence[0][0]" in out and "encoder[0][0]" in out
    assert re.search(r"Total params: 117 ", out)  # 4*(4*(2+4)+4) + 5


def test_graph_errors_are_clear():
    inputs, other = Input(shape=(3, 1)), Input(shape=(3, 1))
    outputs = Dense(1)(LSTM(2)(other))
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(inputs, outputs)
    with pytest.raises(TypeError, match="must be tensors made by"):
        Model(np.zeros((2, 3)), outputs)

    class Custom(Model):
        def call(self, x):
            return x

    with pytest.raises(NotImplementedError, match="subclassed models with a custom call"):
        Custom(inputs, outputs)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(inputs)
    with pytest.raises(NotImplementedError, match="Lambda layers are not supported.*Reshape"):
        minilstm.layers.Lambda(lambda t: t * 2)
    with pytest.raises(ValueError, match="built for inputs of shape"):
        shared = Dense(2)
        shared(Input(shape=(3,)))
        shared(Input(shape=(4,)))


def test_sequential_accepts_an_input_tensor_first_and_is_a_model():
    model = Sequential([Input(shape=(5, 2)), LSTM(3), Dense(1)])
    assert isinstance(model, Model) and model.output_shape == (None, 1)
    assert [type(layer).__name__ for layer in model.layers] == ["LSTM", "Dense"]
    # a Sequential can be called on a tensor inside a Functional model
    inputs = Input(shape=(5, 2))
    outer = Model(inputs, Dense(2)(model(inputs)))
    assert outer.predict(np.zeros((3, 5, 2)), verbose=0).shape == (3, 2)


def test_calling_a_layer_on_arrays_still_runs_it():
    assert LSTM(2)(np.zeros((3, 4, 1))).shape == (3, 2)
    with pytest.raises(ValueError, match="needs both"):
        Model(Input(shape=(4, 1)), None)


def test_a_training_step_skips_the_input_gradient_of_layers_that_read_the_data(
        monkeypatch, use_backend):
    """Only a recurrent layer fed by a model input gets input_grad=False (its dx would be
    thrown away); the weights' gradients are those of the full backward."""
    rng = np.random.default_rng(3)
    inputs = Input((5, 3))
    first = LSTM(4, return_sequences=True)
    second = GRU(3)
    model = Model(inputs, Dense(1)(second(first(inputs))))
    model.compile("sgd", "mse")
    x = rng.standard_normal((6, 5, 3)).astype("float32")
    seen = {}
    for layer in (first, second):
        original = layer.backward

        def recording(dy, _original=original, _name=layer.name, **options):
            seen[_name] = options
            return _original(dy, **options)
        monkeypatch.setattr(layer, "backward", recording)
    graph = model._graph
    outputs, _ = graph.forward([x], training=True)
    dy = [np.ones_like(outputs[0])]
    assert graph.backward(dy, input_grads=False) == [None]
    assert seen == {first.name: {"input_grad": False}, second.name: {}}
    skipped = {layer: [g.copy() for g in grads] for layer, grads in graph.layer_grads.items()}
    graph.forward([x], training=True)
    dx = graph.backward(dy)  # the full backward, input gradient included
    assert seen[first.name] == {} and dx[0].shape == x.shape
    for layer, grads in graph.layer_grads.items():
        for got, expected in zip(skipped[layer], grads):
            np.testing.assert_array_equal(got, expected)
