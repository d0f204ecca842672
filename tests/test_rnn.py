"""The recurrent core: RNN base semantics for LSTM, GRU and SimpleRNN.

Keras semantics are written here as formulas (the cell equations, dropout
scaling and mask reuse, masked-step outputs); gradients are checked against
float64 central differences through the layers, with masks, dropout, initial
states, return_sequences / return_state and stateful carry-over.
"""

import numpy as np
import pytest

from minilstm import backend, utils
from minilstm.kernels.gradcheck import numerical_gradient
from minilstm.layers import GRU, LSTM, Dense, Input, SimpleRNN
from minilstm.models import Sequential

RECURRENT = [LSTM, GRU, SimpleRNN]
IDS = ["LSTM", "GRU", "SimpleRNN"]


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def assert_gradient_close(analytic, numeric):
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


# -- the cell equations, written out --------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_follows_the_keras_equations(reset_after, use_backend):
    backend.set_floatx("float64")
    rng = np.random.default_rng(0)
    H, I = 3, 2
    layer = GRU(H, reset_after=reset_after, return_sequences=True)
    layer.build((None, 2, I))
    W, U = rng.standard_normal((I, 3 * H)), rng.standard_normal((H, 3 * H))
    b = rng.standard_normal((2, 3 * H) if reset_after else (3 * H,))
    layer.set_weights([W, U, b])
    x, h = rng.standard_normal((4, 2, I)), rng.standard_normal((4, H))
    got = backend.to_numpy(layer(x, initial_state=[h]))

    b_in, b_rec = (b[0], b[1]) if reset_after else (b, np.zeros(3 * H))
    for t in range(2):
        xz, xr, xh = np.split(x[:, t] @ W + b_in, 3, axis=1)
        if reset_after:
            hz, hr, hh = np.split(h @ U + b_rec, 3, axis=1)
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            candidate = np.tanh(xh + r * hh)
        else:
            z = sigmoid(xz + h @ U[:, :H])
            r = sigmoid(xr + h @ U[:, H:2 * H])
            candidate = np.tanh(xh + (r * h) @ U[:, 2 * H:])
        h = z * h + (1 - z) * candidate
        np.testing.assert_allclose(got[:, t], h, rtol=1e-10, atol=1e-12)


def test_simple_rnn_follows_the_keras_equation(use_backend):
    backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    layer = SimpleRNN(3, activation="relu", return_sequences=True)
    layer.build((None, 3, 2))
    W, U, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 3)) * 0.5, rng.standard_normal(3)
    layer.set_weights([W, U, b])
    x = rng.standard_normal((2, 3, 2))
    got = backend.to_numpy(layer(x))
    h = np.zeros((2, 3))
    for t in range(3):
        h = np.maximum(x[:, t] @ W + b + h @ U, 0)
        np.testing.assert_allclose(got[:, t], h, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_weight_shapes_follow_keras(cls):
    layer = cls(4)
    layer.build((None, 5, 3))
    gates = {LSTM: 4, GRU: 3, SimpleRNN: 1}[cls]
    shapes = [w.shape for w in layer.get_weights()]
    bias = (2, 12) if cls is GRU else (4 * gates,)
    assert shapes == [(3, 4 * gates), (4, 4 * gates), bias]
    keras2 = GRU(4, reset_after=False)
    keras2.build((None, 5, 3))
    assert keras2.get_weights()[2].shape == (12,)
    # params: GRU (reset_after) 3*(u*(F+u) + 2u), SimpleRNN u*(F+u) + u
    expected = {LSTM: 4 * (4 * 7 + 4), GRU: 3 * (4 * 7 + 8), SimpleRNN: 4 * 7 + 4}[cls]
    assert layer.count_params() == expected


# -- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_masked_steps_carry_the_state_and_repeat_the_output(cls, use_backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], bool)
    layer = cls(4, return_sequences=True)
    out = backend.to_numpy(layer(x, mask=mask))
    for b in range(3):
        previous = np.zeros(4, "float32")  # initial state
        for t in range(5):
            if not mask[b, t]:
                np.testing.assert_array_equal(out[b, t], previous)
            previous = out[b, t]
    # a padded batch gives each sequence's own result: row 0 is its first 3 steps alone
    alone = backend.to_numpy(cls(4, return_sequences=True)(x[:1, :3]) * 0)  # shape only
    layer_alone = layer(x[:1, :3])
    np.testing.assert_allclose(backend.to_numpy(layer_alone)[0], out[0, :3], rtol=1e-5,
                               atol=1e-6)
    assert alone.shape == (1, 3, 4)


def test_zero_output_for_mask_gives_zeros(use_backend):
    x = np.random.default_rng(3).standard_normal((2, 4, 1)).astype("float32")
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool)
    out = backend.to_numpy(LSTM(2, return_sequences=True, zero_output_for_mask=True)(x, mask=mask))
    np.testing.assert_array_equal(out[~mask], 0.0)
    assert (out[mask] != 0).all()


# -- dropout ---------------------------------------------------------------------------------


def test_dropout_is_one_scaled_mask_per_batch_reused_at_every_step(use_backend):
    """SimpleRNN with identity kernel, zero recurrence: output_t = x_t * mask, so the mask shows."""
    rate, B, T, F = 0.25, 64, 6, 5
    layer = SimpleRNN(F, activation="linear", dropout=rate, return_sequences=True)
    layer.build((None, T, F))
    layer.set_weights([np.eye(F), np.zeros((F, F)), np.zeros(F)])
    x = np.ones((B, T, F), "float32")
    out = backend.to_numpy(layer(x, training=True))
    mask = out[:, 0]
    np.testing.assert_array_equal(out, np.broadcast_to(mask[:, None], out.shape))  # reused
    assert set(np.unique(mask)) <= {0.0, np.float32(1 / (1 - rate))}  # inverted scaling
    assert 0.15 < (mask == 0).mean() < 0.35
    np.testing.assert_array_equal(backend.to_numpy(layer(x)), x)  # inference: no dropout


@pytest.mark.parametrize("rate", [0.0, 1.0])
@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_dropout_applies_only_strictly_between_0_and_1(cls, rate, use_backend):
    layer = cls(3, dropout=rate, recurrent_dropout=rate)
    x = np.random.default_rng(4).standard_normal((4, 3, 2)).astype("float32")
    np.testing.assert_array_equal(backend.to_numpy(layer(x, training=True)),
                                  backend.to_numpy(layer(x)))
    model = Sequential([cls(3, dropout=rate, input_shape=(3, 2)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.ones((4, 1)), epochs=2, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_recurrent_dropout_uses_one_mask_per_gate_and_is_reproducible(cls, use_backend):
    layer = cls(3, dropout=0.3, recurrent_dropout=0.3)
    x = np.random.default_rng(5).standard_normal((4, 3, 2)).astype("float32")
    layer.build((None, 3, 2))
    masks = layer._dropout_masks(x, training=True)
    gates = {LSTM: 4, GRU: 3, SimpleRNN: 1}[cls]
    assert masks[0].shape == (gates, 4, 2) and masks[1].shape == (gates, 4, 3)
    utils.set_random_seed(7)
    first = backend.to_numpy(layer(x, training=True))
    utils.set_random_seed(7)
    np.testing.assert_array_equal(backend.to_numpy(layer(x, training=True)), first)
    shared = cls(3, dropout=0.3)
    shared.build((None, 3, 2))
    assert shared._dropout_masks(x, training=True)[0].shape == (1, 4, 2)  # implementation 2


def test_bad_dropout_arguments_are_refused():
    with pytest.raises(TypeError, match="dropout"):
        LSTM(2, dropout="0.2")
    with pytest.raises(ValueError, match="dropout"):
        GRU(2, recurrent_dropout=float("nan"))
    with pytest.raises(NotImplementedError, match="kernel_regularizer"):
        LSTM(2, kernel_regularizer="l2")
    with pytest.raises(ValueError, match="cuDNN"):
        LSTM(2, use_cudnn=True)


# -- initial state, return_state -------------------------------------------------------------


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_initial_state_and_return_state(cls, use_backend):
    rng = np.random.default_rng(6)
    layer = cls(3, return_state=True)
    x = rng.standard_normal((2, 4, 2)).astype("float32")
    count = 2 if cls is LSTM else 1
    states = [rng.standard_normal((2, 3)).astype("float32") for _ in range(count)]
    output, *final = layer(x, initial_state=states)
    assert len(final) == count
    np.testing.assert_array_equal(backend.to_numpy(output), backend.to_numpy(final[0]))
    # running the first two steps, then the last two from their final states, gives the same
    _, *middle = layer(x[:, :2], initial_state=states)
    _, *end = layer(x[:, 2:], initial_state=middle)
    for a, b in zip(end, final):
        np.testing.assert_allclose(backend.to_numpy(a), backend.to_numpy(b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=f"expects {count} states"):
        layer(x, initial_state=states * 2)
    with pytest.raises(ValueError, match="State 0 is incompatible"):
        layer(x, initial_state=[np.zeros((3, 3))] * count)


# -- stateful --------------------------------------------------------------------------------


def _stateful_models():
    """The same stateful two-layer model, declared each way Keras users declare it."""
    yield "Input(batch_shape)", lambda cls: Sequential(
        [Input(batch_shape=(2, 3, 1)), cls(4, stateful=True, return_sequences=True),
         cls(2, stateful=True)])
    yield "Input(shape, batch_size)", lambda cls: Sequential(
        [Input(shape=(3, 1), batch_size=2), cls(4, stateful=True, return_sequences=True),
         cls(2, stateful=True)])
    yield "batch_input_shape", lambda cls: Sequential(
        [cls(4, stateful=True, return_sequences=True, batch_input_shape=(2, 3, 1)),
         cls(2, stateful=True)])
    yield "batch_size + input_shape", lambda cls: Sequential(
        [cls(4, stateful=True, return_sequences=True, batch_size=2, input_shape=(3, 1)),
         cls(2, stateful=True)])


@pytest.mark.parametrize("declare", [make for _, make in _stateful_models()],
                         ids=[name for name, _ in _stateful_models()])
@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_stateful_models_declared_each_way_carry_state(cls, declare, use_backend):
    utils.set_random_seed(0)
    model = declare(cls)
    x = np.random.default_rng(7).standard_normal((2, 6, 1)).astype("float32")
    # two calls of 3 steps, carried, equal one run of 6 steps from zero states
    model.predict(x[:, :3], batch_size=2, verbose=0)
    carried = model.predict(x[:, 3:], batch_size=2, verbose=0)
    model.reset_states()
    whole = Sequential([Input(shape=(6, 1))] + [type(layer)(layer.units,
                                                             return_sequences=layer.return_sequences)
                                                for layer in model.layers])
    whole.set_weights(model.get_weights())
    np.testing.assert_allclose(carried, whole.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_rejected_call_leaves_the_carried_state_alone(use_backend):
    model = Sequential([Input(batch_shape=(2, 3, 1)), LSTM(3, stateful=True)])
    model.predict(np.ones((2, 3, 1)), batch_size=2, verbose=0)
    before = [backend.to_numpy(s).copy() for s in model.layers[0].states]
    with pytest.raises(ValueError, match="batch size"):
        model.layers[0](np.ones((3, 3, 1)))
    with pytest.raises(ValueError):
        model.predict(np.ones((4, 3, 2)), batch_size=2, verbose=0)
    after = [backend.to_numpy(s) for s in model.layers[0].states]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_reset_states_with_values_and_its_errors():
    layer = LSTM(2, stateful=True, batch_input_shape=(3, 4, 1))
    layer.build((3, 4, 1))
    h, c = np.full((3, 2), 0.5), np.full((3, 2), -0.5)
    layer.reset_states(states=[h, c])
    np.testing.assert_array_equal(backend.to_numpy(layer.states[1]), c)
    with pytest.raises(ValueError, match="expects 2 states"):
        layer.reset_states([h])
    with pytest.raises(ValueError, match="expected shape=\\(3, 2\\)"):
        layer.reset_states([h, np.zeros((2, 2))])
    layer.reset_state()
    assert not backend.to_numpy(layer.states[0]).any()
    with pytest.raises(AttributeError, match="must be stateful"):
        GRU(2).reset_states()


# -- gradients by finite differences ---------------------------------------------------------

GRADIENT_CASES = [
    {"return_sequences": True},
    {"return_sequences": False},
    {"return_sequences": True, "go_backwards": True, "mask": True},
    {"return_state": True, "mask": True},
    {"return_sequences": True, "dropout": 0.3, "recurrent_dropout": 0.3},
    {"return_sequences": True, "zero_output_for_mask": True, "mask": True},
    {"initial_state": True, "return_sequences": True, "mask": True},
    {"use_bias": False},
]


@pytest.mark.parametrize("case", GRADIENT_CASES,
                         ids=["-".join(k for k in case) for case in GRADIENT_CASES])
@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_layer_gradients_by_finite_differences(cls, case, use_backend):
    if use_backend == "cupy":
        pytest.skip("finite differences run on the host sets; parity carries them to cupy")
    backend.set_floatx("float64")
    case = dict(case)
    use_mask, use_initial = case.pop("mask", False), case.pop("initial_state", False)
    rng = np.random.default_rng(8)
    B, T, I, H = 3, 4, 2, 3
    layer = cls(H, **case)
    layer.build((None, T, I))
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) < 0.7 if use_mask else None
    states = ([rng.standard_normal((B, H)) for _ in range(layer.state_count)]
              if use_initial else None)
    seed = 9

    def run():
        np.random.seed(seed)  # the same dropout masks every call
        return layer.forward(x, training=True, mask=mask, initial_state=states)

    outputs = run()
    outputs = outputs if isinstance(outputs, list) else [outputs]
    upstream = [rng.standard_normal(np.shape(o)) for o in outputs]

    def loss():
        result = run()
        result = result if isinstance(result, list) else [result]
        return float(sum((o * d).sum() for o, d in zip(result, upstream)))

    run()
    dx = layer.backward(upstream if layer.return_state else upstream[0])
    grads, state_grads = list(layer.grads), list(layer.initial_state_grads)
    assert_gradient_close(dx, numerical_gradient(loss, x))
    for weight, grad in zip(layer.weights, grads):
        assert_gradient_close(grad, numerical_gradient(loss, weight))
    for state, grad in zip(states or [], state_grads):
        assert_gradient_close(grad, numerical_gradient(loss, state))


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_stateful_carry_over_gradients(cls, use_backend):
    """The second batch starts from the first batch's final states (held fixed, as Keras)."""
    if use_backend == "cupy":
        pytest.skip("finite differences run on the host sets")
    backend.set_floatx("float64")
    rng = np.random.default_rng(10)
    layer = cls(3, stateful=True, return_sequences=True, batch_input_shape=(2, 3, 2))
    layer.build((2, 3, 2))
    first, second = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 2))
    layer.forward(first)
    carried = [s.copy() for s in layer.states]
    dy = rng.standard_normal((2, 3, 3))

    def loss():
        layer.states = [s.copy() for s in carried]
        return float((layer.forward(second, training=True) * dy).sum())

    loss()
    dx = layer.backward(dy)
    grads = list(layer.grads)
    assert_gradient_close(dx, numerical_gradient(loss, second))
    for weight, grad in zip(layer.weights, grads):
        assert_gradient_close(grad, numerical_gradient(loss, weight))
    assert any(np.abs(g).max() > 0 for g in layer.initial_state_grads)


# -- in a model ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_each_layer_trains_in_a_model(cls, use_backend):
    utils.set_random_seed(1)
    rng = np.random.default_rng(11)
    x = rng.random((64, 5, 1)).astype("float32")
    y = x.sum(axis=1) / 5
    model = Sequential([Input(shape=(5, 1)), cls(8, dropout=0.1, recurrent_dropout=0.1),
                        Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first / 4


# -- predict and evaluate: the forward-only kernels ---------------------------------------


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("cls", RECURRENT, ids=IDS)
def test_predict_and_evaluate_run_without_a_cache_and_give_the_same_numbers(
        cls, return_sequences, use_backend):
    """predict/evaluate use the inference kernels: the numbers of the training forward,
    stateful carry-over included, and no per-step cache left behind."""
    from minilstm.layers import Masking

    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    x[1, 4:] = 0.0  # padded steps, masked by Masking
    y = rng.standard_normal((4, 6, 2) if return_sequences else (4, 2)).astype("float32")

    def model(stateful):
        m = Sequential([Input(batch_shape=(4, 6, 3)), Masking(),
                        cls(5, return_sequences=return_sequences, stateful=stateful), Dense(2)])
        m.compile("adam", "mse")
        return m

    for stateful in (False, True):
        utils.set_random_seed(0)
        m = model(stateful)
        rnn = m.layers[1]
        expected = [backend.to_numpy(m(x)) for _ in range(2)]  # training forward, with cache
        assert rnn._cache is not None
        carried = [backend.to_numpy(s).copy() for s in rnn.states] if stateful else None
        if stateful:
            m.reset_states()
        got = [m.predict(x, batch_size=4, verbose=0) for _ in range(2)]
        assert rnn._cache is None  # predict kept no cache
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
        if stateful:  # predict carried the states exactly as the training forward did
            for s, c in zip(rnn.states, carried):
                np.testing.assert_allclose(backend.to_numpy(s), c, rtol=1e-5, atol=1e-6)
            m.reset_states()
        loss = m.evaluate(x, y, batch_size=4, verbose=0)
        per_step = np.mean((expected[0] - y) ** 2, axis=-1)
        if return_sequences:  # Keras 3 leaves the masked timesteps out of the mean
            steps = np.any(x != 0.0, axis=-1)
            per_step = per_step[steps]
        np.testing.assert_allclose(loss, per_step.mean(), rtol=1e-5)


def test_backward_after_a_forward_without_cache_raises(use_backend):
    from minilstm.layers.base import keeps_cache, no_cache

    layer = LSTM(3)
    x = np.ones((2, 4, 2), "float32")
    layer(x)
    with no_cache():
        assert not keeps_cache()
        layer(x)
    assert keeps_cache()
    with pytest.raises(RuntimeError, match=r"no_cache\(\)"):
        layer.backward(np.ones((2, 3), "float32"))
    layer(x)  # a forward outside no_cache() keeps its cache again
    assert layer.backward(np.ones((2, 3), "float32")).shape == x.shape


def test_no_cache_holds_only_in_the_thread_that_entered_it():
    import threading

    from minilstm.layers.base import keeps_cache, no_cache

    seen = {}
    with no_cache():
        worker = threading.Thread(target=lambda: seen.update(other=keeps_cache()))
        worker.start()
        worker.join()
        seen["inside"] = keeps_cache()
    assert seen == {"other": True, "inside": False}
    assert keeps_cache()
