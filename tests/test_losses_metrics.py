"""Losses and metrics against Keras's formulas, written out here, and finite differences."""

import doctest

import numpy as np
import pytest

from minilstm import losses, metrics

EPS = 1e-7  # Keras's backend.epsilon(), the clip used by the crossentropies
rng = np.random.default_rng(0)


# -- the formulas, written out (KERAS.md section 6) ------------------------------------------


def expected_mse(t, p):
    return ((t - p) ** 2).mean(axis=-1)


def expected_mae(t, p):
    return np.abs(t - p).mean(axis=-1)


def expected_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return (-(t * np.log(p) + (1 - t) * np.log(1 - p))).mean(axis=-1)


def expected_cce(t, p):
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(axis=-1)


def expected_sparse_cce(labels, p):
    return expected_cce(one_hot(labels, p.shape[-1]), p)


def one_hot(labels, classes):
    return np.eye(classes)[labels]


def probabilities(shape):
    """Unnormalised positive outputs, so CCE's p / sum(p) matters."""
    return rng.uniform(0.05, 1.0, size=shape)


def sigmoid_outputs(shape):
    return rng.uniform(0.02, 0.98, size=shape)


# (loss class, expected formula, targets, outputs) for (B, k) and (B, T, k) shapes
def cases():
    out = []
    for shape in [(5, 3), (4, 3, 2)]:
        labels = rng.integers(0, shape[-1], size=shape[:-1])
        out += [
            (losses.MeanSquaredError, expected_mse, rng.normal(size=shape), rng.normal(size=shape)),
            (
                losses.MeanAbsoluteError,
                expected_mae,
                rng.normal(size=shape),
                rng.normal(size=shape),
            ),
            (
                losses.BinaryCrossentropy,
                expected_bce,
                rng.integers(0, 2, shape) * 1.0,
                sigmoid_outputs(shape),
            ),
            (
                losses.CategoricalCrossentropy,
                expected_cce,
                one_hot(labels, shape[-1]),
                probabilities(shape),
            ),
        ]
        out.append(
            (
                losses.SparseCategoricalCrossentropy,
                expected_sparse_cce,
                labels,
                probabilities(shape),
            )
        )
    return out


CASES = cases()
CASE_IDS = [f"{c[0].__name__}-{c[3].ndim}d" for c in CASES]


@pytest.mark.parametrize("loss_class, formula, y_true, y_pred", CASES, ids=CASE_IDS)
def test_loss_values_match_formula(loss_class, formula, y_true, y_pred):
    loss = loss_class()
    values = loss.fn(y_true, y_pred)
    np.testing.assert_allclose(values, formula(y_true, y_pred), rtol=1e-12)
    assert values.shape == y_pred.shape[:-1]  # one value per sample (per timestep for 3-D)
    # sum_over_batch_size: the mean over B (or B*T) values, a 0-d array, not a float
    scalar = loss(y_true, y_pred)
    assert isinstance(scalar, np.ndarray) and scalar.ndim == 0
    np.testing.assert_allclose(scalar, formula(y_true, y_pred).mean(), rtol=1e-12)
    # float32 in, float32 out
    assert loss(y_true, y_pred.astype("float32")).dtype == np.float32


def test_crossentropies_clip_at_epsilon():
    t = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.0], [1.0], [1.0], [0.0]])
    clipped = -np.log(EPS)  # the worst a clipped prediction can cost
    np.testing.assert_allclose(
        losses.bce(t, p), [clipped, clipped, -np.log(1 - EPS), -np.log(1 - EPS)]
    )
    cce = losses.categorical_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(cce, [clipped])


def test_aliases_are_the_functions():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.mae is losses.MAE is losses.mean_absolute_error
    assert losses.bce is losses.binary_crossentropy
    assert metrics.mse is losses.mean_squared_error


# -- gradients against float64 central differences -------------------------------------------


def numeric_gradient(loss, y_true, y_pred, step):
    grad = np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += step[index]
        down[index] -= step[index]
        grad[index] = (float(loss(y_true, up)) - float(loss(y_true, down))) / (2 * step[index])
    return grad


def check_gradient(loss, y_true, y_pred, step):
    analytic = loss.gradient(y_true, y_pred)
    assert analytic.shape == y_pred.shape and analytic.dtype == y_pred.dtype
    np.testing.assert_allclose(
        analytic, numeric_gradient(loss, y_true, y_pred, step), rtol=1e-5, atol=1e-9
    )
    return analytic


@pytest.mark.parametrize("loss_class, formula, y_true, y_pred", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences(loss_class, formula, y_true, y_pred):
    if loss_class is losses.MeanAbsoluteError:  # keep clear of the kink at y_pred == y_true
        y_pred = y_true + np.where(y_pred > y_true, 1, -1) * (0.1 + np.abs(y_pred))
    step = (
        1e-6 * np.ones_like(y_pred)
        if loss_class in (losses.MeanSquaredError, losses.MeanAbsoluteError)
        else 1e-4 * y_pred
    )
    check_gradient(loss_class(), y_true, y_pred, step)


@pytest.mark.parametrize("loss_class, formula, y_true, y_pred", CASES, ids=CASE_IDS)
def test_value_and_gradient_is_the_value_and_the_gradient(loss_class, formula, y_true, y_pred):
    # A training step asks for both at once (MSE shares the error between them): the same
    # bits as the two separate calls, in float32, for targets of y_pred's rank or one less.
    loss = loss_class()
    p = np.asarray(y_pred, np.float32)
    for t in (y_true, np.asarray(y_true)[..., 0] if np.shape(y_true)[-1] == 1 else y_true):
        value, grad = loss.value_and_gradient(t, p)
        assert value.dtype == grad.dtype == np.float32 and grad.shape == p.shape
        np.testing.assert_array_equal(value, loss(t, p))
        np.testing.assert_array_equal(grad, loss.gradient(t, p))


def test_binary_crossentropy_gradient_at_the_clip_edges():
    # clipped (gradient 0), just inside each edge, and ordinary values; no exact ties with eps
    p = np.array([[1e-9], [3e-7], [0.3], [1 - 3e-7], [1 - 1e-9], [1e-9], [1 - 1e-9], [0.7]])
    t = np.array([[1.0], [1.0], [1.0], [0.0], [0.0], [0.0], [1.0], [0.0]])
    grad = check_gradient(losses.BinaryCrossentropy(), t, p, 1e-3 * np.minimum(p, 1 - p))
    assert grad[0, 0] == grad[4, 0] == grad[5, 0] == grad[6, 0] == 0.0
    assert grad[1, 0] < -1e5 and grad[3, 0] > 1e5  # steep, but inside the clip


def test_categorical_crossentropy_gradient_at_the_clip_edges():
    p = np.array(
        [
            [1e-9, 0.5, 0.5],  # q0 ~ 1e-9: clipped
            [3e-7, 0.6, 0.4],  # q0 ~ 3e-7: just inside
            [1e-10, 1e-10, 2.0],  # q2 ~ 1 - 1e-10: clipped at the top
            [1e-10, 1e-10, 2.0],  # q0 clipped at the bottom
            [0.2, 0.9, 0.4],
        ]
    )
    labels = np.array([0, 0, 2, 0, 1])
    loss = losses.CategoricalCrossentropy()
    grad = check_gradient(loss, one_hot(labels, 3), p, 1e-3 * p)
    assert np.all(grad[[0, 2, 3]] == 0.0)
    sparse = check_gradient(losses.SparseCategoricalCrossentropy(), labels, p, 1e-3 * p)
    np.testing.assert_allclose(sparse, grad)


@pytest.mark.parametrize("loss_class", [losses.MeanSquaredError, losses.BinaryCrossentropy])
@pytest.mark.parametrize("true_shape, pred_shape", [((6,), (6, 1)), ((6, 1), (6,))])
def test_rank_fix_up(loss_class, true_shape, pred_shape):
    y_true = rng.integers(0, 2, size=true_shape) * 1.0
    y_pred = sigmoid_outputs(pred_shape)
    loss = loss_class()
    value = loss(y_true, y_pred)
    same = loss(y_true.reshape(6, 1), y_pred.reshape(6, 1))
    np.testing.assert_allclose(value, same)
    assert loss.fn(y_true, y_pred).shape == (6,)  # Keras expands the rank-1 side
    check_gradient(loss, y_true, y_pred, 1e-4 * y_pred)


def test_sparse_labels_with_trailing_axis():
    p = probabilities((4, 3))
    labels = np.array([0, 2, 1, 2])
    loss = losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(loss(labels[:, None], p), loss(labels, p))
    np.testing.assert_allclose(loss.gradient(labels[:, None], p), loss.gradient(labels, p))


# -- get, check_targets, and their messages ---------------------------------------------------


@pytest.mark.parametrize(
    "identifier, expected",
    [
        ("mean_squared_error", losses.MeanSquaredError),
        ("mse", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
        ("MeanSquaredError", losses.MeanSquaredError),
        ("mae", losses.MeanAbsoluteError),
        ("MAE", losses.MeanAbsoluteError),
        ("bce", losses.BinaryCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy),
        (losses.mean_squared_error, losses.MeanSquaredError),
        (losses.BinaryCrossentropy, losses.BinaryCrossentropy),
    ],
)
def test_get_resolves_names(identifier, expected):
    loss = losses.get(identifier)
    assert type(loss) is expected
    assert loss.name == expected.name


def test_get_passes_instances_and_wraps_callables():
    loss = losses.MeanAbsoluteError()
    assert losses.get(loss) is loss
    assert losses.get(None) is None

    def doubled_mse(y_true, y_pred):
        return 2 * ((y_true - y_pred) ** 2).mean(axis=-1)

    wrapped = losses.get(doubled_mse)
    assert wrapped.name == "doubled_mse"
    np.testing.assert_allclose(wrapped(np.zeros((2, 1)), np.ones((2, 1))), 2.0)
    with pytest.raises(NotImplementedError, match="cannot differentiate arbitrary callables"):
        wrapped.gradient(np.zeros((2, 1)), np.ones((2, 1)))


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError) as info:
        losses.get("msee")
    message = str(info.value)
    assert message.startswith("Could not interpret loss identifier: 'msee'. Expected one of ")
    assert "'mean_squared_error' ('mse', 'MSE')" in message
    assert "'sparse_categorical_crossentropy'" in message
    assert "Did you mean 'mse'?" in message
    with pytest.raises(TypeError, match="Could not interpret loss identifier: 3"):
        losses.get(3)


@pytest.mark.parametrize("loss", ["mse", "mae", "binary_crossentropy"])
@pytest.mark.parametrize("true_shape", [(100,), (100, 1)])
def test_check_targets_accepts_fitting_shapes(loss, true_shape):
    losses.check_targets(loss, true_shape, (None, 1))
    losses.check_targets(loss, (100, 5, 2), (None, 5, 2))


def test_check_targets_too_many_columns():
    with pytest.raises(ValueError) as info:
        losses.check_targets("mse", (100, 3), (100, 1))
    assert str(info.value) == (
        "Targets do not fit the model output for loss 'mean_squared_error': expected y of shape "
        "(100, 1) or (100,), but received y of shape (100, 3) for a model output of shape "
        "(100, 1). The last layer has 1 unit(s) but y has 3 value(s) per sample: end the model "
        "with Dense(3), or reshape y."
    )


def test_check_targets_return_sequences_hints():
    with pytest.raises(ValueError, match="set return_sequences=False"):
        losses.check_targets("mse", (100, 2), (None, 7, 2))
    with pytest.raises(ValueError, match="set return_sequences=True"):
        losses.check_targets("mse", (100, 7, 2), (None, 2))
    with pytest.raises(ValueError, match="same number of samples"):
        losses.check_targets("mse", (90, 1), (100, 1))


def test_check_targets_categorical_with_integer_labels():
    for true_shape in [(100,), (100, 1)]:
        with pytest.raises(ValueError) as info:
            losses.check_targets("categorical_crossentropy", true_shape, (None, 3))
        message = str(info.value)
        assert "expected y of shape (100, 3)" in message
        assert f"received y of shape {true_shape}" in message
        assert "loss='sparse_categorical_crossentropy'" in message and "one-hot encode" in message
    with pytest.warns(SyntaxWarning, match="Consider using 'binary_crossentropy'"):
        losses.check_targets("categorical_crossentropy", (100, 1), (None, 1))


def test_check_targets_sparse():
    loss = "sparse_categorical_crossentropy"
    losses.check_targets(loss, (100,), (None, 3), y_true=np.arange(100) % 3)
    losses.check_targets(loss, (100, 1), (None, 3))
    losses.check_targets(loss, (100, 7), (None, 7, 3))
    with pytest.raises(ValueError) as info:
        losses.check_targets(loss, (100, 3), (None, 3))
    assert "expected y of shape (100,) or (100, 1)" in str(info.value)
    assert "y looks one-hot encoded" in str(info.value)
    assert "loss='categorical_crossentropy'" in str(info.value)
    with pytest.raises(ValueError, match=r"labels in \[0, 3\).*values from 0 to 4"):
        losses.check_targets(loss, (5,), (None, 3), y_true=np.arange(5))
    with pytest.raises(ValueError, match="not all integers"):
        losses.check_targets(loss, (2,), (None, 3), y_true=np.array([0.5, 1.0]))


def test_loss_call_validates_shapes():
    with pytest.raises(ValueError, match="Targets do not fit"):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="Targets do not fit"):
        losses.BinaryCrossentropy().gradient(np.zeros((4, 3)), np.full((4, 1), 0.5))


# -- metrics ----------------------------------------------------------------------------------


def test_accuracy_functions():
    t = np.array([[1], [0], [1], [0]])
    p = np.array([[0.9], [0.5], [0.5], [0.2]])  # 0.5 is not > 0.5: predicts 0
    np.testing.assert_array_equal(metrics.binary_accuracy(t, p), [1, 1, 0, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(t[:, 0], p), [1, 1, 0, 1])
    one_hot_t = np.array([[0, 1, 0], [1, 0, 0]])
    p3 = np.array([[0.1, 0.7, 0.2], [0.2, 0.5, 0.3]])
    np.testing.assert_array_equal(metrics.categorical_accuracy(one_hot_t, p3), [1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([1, 0], p3), [1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([[1], [1]], p3), [1, 1])


@pytest.mark.parametrize("name", ["accuracy", "acc", "ACC", "Accuracy"])
def test_accuracy_selection_keras3(name):
    # 1-unit sigmoid: binary, with strict > 0.5
    binary = metrics.resolve(name, (4,), (None, 1))
    assert type(binary) is metrics.BinaryAccuracy and binary.name == name
    assert type(metrics.resolve(name, (4, 1), (4, 1))) is metrics.BinaryAccuracy
    binary.update_state(np.array([1, 0, 1, 0]), np.array([[0.9], [0.5], [0.5], [0.2]]))
    assert binary.result() == 0.75
    # 2-unit softmax with one-hot targets: categorical (even with binary_crossentropy)
    categorical = metrics.resolve(name, (4, 2), (None, 2))
    assert type(categorical) is metrics.CategoricalAccuracy and categorical.name == name
    # 3-unit softmax with integer labels: sparse
    for true_shape in [(4,), (4, 1)]:
        sparse = metrics.resolve(name, true_shape, (None, 3))
        assert type(sparse) is metrics.SparseCategoricalAccuracy and sparse.name == name
    assert type(metrics.resolve(name, (4, 7), (None, 7, 3))) is metrics.SparseCategoricalAccuracy


def test_resolve_other_identifiers():
    mse = metrics.resolve("mse", (4,), (None, 1))
    assert type(mse) is metrics.MeanMetricWrapper and mse.name == "mse"
    mse.update_state(np.zeros(4), np.full((4, 1), 2.0))
    assert mse.result() == 4.0
    assert metrics.resolve("mean_absolute_error", (4,), (None, 1)).name == "mean_absolute_error"
    instance = metrics.BinaryAccuracy(threshold=0.7)
    assert metrics.resolve(instance, (4,), (None, 1)) is instance

    def max_error(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    assert metrics.resolve(max_error, (4, 1), (None, 1)).name == "max_error"


def test_unknown_metric_lists_the_choices():
    with pytest.raises(ValueError) as info:
        metrics.validate("acuracy")
    message = str(info.value)
    assert message.startswith("Could not interpret metric identifier: 'acuracy'. Expected one of")
    assert "'accuracy', 'acc'" in message and "'mse'" in message
    assert "Did you mean 'accuracy'?" in message
    with pytest.raises(ValueError, match="'acuracy'"):
        metrics.resolve("acuracy", (4,), (None, 1))
    with pytest.raises(TypeError):
        metrics.validate(3)
    assert metrics.validate("ACC") == "ACC"


def test_running_mean_weighted_by_batch_size():
    accuracy = metrics.resolve("accuracy", (4,), (None, 1))
    accuracy.update_state(np.array([1, 1, 0]), np.array([[0.9], [0.8], [0.1]]))  # 3 of 3
    accuracy.update_state(np.array([1]), np.array([[0.2]]))  # 0 of 1
    assert accuracy.result() == pytest.approx(3 / 4)  # not the mean of batch means, 1/2
    assert hasattr(accuracy.total, "dtype")  # an array of y_pred's module, not a float
    accuracy.reset_state()
    assert accuracy.result() == 0.0

    tracker = metrics.Mean(name="loss")
    for loss, batch_size in [(np.asarray(2.0), 32), (np.asarray(5.0), 8)]:
        tracker.update_state(loss, sample_weight=batch_size)
    assert tracker.result() == pytest.approx((2.0 * 32 + 5.0 * 8) / 40)


def test_loss_tracker_adds_a_float32_loss_as_its_exact_float64():
    # A training step hands the tracker a float32 number and the batch size: the
    # running total adds that number exactly (as values.mean(dtype="float64") would).
    tracker = metrics.Mean(name="loss")
    for loss, batch_size in [(np.float32(0.1), 3), (np.asarray(np.float32(1 / 3)), 2)]:
        tracker.update_state(loss, sample_weight=batch_size)
    total = float(np.float32(0.1)) * 3 + float(np.float32(1 / 3)) * 2
    assert tracker.total == total and tracker.count == 5
    assert tracker.result() == total / 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_mean_is_numpys_mean_bit_for_bit(dtype):
    # losses._mean replaces np.mean on the training path: the same sum, the same division
    values = np.random.default_rng(0).standard_normal((37, 5)).astype(dtype) ** 2
    for axis in (None, -1, 0):
        got, expected = losses._mean(values, axis=axis), values.mean(axis=axis)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    y_true, y_pred = values[:, :1], values[:, 1:2]
    value, _ = losses.get("mse").value_and_gradient(y_true, y_pred)
    assert value == np.mean(np.mean(np.square(y_pred - y_true), axis=-1))


def test_running_mean_over_sequences_and_sample_weights():
    metric = metrics.MeanMetricWrapper(metrics.mean_squared_error, name="mse")
    metric.update_state(np.zeros((2, 3, 1)), np.ones((2, 3, 1)))  # (B, T) values, all 1
    metric.update_state(np.zeros((1, 3, 1)), np.full((1, 3, 1), 4.0))  # all 16
    assert metric.result() == pytest.approx((2 * 1 + 1 * 16) / 3)
    weighted = metrics.Mean()
    weighted.update_state(np.array([1.0, 3.0]), sample_weight=np.array([3.0, 1.0]))
    assert weighted.result() == pytest.approx(1.5)


# -- doctests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [losses, metrics], ids=["losses", "metrics"])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
