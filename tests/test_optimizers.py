"""Optimizers against their update rules, written out here (KERAS.md section 5)."""

import math
import warnings

import numpy as np
import pytest

from minilstm import backend, kernels, optimizers
from minilstm.kernels import _module as _kernel_module
from minilstm.layers import LSTM, Dense
from minilstm.models import Sequential
from minilstm.optimizers import SGD, Adam, Optimizer, RMSprop

W0 = np.array([[0.5, -1.25, 2.0], [0.0, 0.75, -0.3]])
GRADS = [
    np.array([[0.1, -0.2, 0.3], [1.5, 0.0, -0.7]]),
    np.array([[-0.4, 0.25, 0.3], [0.5, 2.0, -0.1]]),
    np.array([[0.05, -0.6, 0.9], [-1.0, 0.3, 0.2]]),
    np.array([[0.2, 0.2, -0.2], [0.4, -1.1, 0.6]]),
]


def run(optimizer, w0=W0, grads=GRADS):
    w = w0.copy()
    for g in grads:
        optimizer.apply_gradients([(g, w)])
    return w


def sgd_expected(lr, momentum=0.0, nesterov=False):
    w, v = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        if momentum == 0:
            w = w - lr * g
            continue
        v = momentum * v - lr * g
        w = w + (momentum * v - lr * g if nesterov else v)
    return w


def adam_expected(lr, beta_1, beta_2, epsilon, amsgrad=False):
    w, m, v, v_hat = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), np.zeros_like(W0)
    for step, g in enumerate(GRADS):
        t = step + 1
        alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_hat = np.maximum(v_hat, v)
        w = w - alpha * m / (np.sqrt(v_hat if amsgrad else v) + epsilon)
    return w


def rmsprop_expected(lr, rho, momentum, epsilon, centered=False):
    w, v, mg, mom = W0.copy(), np.zeros_like(W0), np.zeros_like(W0), np.zeros_like(W0)
    for g in GRADS:
        v = rho * v + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        denominator = v - mg * mg + epsilon if centered else v + epsilon
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
    return w


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.1},
        {"learning_rate": 0.1, "momentum": 0.9},
        {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
    ],
    ids=["plain", "momentum", "nesterov"],
)
def test_sgd_matches_formula(kwargs):
    lr = kwargs.pop("learning_rate")
    np.testing.assert_allclose(
        run(SGD(learning_rate=lr, **kwargs)), sgd_expected(lr, **kwargs), rtol=0, atol=1e-12
    )


_NUMBA = _kernel_module("numba")
# Adam's update runs as NumPy formulas, or fused in one compiled loop once the numba
# kernel set is loaded in the process (kernels/cpu/adam.py); both paths are tested.
ADAM_PATHS = [
    pytest.param("numpy", id="numpy-update"),
    pytest.param("compiled", id="compiled-update", marks=pytest.mark.skipif(
        not _NUMBA.is_available(), reason=_NUMBA.unavailable_reason())),
]


@pytest.fixture(params=ADAM_PATHS)
def adam_path(request, monkeypatch):
    """Runs the test with Adam's NumPy update or with its compiled twin."""
    if request.param == "compiled":
        kernels.get("numba")  # loaded: optimizers._compiled_step finds it
        assert optimizers._compiled_step("adam") is not None
    else:
        monkeypatch.setattr(optimizers, "_compiled_step", lambda name: None)
    return request.param


@pytest.mark.parametrize("amsgrad", [False, True], ids=["plain", "amsgrad"])
def test_adam_matches_formula(amsgrad, adam_path):
    optimizer = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6, amsgrad=amsgrad)
    expected = adam_expected(0.01, 0.8, 0.95, 1e-6, amsgrad=amsgrad)
    np.testing.assert_allclose(run(optimizer), expected, rtol=0, atol=1e-12)


def test_adam_amsgrad_differs_when_v_shrinks():
    # The gradients shrink at step 4, so v decreases there and v_hat matters.
    assert (
        np.abs(
            adam_expected(0.01, 0.8, 0.95, 1e-6, True) - adam_expected(0.01, 0.8, 0.95, 1e-6)
        ).max()
        > 1e-6
    )


def test_adam_defaults_match_formula():
    np.testing.assert_allclose(run(Adam()), adam_expected(0.001, 0.9, 0.999, 1e-7), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"centered": True}, {"momentum": 0.7}, {"centered": True, "momentum": 0.5}],
    ids=["plain", "centered", "momentum", "centered-momentum"],
)
def test_rmsprop_matches_formula(kwargs):
    optimizer = RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-6, **kwargs)
    expected = rmsprop_expected(
        0.01, 0.8, kwargs.get("momentum", 0.0), 1e-6, centered=kwargs.get("centered", False)
    )
    np.testing.assert_allclose(run(optimizer), expected, rtol=0, atol=1e-12)


def test_rmsprop_epsilon_inside_sqrt():
    # One step from zero slots with g = 0: nothing moves; with tiny g, the step is
    # lr*g/sqrt((1-rho)*g^2 + eps), far from lr*g/(sqrt((1-rho)*g^2) + eps).
    w, g = np.array([1.0]), np.array([1e-4])
    RMSprop(learning_rate=0.1, rho=0.9, epsilon=1e-7).apply_gradients([(g, w)])
    np.testing.assert_allclose(w, 1.0 - 0.1 * 1e-4 / np.sqrt(0.1 * 1e-8 + 1e-7), atol=1e-15)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: SGD(momentum=0.9, nesterov=True),
        lambda: Adam(amsgrad=True),
        lambda: RMSprop(centered=True, momentum=0.5),
    ],
    ids=["sgd", "adam", "rmsprop"],
)
def test_float32_stays_float32_and_updates_in_place(make_optimizer):
    # The optimizer must write into the layers' own arrays: a model's weight after a step is
    # the very array object it held before, with new values, still float32, and the slots the
    # optimizer keeps for that object are float32 too.
    backend.set_floatx("float32")  # restored by conftest
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    optimizer = make_optimizer()
    model.compile(optimizer=optimizer, loss="mse")
    x = np.linspace(-1, 1, 5 * 4 * 2, dtype=np.float32).reshape(5, 4, 2)
    y = np.linspace(0, 1, 5, dtype=np.float32).reshape(5, 1)
    model.predict(x, verbose=0)  # builds the weights without training
    arrays = [w for layer in model.layers for w in layer.trainable_weights]
    before = [w.copy() for w in arrays]
    for _ in range(3):
        model.train_on_batch(x, y)
    after = [w for layer in model.layers for w in layer.trainable_weights]
    assert len(after) == len(arrays) == 5  # kernel, recurrent_kernel, bias; kernel, bias
    for array, now, old in zip(arrays, after, before):
        assert now is array  # the same object: updated in place, not rebound
        assert now.dtype == np.float32
        assert not np.array_equal(now, old)
        slots = optimizer.slots_for(now)
        assert slots and all(slot.dtype == np.float32 for slot in slots.values())
    assert optimizer.iterations == 3
    assert all(slot.dtype == np.float32 for slot in optimizer.variables)


def test_several_params_get_their_own_slots():
    optimizer = Adam(learning_rate=0.01)
    a, b = W0.copy(), W0[0].copy()
    for g in GRADS:
        optimizer.apply_gradients([(g, a), (g[0], b)])
    assert optimizer.iterations == len(GRADS)
    assert set(optimizer.slots_for(a)) == {"momentum", "velocity"}
    assert optimizer.slots_for(a)["momentum"].shape == (2, 3)
    assert optimizer.slots_for(b)["momentum"].shape == (3,)
    assert len(optimizer.variables) == 4
    np.testing.assert_allclose(b, adam_expected(0.01, 0.9, 0.999, 1e-7)[0], atol=1e-12)


def test_lr_alias_equals_learning_rate():
    assert Adam(lr=0.02).learning_rate == 0.02
    np.testing.assert_array_equal(run(SGD(lr=0.1, momentum=0.9)), run(SGD(0.1, momentum=0.9)))
    np.testing.assert_array_equal(run(RMSprop(lr=0.01)), run(RMSprop(learning_rate=0.01)))


def test_lr_and_learning_rate_together_raise():
    with pytest.raises(ValueError, match="not both"):
        Adam(learning_rate=0.01, lr=0.02)
    with pytest.raises(ValueError, match="not both"):
        SGD(0.01, lr=0.02)  # the default value, but passed explicitly


def test_unknown_kwarg_error_text():
    with pytest.raises(ValueError) as info:
        Adam(learnign_rate=0.1)
    assert str(info.value) == "Argument(s) not recognized: {'learnign_rate': 0.1}"


def test_decay_warns_and_is_ignored():
    with pytest.warns(UserWarning, match="Argument `decay` is no longer supported"):
        optimizer = SGD(learning_rate=0.1, decay=0.5)
    np.testing.assert_allclose(run(optimizer), sgd_expected(0.1), atol=1e-12)


def test_only_one_clip_option():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue`"):
        SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="Only one of"):
        Adam(clipnorm=1.0, global_clipnorm=1.0)


def test_clipnorm_is_per_tensor():
    a, b = np.zeros(2), np.zeros(3)
    ga, gb = np.array([3.0, 4.0]), np.array([0.1, 0.2, -0.2])  # norms 5 and 0.3
    SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([(ga, a), (gb, b)])
    np.testing.assert_allclose(a, -ga * 1.0 / 5.0, atol=1e-12)
    np.testing.assert_allclose(b, -gb, atol=1e-12)  # under the limit: unchanged


def test_global_clipnorm_scales_all_together():
    a, b = np.zeros(2), np.zeros(3)
    ga, gb = np.array([3.0, 4.0]), np.array([0.0, 12.0, 0.0])  # joint norm 13
    SGD(learning_rate=1.0, global_clipnorm=2.6).apply_gradients([(ga, a), (gb, b)])
    np.testing.assert_allclose(a, -ga * 2.6 / 13.0, atol=1e-12)
    np.testing.assert_allclose(b, -gb * 2.6 / 13.0, atol=1e-12)


def test_clipvalue_clips_entries():
    w, g = np.zeros(4), np.array([-3.0, -0.2, 0.4, 9.0])
    SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([(g, w)])
    np.testing.assert_allclose(w, -np.clip(g, -0.5, 0.5), atol=1e-12)


def test_clipping_leaves_caller_gradient_alone():
    g = np.array([3.0, 4.0])
    SGD(clipnorm=1.0).apply_gradients([(g, np.zeros(2))])
    np.testing.assert_array_equal(g, [3.0, 4.0])


@pytest.mark.parametrize("name", ["sgd", "SGD", "Adam", "ADAM", "rmsprop", "RMSprop"])
def test_get_is_case_insensitive(name):
    optimizer = optimizers.get(name)
    assert type(optimizer).__name__.lower() == name.lower()
    assert optimizers.get(name) is not optimizer  # a fresh instance each time


def test_get_passes_instances_and_lists_choices():
    adam = Adam(learning_rate=0.5)
    assert optimizers.get(adam) is adam
    with pytest.raises(ValueError) as info:
        optimizers.get("adamm")
    assert str(info.value) == (
        "Unknown optimizer 'adamm'. Expected one of 'sgd', 'rmsprop', 'adam', "
        "or an Optimizer instance."
    )
    with pytest.raises(TypeError, match="'sgd', 'rmsprop', 'adam'"):
        optimizers.get(3)


def test_get_defaults_are_keras_defaults():
    assert optimizers.get("sgd").get_config()["learning_rate"] == 0.01
    assert optimizers.get("adam").get_config() == {
        "name": "adam",
        "learning_rate": 0.001,
        "clipnorm": None,
        "clipvalue": None,
        "global_clipnorm": None,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    }
    rmsprop = optimizers.get("rmsprop").get_config()
    assert (rmsprop["rho"], rmsprop["momentum"], rmsprop["epsilon"]) == (0.9, 0.0, 1e-7)


@pytest.mark.parametrize(
    "optimizer",
    [SGD(0.1, momentum=0.5, clipnorm=2.0), Adam(0.01, amsgrad=True), RMSprop(centered=True)],
    ids=["sgd", "adam", "rmsprop"],
)
def test_get_config_rebuilds(optimizer):
    rebuilt = type(optimizer)(**optimizer.get_config())
    assert rebuilt.get_config() == optimizer.get_config()


def test_learning_rate_setter_changes_later_steps():
    optimizer = SGD(learning_rate=0.1)
    w = W0.copy()
    optimizer.apply_gradients([(GRADS[0], w)])
    optimizer.learning_rate = np.float32(0.5)  # as ReduceLROnPlateau may set it
    assert optimizer.learning_rate == 0.5 and type(optimizer.learning_rate) is float
    optimizer.apply_gradients([(GRADS[1], w)])
    np.testing.assert_allclose(w, W0 - 0.1 * GRADS[0] - 0.5 * GRADS[1], atol=1e-12)


def test_learning_rate_setter_in_adam_uses_new_rate():
    optimizer, w = Adam(learning_rate=0.01), W0.copy()
    optimizer.apply_gradients([(GRADS[0], w)])
    optimizer.learning_rate = 0.0
    frozen = w.copy()
    optimizer.apply_gradients([(GRADS[1], w)])
    np.testing.assert_array_equal(w, frozen)


@pytest.mark.parametrize(
    "optimizer", [SGD(momentum=0.9), Adam(), RMSprop(centered=True)], ids=["sgd", "adam", "rmsprop"]
)
def test_rejected_step_changes_nothing(optimizer):
    a, b = W0.copy(), W0.copy()
    optimizer.apply_gradients([(GRADS[0], a)])
    slots_before = {key: value.copy() for key, value in optimizer.slots_for(a).items()}
    a_before = a.copy()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        optimizer.apply_gradients([(GRADS[1], a), (np.ones(3), b)])  # second pair is bad
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, W0)
    assert optimizer.iterations == 1
    assert optimizer.slots_for(b) == {}
    for key, value in optimizer.slots_for(a).items():
        np.testing.assert_array_equal(value, slots_before[key])


def test_none_gradient_is_rejected():
    optimizer, w = SGD(), W0.copy()
    with pytest.raises(ValueError, match="No gradient"):
        optimizer.apply_gradients([(None, w)])
    assert optimizer.iterations == 0


def test_reset_drops_slots_and_iterations():
    optimizer, w = Adam(), W0.copy()
    optimizer.apply_gradients([(GRADS[0], w)])
    optimizer.reset()
    assert optimizer.iterations == 0 and optimizer.slots_for(w) == {}
    assert optimizer.variables == []


@pytest.mark.parametrize("momentum", [1.5, -0.1, 1.0, float("nan"), "0.9"])
def test_sgd_momentum_out_of_range(momentum):
    # Keras raises ValueError, also for a string; minilstm's error is a TypeError for a
    # string and still a ValueError, so Keras code that catches ValueError keeps working.
    with pytest.raises(ValueError, match=r"`momentum` must be a (finite )?float in \[0, 1\)"):
        SGD(momentum=momentum)


def test_integer_hyperparameters_are_numbers():
    # Keras 3 refuses SGD(momentum=0) (not a float); minilstm takes any real number but bool.
    assert SGD(learning_rate=1, momentum=0).get_config()["momentum"] == 0.0
    assert Adam(epsilon=1, beta_1=0).epsilon == 1.0


def test_base_update_step_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer(0.1).apply_gradients([(np.ones(2), np.zeros(2))])


def test_no_warning_for_plain_construction():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGD(), Adam(), RMSprop()


@pytest.mark.skipif(not _NUMBA.is_available(), reason=_NUMBA.unavailable_reason())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True], ids=["plain", "amsgrad"])
def test_compiled_adam_is_bit_for_bit_the_numpy_update(dtype, amsgrad, monkeypatch):
    """The fused loop makes NumPy's operations in NumPy's order and dtype: equal bits,
    weights and slots, over steps whose gradients shrink (amsgrad's v_hat matters), for
    weights of several shapes, a NaN gradient entry included (it must spread the same)."""
    kernels.get("numba")
    rng = np.random.default_rng(7)
    shapes = [(3, 17), (40,), (1,), (2, 3, 5)]
    weights = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(rng.standard_normal(s) * 0.5 ** step).astype(dtype) for s in shapes]
             for step in range(5)]
    grads[3][1][4] = np.nan

    def train(compiled):
        if not compiled:
            monkeypatch.setattr(optimizers, "_compiled_step", lambda name: None)
        optimizer = Adam(learning_rate=0.003, beta_1=0.85, beta_2=0.99, amsgrad=amsgrad)
        ws = [w.copy() for w in weights]
        for step in grads:
            optimizer.apply_gradients(list(zip(step, ws)))
        monkeypatch.undo()
        return ws + optimizer.variables

    compiled, numpy_update = train(True), train(False)
    assert len(compiled) == len(numpy_update) == len(shapes) * (4 if amsgrad else 3)
    for a, b in zip(compiled, numpy_update):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)  # NaN where NumPy has NaN, equal bits elsewhere
    assert np.isnan(compiled[1][4]) and not np.isnan(compiled[1][3])


@pytest.mark.skipif(not _NUMBA.is_available(), reason=_NUMBA.unavailable_reason())
def test_compiled_adam_leaves_other_arrays_to_numpy():
    """A weight the loop cannot take (not C-contiguous, or not float32/64) still steps,
    through the NumPy formulas."""
    kernels.get("numba")
    from minilstm.kernels.cpu.adam import can_update

    fortran = np.asfortranarray(W0)
    assert not can_update(fortran, GRADS[0]) and not can_update(W0.astype(np.float16), GRADS[0])
    assert can_update(W0.copy(), GRADS[0])
    w = fortran.copy(order="F")
    for g in GRADS:
        Adam(learning_rate=0.01).apply_gradients([(g, w)])
    one_step_each = W0.copy()
    for g in GRADS:
        Adam(learning_rate=0.01).apply_gradients([(g, one_step_each)])
    np.testing.assert_array_equal(w, one_step_each)
