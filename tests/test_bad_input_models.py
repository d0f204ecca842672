"""Bad calls on models and layers: each raises a clear exception naming the argument, and
leaves weights, optimizer state, carried states, the built shape and the RNG untouched."""

import numpy as np
import pytest

from minilstm import backend, optimizers, utils
from minilstm.layers import GRU, LSTM, Dense, Dropout, Input, SimpleRNN
from minilstm.models import Model, Sequential

X = np.random.default_rng(0).random((8, 4, 2)).astype("float32")
Y = X.sum(axis=(1, 2))[:, None] / 8


def trained_model():
    """A compiled model that has taken one step (so the optimizer has slots)."""
    utils.set_random_seed(0)
    model = Sequential([Input(batch_shape=(4, 4, 2)), LSTM(3, stateful=True), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model


def snapshot(model):
    optimizer = model.optimizer
    slots = {key: {name: backend.to_numpy(value).copy() for name, value in entry[1].items()}
             for key, entry in optimizer._slots.items()}
    return {
        "weights": [w.copy() for w in model.get_weights()],
        "iterations": optimizer.iterations,
        "slots": slots,
        "states": [backend.to_numpy(s).copy() for layer in model.layers
                   for s in (getattr(layer, "states", None) or [])],
        "built": (model.built, model.input_shape),
        "rng": np.random.get_state()[1].copy(),
    }


def assert_unchanged(before, after):
    for key in ("weights", "states"):
        assert len(before[key]) == len(after[key])
        for a, b in zip(before[key], after[key]):
            np.testing.assert_array_equal(a, b, err_msg=key)
    assert before["iterations"] == after["iterations"]
    assert before["slots"].keys() == after["slots"].keys()
    for key in before["slots"]:
        for name in before["slots"][key]:
            np.testing.assert_array_equal(before["slots"][key][name], after["slots"][key][name])
    assert before["built"] == after["built"]
    np.testing.assert_array_equal(before["rng"], after["rng"])


BAD_CALLS = {
    # name: (call on the model, exception, text the message must contain)
    "fit epochs float": (lambda m: m.fit(X, Y, batch_size=4, epochs=2.5), TypeError, "epochs"),
    "fit epochs negative": (lambda m: m.fit(X, Y, batch_size=4, epochs=-1), ValueError, "epochs"),
    "fit epochs bool": (lambda m: m.fit(X, Y, batch_size=4, epochs=True), TypeError, "epochs"),
    "fit validation_split str": (lambda m: m.fit(X, Y, batch_size=4, validation_split="0.2"),
                                 TypeError, "validation_split"),
    "fit validation_split 1": (lambda m: m.fit(X, Y, batch_size=4, validation_split=1.0),
                               ValueError, "validation_split"),
    "fit validation_data 1-tuple": (lambda m: m.fit(X, Y, batch_size=4, validation_data=(X,)),
                                    ValueError, "validation_data"),
    "fit verbose 3": (lambda m: m.fit(X, Y, batch_size=4, verbose=3), ValueError, "verbose"),
    "fit shuffle str": (lambda m: m.fit(X, Y, batch_size=4, shuffle="yes"), TypeError, "shuffle"),
    "fit initial_epoch float": (lambda m: m.fit(X, Y, batch_size=4, initial_epoch=0.5),
                                TypeError, "initial_epoch"),
    "fit validation_freq 0": (lambda m: m.fit(X, Y, batch_size=4, validation_freq=0),
                              ValueError, "validation_freq"),
    "fit steps_per_epoch 0": (lambda m: m.fit(X, Y, batch_size=4, steps_per_epoch=0),
                              ValueError, "steps_per_epoch"),
    "fit batch_size 0": (lambda m: m.fit(X, Y, batch_size=0), ValueError, "batch_size"),
    "fit batch_size float": (lambda m: m.fit(X, Y, batch_size=4.0), ValueError, "batch_size"),
    "fit stateful batch": (lambda m: m.fit(X, Y, batch_size=2), ValueError, "batch_size=4"),
    "fit stateful samples": (lambda m: m.fit(X[:6], Y[:6], batch_size=4), ValueError, "6 samples"),
    "fit ragged x": (lambda m: m.fit([[[1.0, 2.0]], [[1.0]]], Y[:2], batch_size=4), ValueError,
                     "x"),
    "fit string x": (lambda m: m.fit(np.full((8, 4, 2), "a"), Y, batch_size=4), TypeError, "x"),
    "fit complex x": (lambda m: m.fit(X + 1j, Y, batch_size=4), TypeError, "complex"),
    "fit nan x": (lambda m: m.fit(np.full_like(X, np.nan), Y, batch_size=4), ValueError, "NaN"),
    "fit inf y": (lambda m: m.fit(X, np.full_like(Y, np.inf), batch_size=4), ValueError, "y"),
    "fit x 2-D": (lambda m: m.fit(X[:, :, 0], Y, batch_size=4), ValueError, "reshape"),
    "fit x wrong features": (lambda m: m.fit(X[..., :1], Y, batch_size=4), ValueError, "features"),
    "fit y wrong length": (lambda m: m.fit(X, Y[:5], batch_size=4), ValueError, "samples"),
    "fit y wrong width": (lambda m: m.fit(X, np.ones((8, 3)), batch_size=4), ValueError, "Dense"),
    "fit y missing": (lambda m: m.fit(X, None, batch_size=4), ValueError, "y"),
    "fit sample_weight short": (lambda m: m.fit(X, Y, batch_size=4, sample_weight=np.ones(3)),
                                ValueError, "sample_weight"),
    "fit sample_weight negative": (lambda m: m.fit(X, Y, batch_size=4,
                                                   sample_weight=-np.ones(8)),
                                   ValueError, "sample_weight"),
    "fit class_weight list": (lambda m: m.fit(X, Y, batch_size=4, class_weight=[1, 2]),
                              TypeError, "class_weight"),
    "fit batch_input_shape mismatch": (lambda m: m.fit(X, Y, batch_input_shape=(4, 5, 2)),
                                       ValueError, "batch_input_shape"),
    "fit unknown keyword": (lambda m: m.fit(X, Y, batch_size=4, epoch=3), TypeError, "epoch"),
    "evaluate verbose bad": (lambda m: m.evaluate(X, Y, batch_size=4, verbose="loud"),
                             ValueError, "verbose"),
    "evaluate empty": (lambda m: m.evaluate(X[:0], Y[:0], batch_size=4), ValueError, "0 samples"),
    "evaluate steps 0": (lambda m: m.evaluate(X, Y, batch_size=4, steps=0), ValueError, "steps"),
    "evaluate y wrong": (lambda m: m.evaluate(X, np.ones((8, 2)), batch_size=4), ValueError,
                         "Dense"),
    "evaluate stateful batch": (lambda m: m.evaluate(X, Y, batch_size=8), ValueError,
                                "batch_size=4"),
    "predict empty": (lambda m: m.predict(X[:0], batch_size=4), ValueError, "0 samples"),
    "predict stateful batch": (lambda m: m.predict(X, batch_size=8), ValueError, "batch_size=4"),
    "predict 4-D": (lambda m: m.predict(X[..., None], batch_size=4), ValueError, "reshape"),
    "predict steps float": (lambda m: m.predict(X, batch_size=4, steps=1.5), TypeError, "steps"),
    "predict_classes 2-D": (lambda m: m.predict_classes(X[:, :, 0], batch_size=4), ValueError,
                            "reshape"),
    "train_on_batch wrong batch": (lambda m: m.train_on_batch(X[:3], Y[:3]), ValueError,
                                   "batch"),
    "train_on_batch empty": (lambda m: m.train_on_batch(X[:0], Y[:0]), ValueError, "0 samples"),
    "train_on_batch y shape": (lambda m: m.train_on_batch(X[:4], np.ones((4, 2))), ValueError,
                               "Dense"),
    "test_on_batch y missing": (lambda m: m.test_on_batch(X[:4], None), ValueError, "y"),
    "set_weights short": (lambda m: m.set_weights(m.get_weights()[:-1]), ValueError,
                          "set_weights"),
    "set_weights None entry": (lambda m: m.set_weights([None] + m.get_weights()[1:]), TypeError,
                               "None"),
    "set_weights string array": (lambda m: m.set_weights(
        [np.full(w.shape, "x") for w in m.get_weights()[:1]] + m.get_weights()[1:]),
        TypeError, "numeric"),
    "set_weights last wrong shape": (lambda m: m.set_weights(
        [w + 1 for w in m.get_weights()[:-1]] + [np.zeros(5)]), ValueError, "shape"),
    "set_weights nan": (lambda m: m.set_weights(
        [w + 1 for w in m.get_weights()[:-1]] + [np.full(1, np.nan)]), ValueError, "NaN"),
    "set_weights not a list": (lambda m: m.set_weights(3), TypeError, "list"),
    "layer set_weights bad": (lambda m: m.layers[0].set_weights(
        [w + 1 for w in m.layers[0].get_weights()[:2]] + [np.zeros(3)]), ValueError, "shape"),
    "reset_states wrong count": (lambda m: m.layers[0].reset_states([np.zeros((4, 3))]),
                                 ValueError, "expects 2 states"),
    "reset_states wrong shape": (lambda m: m.layers[0].reset_states(
        [np.zeros((4, 3)), np.zeros((2, 3))]), ValueError, "State 1"),
    "reset_states nan": (lambda m: m.layers[0].reset_states(
        [np.zeros((4, 3)), np.full((4, 3), np.nan)]), ValueError, "NaN"),
    "layer call wrong batch": (lambda m: m.layers[0](X[:3]), ValueError, "batch size"),
    "layer call bad mask": (lambda m: m.layers[0](X[:4], mask=np.ones((4, 5), bool)),
                            ValueError, "mask"),
    "get_layer both": (lambda m: m.get_layer("dense", 0), ValueError, "exactly one"),
    "get_layer unknown": (lambda m: m.get_layer("nope"), ValueError, "No such layer"),
    "compile bad loss": (lambda m: m.compile(optimizer="adam", loss="msee"), ValueError, "msee"),
    "compile bad metric": (lambda m: m.compile(optimizer="adam", loss="mse", metrics=["acuracy"]),
                           ValueError, "acuracy"),
    "compile metrics str": (lambda m: m.compile(optimizer="adam", loss="mse", metrics="mae"),
                            TypeError, "metrics"),
    "compile bad optimizer": (lambda m: m.compile(optimizer="adamm", loss="mse"), ValueError,
                              "adamm"),
    "compile loss_weights nan": (lambda m: m.compile(optimizer="adam", loss="mse",
                                                     loss_weights=[float("nan")]),
                                 ValueError, "loss_weights"),
    "compile loss_weights count": (lambda m: m.compile(optimizer="adam", loss="mse",
                                                       loss_weights=[1.0, 2.0]),
                                   ValueError, "loss_weights"),
    "compile loss dict unknown": (lambda m: m.compile(optimizer="adam", loss={"nope": "mse"}),
                                  ValueError, "nope"),
    "compile unknown keyword": (lambda m: m.compile(optimizer="adam", loss="mse", lr=0.1),
                                TypeError, "lr"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_raises_and_changes_nothing(name):
    call, error, text = BAD_CALLS[name]
    model = trained_model()
    before = snapshot(model)
    with pytest.raises(error) as raised:
        call(model)
    assert text.lower() in str(raised.value).lower(), str(raised.value)
    if not name.startswith("compile"):
        assert_unchanged(before, snapshot(model))


_OUTPUT = Dense(1)(Input(shape=(3,)))
BAD_CONSTRUCTORS = {
    "LSTM units 0": (lambda: LSTM(0), ValueError, "units"),
    "LSTM units float": (lambda: LSTM(2.5), ValueError, "units"),
    "LSTM units bool": (lambda: LSTM(True), ValueError, "units"),
    "LSTM activation softmax": (lambda: LSTM(2, activation="softmax"), ValueError, "activation"),
    "LSTM activation unknown": (lambda: LSTM(2, activation="tanhh"), ValueError, "tanhh"),
    "LSTM dropout str": (lambda: LSTM(2, dropout="0.5"), TypeError, "dropout"),
    "LSTM return_sequences str": (lambda: LSTM(2, return_sequences="yes"), TypeError,
                                  "return_sequences"),
    "LSTM stateful int": (lambda: LSTM(2, stateful=1), TypeError, "stateful"),
    "LSTM unknown kwarg": (lambda: LSTM(2, bogus=1), ValueError, "bogus"),
    "LSTM regularizer": (lambda: LSTM(2, kernel_regularizer="l2"), NotImplementedError,
                         "kernel_regularizer"),
    "LSTM implementation 3": (lambda: LSTM(2, implementation=3), ValueError, "implementation"),
    "LSTM input_shape float": (lambda: LSTM(2, input_shape=(5, 2.7)), TypeError, "input_shape"),
    "LSTM bad initializer": (lambda: LSTM(2, kernel_initializer="glorot"), ValueError, "glorot"),
    "GRU units negative": (lambda: GRU(-1), ValueError, "units"),
    "GRU recurrent_dropout nan": (lambda: GRU(2, recurrent_dropout=float("nan")), ValueError,
                                  "recurrent_dropout"),
    "SimpleRNN use_cudnn": (lambda: SimpleRNN(2, use_cudnn=True), ValueError, "cudnn"),
    "Dense units 0": (lambda: Dense(0), ValueError, "units"),
    "Dense activation unknown": (lambda: Dense(2, activation="Relu"), ValueError, "Relu"),
    "Dropout rate 1": (lambda: Dropout(1.0), ValueError, "rate"),
    "Dropout rate negative": (lambda: Dropout(-0.1), ValueError, "rate"),
    "Sequential of a layer": (lambda: Sequential(LSTM(3)), TypeError, "list of layers"),
    "Sequential add string": (lambda: Sequential(["lstm"]), ValueError, "Layer"),
    "Input no shape": (lambda: Input(), ValueError, "shape"),
    "Model no outputs": (lambda: Model(Input(shape=(3,)), None), ValueError, "outputs"),
    "Model array inputs": (lambda: Model(np.zeros(3), _OUTPUT), TypeError, "inputs"),
}


@pytest.mark.parametrize("name", list(BAD_CONSTRUCTORS))
def test_bad_constructor_raises_and_names_the_argument(name):
    call, error, text = BAD_CONSTRUCTORS[name]
    state = np.random.get_state()[1].copy()
    with pytest.raises(error) as raised:
        call()
    assert text.lower() in str(raised.value).lower(), str(raised.value)
    np.testing.assert_array_equal(state, np.random.get_state()[1])


def test_a_rejected_first_fit_leaves_the_model_unbuilt_and_the_rng_alone():
    utils.set_random_seed(3)
    model = Sequential([LSTM(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    state = np.random.get_state()[1].copy()
    with pytest.raises(ValueError):
        model.fit(X, np.ones((8, 2)), verbose=0)  # wrong target width, found after building
    assert not model.built and not model.layers[0].built
    np.testing.assert_array_equal(state, np.random.get_state()[1])
    model.fit(X[:, :, :1], Y, epochs=1, verbose=0)  # the corrected call builds for its data
    assert model.input_shape == (None, 4, 1)
    utils.set_random_seed(3)
    twin = Sequential([LSTM(3), Dense(1)])
    twin.build((None, 4, 1))
    # the same seed gives the same initial weights as if the bad call had never happened
    fresh = Sequential([LSTM(3), Dense(1)])
    utils.set_random_seed(3)
    fresh.build((None, 4, 1))
    for a, b in zip(twin.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- Keras semantics the issue found missing -----------------------------------------------


def test_model_trainable_false_freezes_every_weight():
    model = trained_model()
    model.trainable = False
    before = model.get_weights()
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layer_trainable_false_freezes_that_layer_and_shows_in_summary(capsys):
    utils.set_random_seed(1)
    model = Sequential([Input(shape=(4, 2)), LSTM(3), Dense(1)])
    model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="mse")
    frozen, head = model.layers[0].get_weights(), model.layers[1].get_weights()
    model.fit(X, Y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(head, model.layers[1].get_weights()))
    model.summary()
    out = capsys.readouterr().out
    assert " Trainable params: 4 " in out and " Non-trainable params: 72 " in out


def test_keras2_input_dim_on_a_recurrent_layer_means_features():
    layer = LSTM(3, input_dim=2)
    model = Sequential([layer, Dense(1)])
    assert model.input_shape == (None, None, 2)
    assert model.predict(np.zeros((2, 7, 2)), verbose=0).shape == (2, 1)


def test_layer_dtype_and_set_floatx_after_building_autocast_inputs():
    model = Sequential([Input(shape=(4, 2)), LSTM(3, dtype="float64"), Dense(1)])
    assert model.layers[0].kernel.dtype == np.float64 and model.layers[1].kernel.dtype == np.float32
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    backend.set_floatx("float64")  # after building: inputs are cast to each layer's weights
    assert model.predict(X, verbose=0).shape == (8, 1)
    model.fit(X, Y, epochs=1, verbose=0)


def test_set_floatx_refuses_float16():
    with pytest.raises(ValueError, match="float16"):
        backend.set_floatx("float16")
