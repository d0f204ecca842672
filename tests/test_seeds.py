"""Every code snippet of the two seed documents, run against minilstm.

Only the imports change (keras -> minilstm). Snippets that lost their quotes
in transcription (`optimizer= sgd`) are read as strings, or as the imported
function (`Activation(sigmoid)`), as shared/seeds/README.md says.
"""

import numpy as np
import pytest
from numpy import array

from minilstm.activations import sigmoid
from minilstm.layers import LSTM, Activation, Dense
from minilstm.models import Sequential
from minilstm.optimizers import SGD

COMPLETE_EXAMPLE = """
# Example of LSTM to learn a sequence
from pandas import DataFrame
from pandas import concat
from minilstm.models import Sequential
from minilstm.layers import Dense
from minilstm.layers import LSTM
# create sequence
length = 10
sequence = [i/float(length) for i in range(length)]
print(sequence)
# create X/y pairs
df = DataFrame(sequence)
df = concat([df.shift(1), df], axis=1)
df.dropna(inplace=True)
# convert to LSTM friendly format
values = df.values
X, y = values[:, 0], values[:, 1]
X = X.reshape(len(X), 1, 1)
# 1. define network
model = Sequential()
model.add(LSTM(10, input_shape=(1,1)))
model.add(Dense(1))
# 2. compile network
model.compile(optimizer='adam', loss='mean_squared_error')
# 3. fit network
history = model.fit(X, y, epochs=1000, batch_size=len(X), verbose=0)
# 4. evaluate network
loss = model.evaluate(X, y, verbose=0)
print(loss)
# 5. make predictions
predictions = model.predict(X, verbose=0)
print(predictions[:, 0])
"""

# Keras 3 (tensorflow backend) on this example ends near 1e-4 to 1e-3 after
# 1000 Adam epochs, depending on the seed; both stay well under this bound.
COMPLETE_EXAMPLE_LOSS_BOUND = 0.01


@pytest.fixture
def two_step_data():
    """100 sequences of 2 timesteps, 1 feature, and a 0/1 target."""
    rng = np.random.default_rng(0)
    X = rng.random((100, 2, 1))
    y = (X.sum(axis=(1, 2)) > 1).astype("float32")
    return X, y


def test_complete_example_learns_the_sequence(capsys):
    pytest.importorskip("pandas")
    namespace = {}
    exec(COMPLETE_EXAMPLE, namespace)
    loss = namespace["loss"]
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(f"\nseed complete example: final loss {loss:.6f}")
    assert isinstance(loss, float)
    assert loss < COMPLETE_EXAMPLE_LOSS_BOUND
    predictions = namespace["predictions"][:, 0]
    np.testing.assert_allclose(predictions, np.arange(1, 10) / 10, atol=0.15)
    assert str(loss) in printed


def test_define_with_add_and_lazy_build():
    model = Sequential()
    model.add(LSTM(2))
    model.add(Dense(1))
    assert not model.built
    model.compile(optimizer="sgd", loss="mse")
    assert model.predict(np.zeros((3, 4, 1)), verbose=0).shape == (3, 1)
    assert model.built


def test_define_from_a_list():
    layers = [LSTM(2), Dense(1)]
    model = Sequential(layers)
    assert model.layers == layers


def test_reshape_2d_data_to_3d():
    data = np.arange(20.0).reshape(10, 2)
    as_timesteps = data.reshape((data.shape[0], data.shape[1], 1))
    as_features = data.reshape((data.shape[0], 1, data.shape[1]))
    assert as_timesteps.shape == (10, 2, 1) and as_features.shape == (10, 1, 2)


def test_input_shape_and_activation_layer(two_step_data):
    X, y = two_step_data
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))
    model.add(Activation(sigmoid))
    model.compile(optimizer="sgd", loss="mse")
    predictions = model.predict(X, verbose=0)
    assert predictions.shape == (100, 1) and ((predictions > 0) & (predictions < 1)).all()


def test_compile_fit_evaluate_predict_life_cycle(two_step_data, capsys):
    X, y = two_step_data
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))

    model.compile(optimizer="sgd", loss="mse")
    algorithm = SGD(lr=0.1, momentum=0.3)
    model.compile(optimizer=algorithm, loss="mse")
    model.compile(optimizer="sgd", loss="mean_squared_error", metrics=["accuracy"])

    model.fit(X, y, batch_size=32, epochs=100)
    out = capsys.readouterr().out
    assert "Epoch 100/100" in out and "4/4" in out
    history = model.fit(X, y, batch_size=10, epochs=100, verbose=0)
    assert capsys.readouterr().out == ""
    assert sorted(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == 100

    loss, accuracy = model.evaluate(X, y)
    assert "4/4" in capsys.readouterr().out
    loss, accuracy = model.evaluate(X, y, verbose=0)
    assert isinstance(loss, float) and 0 <= accuracy <= 1

    predictions = model.predict(X)
    predictions = model.predict_classes(X)
    assert predictions.shape == (100, 1) and predictions.dtype == np.int32
    predictions = model.predict(X, verbose=0)
    assert predictions.shape == (100, 1)


def test_seed_002_compile_with_sgd_object(two_step_data):
    X, y = two_step_data
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))
    model.compile(optimizer="sgd", loss="mean_squared_error")
    algorithm = SGD(lr=0.1, momentum=0.3)
    model.compile(optimizer=algorithm, loss="mean_squared_error")
    history = model.fit(X, y, batch_size=10, epochs=100, verbose=0)
    assert algorithm.learning_rate == pytest.approx(0.1)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("shuffle", [None, False])
def test_stateful_loop_with_reset_states(shuffle, capsys):
    rng = np.random.default_rng(1)
    X = rng.random((100, 5, 1))
    y = X[:, -1, :] * 0.5
    model = Sequential()
    model.add(LSTM(2, stateful=True, batch_input_shape=(10, 5, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")
    for i in range(1000):
        if shuffle is None:
            model.fit(X, y, epochs=1, batch_input_shape=(10, 5, 1))
        else:
            model.fit(X, y, epochs=1, shuffle=False, batch_input_shape=(10, 5, 1))
        model.reset_states()
    assert "10/10" in capsys.readouterr().out
    predictions = model.predict(X, batch_size=10)
    assert predictions.shape == (100, 1)
    assert model.evaluate(X, y, batch_size=10, verbose=0) < 0.01


def test_single_input_sample_example(capsys):
    data = array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    data = data.reshape((1, 10, 1))
    print(data.shape)
    assert capsys.readouterr().out == "(1, 10, 1)\n"
    model = Sequential()
    model.add(LSTM(32, input_shape=(10, 1)))
    assert model.predict(data, verbose=0).shape == (1, 32)


def test_multiple_input_features_example(capsys):
    data = array([
        [0.1, 1.0], [0.2, 0.9], [0.3, 0.8], [0.4, 0.7], [0.5, 0.6],
        [0.6, 0.5], [0.7, 0.4], [0.8, 0.3], [0.9, 0.2], [1.0, 0.1]])
    data = data.reshape(1, 10, 2)
    print(data.shape)
    assert capsys.readouterr().out == "(1, 10, 2)\n"
    model = Sequential()
    model.add(LSTM(32, input_shape=(10, 2)))
    assert model.predict(data, verbose=0).shape == (1, 32)
