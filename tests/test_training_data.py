"""What fit / evaluate / predict accept: sample and class weights, generators and datasets,
and the losses of masked timesteps, with Keras 3's reductions written out as formulas."""

import warnings

import numpy as np
import pytest

from minilstm import losses, optimizers, utils
from minilstm.layers import LSTM, Dense, Input
from minilstm.models import Model, Sequential
from minilstm.models.compile_utils import weighted_loss


def regression(seed=0, samples=12):
    rng = np.random.default_rng(seed)
    x = rng.random((samples, 4, 2)).astype("float32")
    return x, x.sum(axis=(1, 2))[:, None].astype("float32") / 8


def small_model(seed=0, loss="mse", units=1, activation=None):
    utils.set_random_seed(seed)
    model = Sequential([Input(shape=(4, 2)), LSTM(3), Dense(units, activation=activation)])
    model.compile(optimizer=optimizers.SGD(0.1), loss=loss)
    return model


# -- weighted losses: Keras 3's "sum_over_batch_size" -------------------------------------


def test_weighted_loss_formula_and_gradient():
    rng = np.random.default_rng(1)
    y, p = rng.random((5, 3)), rng.random((5, 3))
    w = np.array([0.0, 1.0, 2.0, 0.5, 1.0])
    mse = losses.get("mse")
    value, grad = weighted_loss(mse, y, p, w, None, gradient=True)
    per_sample = ((y - p) ** 2).mean(axis=1)
    assert float(value) == pytest.approx((w * per_sample).sum() / 5)
    np.testing.assert_allclose(grad, w[:, None] * 2 * (p - y) / 3 / 5)


def test_masked_timesteps_are_left_out_of_the_loss():
    rng = np.random.default_rng(2)
    y, p = rng.random((2, 4, 3)), rng.random((2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    value, grad = weighted_loss(losses.get("mse"), y, p, None, mask, gradient=True)
    per_step = ((y - p) ** 2).mean(axis=-1)
    assert float(value) == pytest.approx(per_step[mask].sum() / (6 + 1e-7))
    np.testing.assert_array_equal(grad[~mask], 0.0)
    np.testing.assert_allclose(grad[mask], (2 * (p - y) / 3 / (6 + 1e-7))[mask])


def test_fit_with_sample_weight_zero_ignores_those_samples():
    x, y = regression()
    weights = np.r_[np.ones(6), np.zeros(6)]
    weighted, plain = small_model(), small_model()
    weighted.fit(x, y, sample_weight=weights, epochs=1, batch_size=12, shuffle=False, verbose=0)
    # one full-batch SGD step on the first half, whose loss is divided by all 12 samples
    plain.compile(optimizer=optimizers.SGD(0.1 * 6 / 12), loss="mse")
    plain.fit(x[:6], y[:6], epochs=1, batch_size=6, shuffle=False, verbose=0)
    for a, b in zip(weighted.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_evaluate_with_sample_weight_is_the_weighted_mean():
    x, y = regression(3)
    model = small_model(3)
    w = np.linspace(0, 2, len(x))
    predictions = model.predict(x, verbose=0)
    expected = (w * ((predictions - y) ** 2)[:, 0]).sum() / len(x)
    assert model.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_class_weight_is_a_per_sample_weight_by_label():
    rng = np.random.default_rng(4)
    x = rng.random((10, 4, 2)).astype("float32")
    labels = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1, 1])
    first, second = (small_model(4, "binary_crossentropy", activation="sigmoid") for _ in "ab")
    first.fit(x, labels, class_weight={0: 3.0, 1: 0.5}, epochs=2, batch_size=5, shuffle=False,
              verbose=0)
    second.fit(x, labels, sample_weight=np.where(labels == 0, 3.0, 0.5), epochs=2, batch_size=5,
               shuffle=False, verbose=0)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no weight for classes \\[1\\]"):
        first.fit(x, labels, class_weight={0: 1.0}, verbose=0)


def test_weighted_metrics_see_sample_weights_and_metrics_do_not():
    x, y = regression(5)
    model = small_model(5)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mse"])
    w = np.r_[np.ones(6), np.zeros(6)]
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    error = (model.predict(x, verbose=0) - y)[:, 0]
    assert logs["mae"] == pytest.approx(np.abs(error).mean(), rel=1e-5)
    assert logs["mse"] == pytest.approx((error[:6] ** 2).mean(), rel=1e-5)


def test_bad_sample_weights_are_refused_before_training():
    x, y = regression()
    model = small_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match="must not be negative"):
        model.fit(x, y, sample_weight=-np.ones(12), verbose=0)
    with pytest.raises(ValueError, match="either `sample_weight` or `class_weight`"):
        model.fit(x, y, sample_weight=np.ones(12), class_weight={0: 1}, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- generators and datasets --------------------------------------------------------------


class Batches:
    """A PyDataset-style object: __len__, __getitem__, on_epoch_end."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_fit_from_a_dataset_equals_fit_from_arrays():
    x, y = regression(6)
    from_arrays, from_dataset = small_model(6), small_model(6)
    from_arrays.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    dataset = Batches(x, y, 4)
    history = from_dataset.fit(dataset, epochs=3, verbose=0)
    assert dataset.epochs_ended == 3 and len(history.history["loss"]) == 3
    for a, b in zip(from_arrays.get_weights(), from_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert from_dataset.evaluate(Batches(x, y, 5), verbose=0) == pytest.approx(
        from_arrays.evaluate(x, y, batch_size=5, verbose=0), rel=1e-6)
    np.testing.assert_array_equal(from_dataset.predict(Batches(x, y, 5), verbose=0),
                                  from_arrays.predict(x, verbose=0))


def test_fit_from_a_generator_with_steps_per_epoch_and_sample_weights():
    x, y = regression(7)

    def batches():
        while True:
            for start in range(0, 12, 4):
                yield x[start:start + 4], y[start:start + 4], np.ones(4)

    model = small_model(7)
    reference = small_model(7)
    model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = regression(8)
    model = small_model(8)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(((x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4)),
                            steps_per_epoch=3, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_validation_data_as_a_dataset_and_validation_steps():
    x, y = regression(9)
    model = small_model(9)
    history = model.fit(x, y, validation_data=Batches(x, y, 4), validation_steps=2, epochs=1,
                        verbose=0)
    expected = model.evaluate(Batches(x[:8], y[:8], 4), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)


# -- refusals and warnings ----------------------------------------------------------------


def test_empty_data_is_refused():
    model = small_model()
    empty_x, empty_y = np.zeros((0, 4, 2)), np.zeros((0, 1))
    for call in (lambda: model.train_on_batch(empty_x, empty_y),
                 lambda: model.evaluate(empty_x, empty_y, verbose=0),
                 lambda: model.predict(empty_x, verbose=0)):
        with pytest.raises(ValueError, match="0 samples"):
            call()


def test_divergence_warns_once_with_advice():
    x, y = regression(10)
    model = small_model(10)
    model.compile(optimizer=optimizers.SGD(1e6), loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            model.fit(x, y * 1e3, epochs=4, batch_size=12, verbose=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                and "diverged" in str(w.message)]
    assert len(messages) == 1 and "TerminateOnNaN" in messages[0] and "epoch" in messages[0]


def test_two_inputs_from_a_generator():
    a, b = Input(shape=(4, 2)), Input(shape=(4, 2))
    model = Model([a, b], [Dense(1)(LSTM(2)(a)), Dense(1)(LSTM(2)(b))])
    model.compile(optimizer="adam", loss="mse")
    x, y = regression(11)
    history = model.fit(iter([([x, x], [y, y])] * 2), epochs=1, verbose=0)
    assert set(history.history) == {"loss", model.output_names[0] + "_loss",
                                    model.output_names[1] + "_loss"}
