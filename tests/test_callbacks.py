"""Callbacks and the progress bar: Keras 3 text byte for byte, and Keras semantics as sequences.

The clock is faked (`progbar.time`), so elapsed seconds and time per step are exact; expected
values are worked out by hand in each test from the rules in KERAS.md 7.1 and 9.
"""

import json
import os
import types

import numpy as np
import pytest

from minilstm import backend
from minilstm import callbacks as callbacks_module
from minilstm import progbar as progbar_module
from minilstm.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from minilstm.layers import LSTM, Dense
from minilstm.models import Sequential
from minilstm.optimizers import SGD
from minilstm.progbar import Progbar

BOLD, GREEN, WHITE, RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"
FULL_BAR = f"{GREEN}{'━' * 20}{RESET}{WHITE}{RESET}"
# KERAS.md 7.1, captured from a Keras 3 run.
KERAS_FINAL_LINE = (
    "\x1b[1m5/5\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m \x1b[1m1s\x1b[0m "
    "132ms/step - loss: 0.1916 - mae: 0.3533 - val_loss: 0.2010 - val_mae: 0.3902"
)


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progbar_module, "time", fake)
    return fake


class FakeModel:
    """What callbacks touch on a model: stop_training, optimizer.learning_rate, weights."""

    def __init__(self, learning_rate=0.01):
        self.stop_training = False
        self.optimizer = types.SimpleNamespace(learning_rate=learning_rate)
        self.weights = [np.zeros(2)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def run_fit(callback_list, epoch_logs, batch_logs=None, steps=1):
    """The loop `Sequential.fit` runs (see callbacks.py), driven by canned logs."""
    model = callback_list.model
    callback_list.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        callback_list.on_epoch_begin(epoch)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            callback_list.on_train_batch_end(step, dict(batch_logs or logs))
        callback_list.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    callback_list.on_train_end()
    return callback_list.history


def visible(text):
    for code in (BOLD, GREEN, WHITE, RESET):
        text = text.replace(code, "")
    return text


# --------------------------------------------------------------------------- progress bar text


def test_verbose1_fit_epoch_matches_keras_bytes(clock, capsys):
    model = FakeModel()
    cbs = CallbackList(add_progbar=True, model=model, verbose=1, epochs=2, steps=5)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    step_times = [0.2, 0.332, 0.464, 0.596, 0.728]  # first step 200 ms, then 132 ms each
    for step, offset in enumerate(step_times):
        clock.now = 1000.0 + offset
        cbs.on_train_batch_end(step, {"mae": 0.4, "loss": 0.3})
    # Unsorted on purpose: Keras 3 shows train keys sorted, then val_ keys sorted.
    epoch_logs = {"val_mae": 0.3902, "mae": 0.3533, "val_loss": 0.2010, "loss": 0.1916}
    cbs.on_epoch_end(0, epoch_logs)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/2\n\r")
    assert out.endswith("\r" + KERAS_FINAL_LINE + "\n")
    # Display is sorted; the caller's dict keeps its own order.
    assert list(epoch_logs) == ["val_mae", "mae", "val_loss", "loss"]


def test_verbose1_intermediate_line_has_eta_and_rewinds_by_its_width(clock, capsys):
    bar = Progbar(5)
    bar._dynamic_display = True
    clock.now += 0.2
    bar.update(1, [("loss", 0.3), ("mae", 0.4)])
    first = (
        f"{BOLD}1/5{RESET} {GREEN}{'━' * 4}{RESET}{WHITE}{'━' * 16}{RESET} "
        f"{BOLD}0s{RESET} 200ms/step - loss: 0.3000 - mae: 0.4000"
    )
    assert capsys.readouterr().out == "\r" + first
    clock.now += 0.01  # inside the 0.05 s interval: no redraw
    bar.update(2, [("loss", 0.25)])
    assert capsys.readouterr().out == ""
    clock.now += 0.1
    bar.update(3, [("loss", 0.2)])
    out = capsys.readouterr().out
    width = len(visible(first))
    assert out.startswith("\b" * width + "\r" + f"{BOLD}3/5{RESET} ")
    # ETA = 2 steps left x 55 ms (steps 2-3 took 110 ms after the first): "0s".
    assert f"{BOLD}0s{RESET} 55ms/step - loss: 0.2000 - mae: 0.4000" in out


def test_shorter_redraw_is_padded_with_spaces(clock, capsys):
    bar = Progbar(2)
    bar._dynamic_display = True
    clock.now += 100.0
    bar.update(1)  # "1/2 ━━━━━━━━━━━━━━━━━━━━ 1:40 100s/step": 39 columns
    clock.now += 1.0
    bar.update(2)  # "2/2 ━━━━━━━━━━━━━━━━━━━━ 101s 1s/step": 37 columns, so 2 spaces
    first = f"{BOLD}1/2{RESET} {GREEN}{'━' * 10}{RESET}{WHITE}{'━' * 10}{RESET} {BOLD}1:40{RESET}"
    assert capsys.readouterr().out == (
        f"\r{first} 100s/step"
        + "\b" * 39
        + f"\r{BOLD}2/2{RESET} {FULL_BAR} {BOLD}101s{RESET} 1s/step  \n"
    )


def test_non_dynamic_display_starts_each_line_with_newline(clock, capsys):
    bar = Progbar(2)
    bar._dynamic_display = False
    clock.now += 1
    bar.update(1)
    clock.now += 1
    bar.update(2)
    out = capsys.readouterr().out
    assert "\b" not in out and "\r" not in out
    assert out.startswith("\n" + f"{BOLD}1/2{RESET}")
    assert out.endswith(f"\n{BOLD}2/2{RESET} {FULL_BAR} {BOLD}2s{RESET} 1s/step\n")


def test_verbose2_line_matches_keras(clock, capsys):
    cbs = CallbackList(add_progbar=True, model=FakeModel(), verbose=2, epochs=2, steps=3)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for step in range(3):
        clock.now += 1.0
        cbs.on_train_batch_end(step, {"loss": 0.7, "accuracy": 0.5})
    logs = {"loss": 0.7055, "accuracy": 0.475, "val_loss": 0.6790, "val_accuracy": 0.75}
    cbs.on_epoch_end(0, logs)
    assert capsys.readouterr().out == (
        "Epoch 1/2\n"
        "3/3 - 3s - 1s/step - accuracy: 0.4750 - loss: 0.7055 - val_accuracy: 0.7500 - "
        "val_loss: 0.6790\n"
    )


@pytest.mark.parametrize(
    "value, verbose1, verbose2",
    [
        (0.1916, "0.1916", "0.1916"),
        (0.002, "0.0020", "0.0020"),
        (0.001, "1.0000e-03", "1.0000e-03"),  # the test is strict: > 1e-3
        (0.0005, "5.0000e-04", "5.0000e-04"),
        (0.0, "0.0000e+00", "0.0000e+00"),
        (-0.5, "-0.5000", "-5.0000e-01"),  # Keras's verbose=2 branch has no abs()
        (1234.5, "1234.5000", "1234.5000"),
    ],
)
def test_value_formatting(clock, capsys, value, verbose1, verbose2):
    for verbose, expected in ((1, verbose1), (2, verbose2)):
        bar = Progbar(1, verbose=verbose)
        bar.update(1, [("loss", value)])
        assert capsys.readouterr().out.rstrip("\n").endswith(f" - loss: {expected}")


@pytest.mark.parametrize(
    "seconds_per_step, text",
    [(0.0, "0s/step"), (2.4, "2s/step"), (1.0, "1s/step"), (0.0456, "46ms/step"),
     (0.000123, "123us/step")],
)  # fmt: skip
def test_time_per_step_units(clock, capsys, seconds_per_step, text):
    bar = Progbar(1, verbose=2)
    clock.now += seconds_per_step
    bar.update(1)
    assert capsys.readouterr().out.endswith(f"s - {text}\n")


def test_first_step_is_left_out_of_time_per_step(clock, capsys):
    bar = Progbar(3, verbose=2)
    clock.now += 10.0  # slow first step (warm-up)
    bar.update(1)
    clock.now += 0.004
    bar.update(2)
    clock.now += 0.004
    bar.update(3)
    assert capsys.readouterr().out == "3/3 - 10s - 4ms/step\n"


@pytest.mark.parametrize(
    "eta_seconds, text", [(5.9, "5s"), (61.0, "1:01"), (3700.0, "1:01:40"), (60.0, "60s")]
)
def test_eta_formats(clock, capsys, eta_seconds, text):
    bar = Progbar(2)
    clock.now += eta_seconds  # one step done, one left: ETA = time of one step
    bar.update(1)
    assert f" {BOLD}{text}{RESET} " in capsys.readouterr().out


def test_counter_is_right_aligned_to_target_digits(clock, capsys):
    bar = Progbar(100)
    clock.now += 1
    bar.update(7)
    assert (
        f"{BOLD}  7/100{RESET} {GREEN}━{RESET}{WHITE}{'━' * 19}{RESET}" in capsys.readouterr().out
    )
    bar = Progbar(100, verbose=2)
    bar.update(100)
    assert capsys.readouterr().out.startswith("100/100 - ")


def test_unknown_target_and_silent_bar(clock, capsys):
    bar = Progbar(None)
    clock.now += 1
    bar.update(12)
    assert "     12/Unknown" in capsys.readouterr().out
    Progbar(3, verbose=0).update(3, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_values_accept_zero_dim_arrays_and_dicts(clock, capsys):
    bar = Progbar(1, verbose=2)
    bar.update(1, {"loss": np.array(0.25), "mae": np.float32(0.5)})
    assert capsys.readouterr().out.endswith("- loss: 0.2500 - mae: 0.5000\n")


# --------------------------------------------------------------------------- ProgbarLogger


@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_epoch_line_only_when_more_than_one_epoch(clock, capsys, verbose):
    run_fit(
        CallbackList(add_progbar=True, model=FakeModel(), verbose=verbose, epochs=1, steps=1),
        [{"loss": 0.5}],
    )
    assert "Epoch" not in capsys.readouterr().out
    run_fit(
        CallbackList(add_progbar=True, model=FakeModel(), verbose=verbose, epochs=3, steps=1),
        [{"loss": 0.5}] * 3,
    )
    out = capsys.readouterr().out
    assert [line for line in out.split("\n") if line.startswith("Epoch")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]


def test_verbose2_prints_nothing_per_batch(clock, capsys):
    cbs = CallbackList(add_progbar=True, model=FakeModel(), verbose=2, epochs=1, steps=4)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for step in range(4):
        clock.now += 0.5
        cbs.on_train_batch_end(step, {"loss": 1.0})
    assert capsys.readouterr().out == ""


def test_evaluate_bar_and_validation_inside_fit_is_silent(clock, capsys):
    cbs = CallbackList(add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=4)
    cbs.on_test_begin()
    for step, offset in enumerate([0.0012, 0.0024, 0.0036, 0.0048]):  # redrawn at step 1 only
        clock.now = 1000.0 + offset
        cbs.on_test_batch_end(step, {"mae": 0.3, "loss": 0.1})
    cbs.on_test_end({"mae": 0.2785, "loss": 0.1063})
    out = capsys.readouterr().out
    assert out.endswith(
        f"\r{BOLD}4/4{RESET} {FULL_BAR} {BOLD}0s{RESET} 1ms/step - loss: 0.1063 - mae: 0.2785\n"
    )
    assert "Epoch" not in out

    # During fit, validation runs the test hooks on the same list: no bar for them.
    fit = CallbackList(add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=1)
    fit.on_train_begin()
    fit.on_epoch_begin(0)
    fit.on_train_batch_end(0, {"loss": 0.5})
    capsys.readouterr()
    fit.on_test_begin()
    fit.on_test_batch_end(0, {"loss": 0.4})
    fit.on_test_end({"loss": 0.4})
    assert capsys.readouterr().out == ""


def test_predict_bar_has_no_values(clock, capsys):
    cbs = CallbackList(add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=4)
    cbs.on_predict_begin()
    for step, offset in enumerate([0.1, 0.187, 0.274, 0.361]):
        clock.now = 1000.0 + offset
        cbs.on_predict_batch_end(step, {"outputs": np.zeros((2, 1))})
    cbs.on_predict_end()
    assert capsys.readouterr().out.endswith(
        f"\r{BOLD}4/4{RESET} {FULL_BAR} {BOLD}0s{RESET} 87ms/step\n"
    )


def test_unknown_steps_learned_from_first_epoch(clock, capsys):
    cbs = CallbackList(add_progbar=True, model=FakeModel(), verbose=2, epochs=2, steps=None)
    clock.now += 2
    run_fit(cbs, [{"loss": 0.5}, {"loss": 0.25}], steps=2)
    lines = capsys.readouterr().out.split("\n")
    assert lines[1].startswith("2/2 - ") and lines[3].startswith("2/2 - ")


def test_callback_added_learning_rate_shows_last_on_the_line(clock, capsys):
    # ReduceLROnPlateau runs before ProgbarLogger and appends to the sorted logs, as in Keras 3.
    # The rate reads through float32 like Keras's variable: float32(0.001) > 1e-3 prints "0.0010".
    cbs = CallbackList(
        [ReduceLROnPlateau(monitor="loss")], add_history=True, add_progbar=True,
        model=FakeModel(learning_rate=0.001), verbose=2, epochs=1, steps=1,
    )  # fmt: skip
    history = run_fit(cbs, [{"val_loss": 0.3, "loss": 0.5}])
    assert capsys.readouterr().out.endswith(
        "- loss: 0.5000 - val_loss: 0.3000 - learning_rate: 0.0010\n"
    )
    assert list(history.history) == ["loss", "val_loss", "learning_rate"]


# --------------------------------------------------------------------------- CallbackList, History


def test_history_contents_params_and_model_attribute():
    model = FakeModel()
    cbs = CallbackList(None, add_history=True, model=model, verbose=0, epochs=3, steps=5)
    history = run_fit(cbs, [{"loss": np.float32(0.5), "mae": np.array(0.25)}] * 2)
    assert history is model.history is cbs.history
    assert history.history == {"loss": [0.5, 0.5], "mae": [0.25, 0.25]}
    assert all(type(v) is float for values in history.history.values() for v in values)
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 5}
    # A new fit builds a new History; the model points at the newest.
    again = run_fit(CallbackList(add_history=True, model=model, epochs=1), [{"loss": 1.0}])
    assert again is not history and model.history is again and again.epoch == [0]


def test_history_epoch_counts_from_initial_epoch():
    history = History()
    history.set_model(FakeModel())
    history.on_train_begin()
    for epoch in (2, 3):
        history.on_epoch_end(epoch, {"loss": 1.0 / epoch})
    assert history.epoch == [2, 3] and history.history["loss"] == [0.5, 1.0 / 3]


def test_callback_list_defaults_order_and_user_instances():
    stopper = EarlyStopping()
    cbs = CallbackList([stopper], add_history=True, add_progbar=True, model=FakeModel(), verbose=1)
    assert [type(c) for c in cbs.callbacks] == [EarlyStopping, History, ProgbarLogger]
    own_history, own_logger = History(), ProgbarLogger()
    cbs = CallbackList([own_logger, own_history], add_history=True, add_progbar=True)
    assert cbs.callbacks == [own_logger, own_history] and cbs.history is own_history
    assert CallbackList(add_progbar=False).callbacks == []
    assert CallbackList(stopper).callbacks == [stopper]


def test_callback_list_sets_model_and_params_on_all():
    model = FakeModel()
    seen = LambdaCallback()
    CallbackList([seen], model=model, verbose=1, epochs=2, steps=3)
    assert seen.model is model and seen.params == {"verbose": 1, "epochs": 2, "steps": 3}


def test_callback_list_rejects_classes_and_non_callbacks():
    with pytest.raises(TypeError, match=r"callbacks\[0\].*did you mean `EarlyStopping\(\)`"):
        CallbackList([EarlyStopping])
    with pytest.raises(TypeError, match=r"callbacks\[1\]='stop'"):
        CallbackList([History(), "stop"])


def test_every_hook_is_forwarded_and_keras2_aliases_fire():
    calls = []

    class Recorder(callbacks_module.Callback):
        def __getattribute__(self, name):
            attribute = super().__getattribute__(name)
            if name.startswith("on_") and callable(attribute):

                def wrapped(*args):
                    calls.append(name)
                    return attribute(*args)

                return wrapped
            return attribute

    cbs = CallbackList([Recorder()])
    hooks = [name for name in dir(callbacks_module.Callback) if name.startswith("on_")]
    for hook in hooks:
        args = (0, {}) if "batch" in hook or "epoch" in hook else ({},)
        calls.clear()
        getattr(cbs, hook)(*args)
        expected = [hook]
        if hook in ("on_train_batch_begin", "on_train_batch_end"):
            expected.append(hook.replace("train_", ""))  # the Keras 2 alias
        assert calls == expected, hook


def test_callers_logs_keep_order_and_gain_callback_additions():
    seen = []
    spy = LambdaCallback(on_test_end=lambda logs: seen.append(list(logs)))
    model = FakeModel(learning_rate=0.5)
    cbs = CallbackList([ReduceLROnPlateau(monitor="loss"), spy], model=model)
    test_logs = {"loss": np.float32(0.5), "accuracy": 0.75}  # compile order: evaluate returns it
    cbs.on_test_end(test_logs)
    assert seen == [["accuracy", "loss"]] and list(test_logs) == ["loss", "accuracy"]
    assert type(test_logs["loss"]) is float
    epoch_logs = {"val_loss": 1.0, "loss": 2.0}
    cbs.on_epoch_end(0, epoch_logs)
    assert epoch_logs == {"val_loss": 1.0, "loss": 2.0, "learning_rate": 0.5}  # exact in float32


def test_logs_none_becomes_empty_dict():
    got = []
    cbs = CallbackList([LambdaCallback(on_epoch_end=lambda epoch, logs: got.append(logs))])
    cbs.on_epoch_end(0)
    assert got == [{}]


# --------------------------------------------------------------------------- EarlyStopping


def fit_with(callback, values, monitor="val_loss", model=None):
    """Runs epochs until stop; returns the number of epochs run and the model."""
    model = model or FakeModel()
    cbs = CallbackList([callback], add_history=True, model=model, verbose=0, epochs=len(values))
    history = run_fit(cbs, [{monitor: v} for v in values])
    return len(history.epoch), model


@pytest.mark.parametrize(
    "kwargs, values, epochs_run, stopped_epoch",
    [
        # wait: e0 best, e1 better, e2 1, e3 2 >= patience -> stop at epoch index 3
        ({"patience": 2}, [1.0, 0.9, 0.95, 0.92, 0.91, 0.5], 4, 3),
        # patience 0: the first epoch without improvement stops (never epoch 0)
        ({}, [1.0, 1.0, 0.5], 2, 1),
        ({}, [1.0], 1, 0),
        # min_delta 0.05: 0.97 is not better than 1.0 - 0.05 -> stop at 1
        ({"min_delta": 0.05, "patience": 1}, [1.0, 0.97, 0.9], 2, 1),
        ({"min_delta": 0.05, "patience": 1}, [1.0, 0.94, 0.88, 0.87], 4, 3),
        # equal is not an improvement
        ({"patience": 1}, [0.5, 0.5], 2, 1),
        # start_from_epoch 2: epochs 0-1 ignored, e2 best, e3 worse -> stop at 3
        ({"start_from_epoch": 2}, [9.0, 9.0, 1.0, 2.0, 0.1], 4, 3),
        # baseline 0.5, never beaten: wait keeps growing even on improvements,
        # and a non-improving epoch then stops once wait >= patience
        ({"baseline": 0.5, "patience": 2}, [0.8, 0.7, 0.7], 3, 2),
        ({"baseline": 0.5, "patience": 2}, [0.8, 0.8], 2, 1),
        # baseline beaten: wait resets as usual
        ({"baseline": 0.5, "patience": 2}, [0.4, 0.45, 0.3, 0.31, 0.32, 0.33], 5, 4),
    ],
)
def test_early_stopping_min_sequences(kwargs, values, epochs_run, stopped_epoch):
    stopper = EarlyStopping(monitor="val_loss", **kwargs)
    ran, model = fit_with(stopper, values)
    assert ran == epochs_run
    assert stopper.stopped_epoch == stopped_epoch
    assert model.stop_training == (stopped_epoch > 0)


def test_early_stopping_max_mode_auto_and_explicit():
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert stopper.min_delta == 0 and stopper.monitor_op(2, 1)
    ran, _ = fit_with(stopper, [0.5, 0.6, 0.6, 0.7], monitor="val_accuracy")
    assert (ran, stopper.stopped_epoch, stopper.best) == (3, 2, 0.6)
    stopper = EarlyStopping(monitor="val_loss", mode="max", patience=1, min_delta=0.1)
    assert stopper.min_delta == 0.1
    ran, _ = fit_with(stopper, [0.5, 0.65, 0.7])  # 0.7 - 0.1 > 0.65? no -> stop at 2
    assert (ran, stopper.stopped_epoch) == (3, 2)


@pytest.mark.parametrize(
    "monitor, minimizes",
    [("loss", True), ("val_loss", True), ("val_mae", True), ("mse", True),
     ("val_binary_crossentropy", True), ("mean_absolute_error", True),
     ("accuracy", False), ("val_acc", False), ("val_categorical_accuracy", False),
     ("auc", False)],
)  # fmt: skip
def test_auto_mode_direction_from_name(monitor, minimizes):
    stopper = EarlyStopping(monitor=monitor, min_delta=0.01)
    assert (stopper.min_delta < 0) == minimizes


def test_auto_mode_unknown_name_and_unknown_mode():
    with pytest.raises(ValueError, match=r"monitor=val_widgets.*mode='max'.*mode='min'"):
        EarlyStopping(monitor="val_widgets")
    assert EarlyStopping(monitor="val_widgets", mode="min").monitor_op(1, 2)
    with pytest.warns(UserWarning, match="EarlyStopping mode 'maximum' is unknown"):
        stopper = EarlyStopping(mode="maximum")
    assert stopper.mode == "auto"


def test_early_stopping_missing_monitor_warns_with_keras_text():
    stopper = EarlyStopping()
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    message = (
        "Early stopping conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,mae"
    )
    with pytest.warns(UserWarning) as record:
        stopper.on_epoch_end(1, {"loss": 0.5, "mae": 0.1})
    assert str(record[0].message) == message
    assert stopper.model.stop_training is False


def test_restore_best_weights_and_messages(capsys):
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True, verbose=1)
    cbs = CallbackList([stopper], model=model, epochs=10)
    cbs.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8, 0.1]):
        model.weights = [np.full(2, float(epoch))]  # weights at the end of this epoch
        cbs.on_epoch_end(epoch, {"loss": loss})
        if model.stop_training:
            break
    cbs.on_train_end()
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_restore_best_weights_without_stopping_still_restores():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    cbs = CallbackList([stopper], model=model)
    cbs.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.2, 0.3]):
        model.weights = [np.full(2, float(epoch))]
        cbs.on_epoch_end(epoch, {"loss": loss})
    cbs.on_train_end()
    assert stopper.stopped_epoch == 0
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_is_reusable_across_fits():
    stopper = EarlyStopping(monitor="loss", patience=0)
    assert fit_with(stopper, [1.0, 2.0, 3.0], monitor="loss")[0] == 2
    # A second fit starts from a clean best/wait, so 5.0 at epoch 0 is not compared with 1.0.
    assert fit_with(stopper, [5.0, 4.0, 3.0], monitor="loss")[0] == 3
    assert stopper.stopped_epoch == 0


# --------------------------------------------------------------------------- in a real fit

FIT_X = np.linspace(-1, 1, 8 * 4 * 2, dtype=np.float32).reshape(8, 4, 2)
FIT_Y = np.linspace(0, 1, 8, dtype=np.float32).reshape(8, 1)
FIT_STEPS = 4  # 8 samples, batch_size=2


def fit_model(optimizer):
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


class BatchRecorder(Callback):
    """Records (epoch, batch) at every train batch end; placed last, it sees every batch run."""

    def __init__(self):
        self.epoch, self.seen = None, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((self.epoch, batch))


def write_score(values):
    # Placed before the callback under test: CallbackList hands every callback the same epoch
    # logs, so the next one monitors `score` = values[epoch], a sequence written out here.
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__("score", values[epoch]))


@pytest.mark.parametrize(
    "kwargs, values, stopped_epoch",
    [
        # e0 best 1.0; e1 0.9 better; e2 wait 1; e3 wait 2 >= patience: stop after epoch index 3
        ({"patience": 2, "mode": "min"}, [1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.4, 0.3], 3),
        # max mode, patience 0: e1 0.6 better; e2 0.6 equal is no improvement: stop at 2
        ({"patience": 0, "mode": "max"}, [0.5, 0.6, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1], 2),
        # min_delta 0.05: e1 0.94 + 0.05 < 1.0 improves; e2 0.90 + 0.05 < 0.94 does not: stop at 2
        ({"patience": 1, "mode": "min", "min_delta": 0.05}, [1.0, 0.94, 0.9, 0.5, 0.1, 0, 0, 0], 2),
        # epochs 0-2 are not watched; e3 best; e4 worse with patience 0: stop at 4
        ({"start_from_epoch": 3, "mode": "min"}, [5.0, 6.0, 7.0, 1.0, 2.0, 0.1, 0.1, 0.1], 4),
        # baseline 0.5: improvements above it do not reset wait (and never stop: they return
        # early); e3 0.4 beats it, wait 0; e4 wait 1; e5 wait 2 >= patience: stop at 5
        ({"baseline": 0.5, "patience": 2, "mode": "min"}, [0.8, 0.7, 0.6, 0.4, 0.45, 0.46, 0, 0],
         5),
        # always improving: all 8 epochs run, no stop
        ({"patience": 1, "mode": "min"}, [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], 0),
    ],
    ids=["patience", "max-mode", "min-delta", "start-from-epoch", "baseline", "no-stop"],
)
def test_early_stopping_in_fit_stops_after_the_computed_epoch(capsys, kwargs, values,
                                                             stopped_epoch):
    model = fit_model(SGD(learning_rate=0.01))
    stopper = EarlyStopping(monitor="score", verbose=1, **kwargs)
    recorder = BatchRecorder()
    history = model.fit(FIT_X, FIT_Y, batch_size=2, epochs=8, verbose=0,
                        callbacks=[write_score(values), stopper, recorder])
    epochs_run = stopped_epoch + 1 if stopped_epoch else 8
    assert history.epoch == list(range(epochs_run))
    assert history.history["score"] == values[:epochs_run]
    assert stopper.stopped_epoch == stopped_epoch
    assert model.stop_training == (stopped_epoch > 0)
    assert recorder.seen == [(e, b) for e in range(epochs_run) for b in range(FIT_STEPS)]
    assert model.optimizer.iterations == epochs_run * FIT_STEPS
    expected = f"Epoch {stopped_epoch + 1}: early stopping\n" if stopped_epoch else ""
    assert capsys.readouterr().out == expected


def test_early_stopping_on_a_constant_loss_stops_after_patience_epochs():
    # learning_rate=0 and no shuffling: every epoch sees the same weights and batches, so the
    # loss is bit-identical and never improves: e0 best, e1 wait 1, e2 wait 2 = patience: stop.
    model = fit_model(SGD(learning_rate=0.0))
    stopper = EarlyStopping(monitor="loss", patience=2)
    history = model.fit(FIT_X, FIT_Y, batch_size=2, epochs=10, verbose=0, shuffle=False,
                        callbacks=[stopper])
    losses = history.history["loss"]
    assert len(set(losses)) == 1 and np.isfinite(losses[0])
    assert history.epoch == [0, 1, 2]
    assert stopper.stopped_epoch == 2


class PoisonLoss(Callback):
    """Replaces the batch-end `loss` by NaN at one (epoch, batch); placed before TerminateOnNaN."""

    def __init__(self, at):
        self.at, self.epoch = at, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            logs["loss"] = float("nan")


@pytest.mark.parametrize("at", [(0, 0), (1, 2), (2, 3)], ids=["first", "mid", "last"])
def test_terminate_on_nan_in_fit_stops_at_that_batch(capsys, at):
    epoch, batch = at
    model = fit_model(SGD(learning_rate=0.01))
    recorder = BatchRecorder()
    history = model.fit(FIT_X, FIT_Y, batch_size=2, epochs=5, verbose=0,
                        callbacks=[PoisonLoss(at), TerminateOnNaN(), recorder])
    # Every batch up to and including the poisoned one ran (its step was taken before its
    # batch-end hook); none after it. The interrupted epoch still ends, as in Keras.
    run = [(e, b) for e in range(epoch) for b in range(FIT_STEPS)]
    run += [(epoch, b) for b in range(batch + 1)]
    assert recorder.seen == run
    assert model.optimizer.iterations == len(run)
    assert history.epoch == list(range(epoch + 1))
    assert capsys.readouterr().out == f"Batch {batch}: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error_in_fit_raises_at_that_batch():
    model = fit_model(SGD(learning_rate=0.01))
    recorder = BatchRecorder()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        model.fit(FIT_X, FIT_Y, batch_size=2, epochs=5, verbose=0,
                  callbacks=[PoisonLoss((1, 1)), recorder, TerminateOnNaN(raise_error=True)])
    assert recorder.seen == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert model.optimizer.iterations == 6


def test_terminate_on_nan_stops_a_real_divergence_at_the_second_batch():
    # Batch 0's loss is computed before its step, so it is finite; the step with a rate of 1e35
    # then puts the Dense bias near 1e35, whose square overflows float32: batch 1's running
    # loss is inf and training stops there, in epoch 0, after exactly two steps.
    backend.set_floatx("float32")  # restored by conftest
    model = fit_model(SGD(learning_rate=1e35))
    recorder = BatchRecorder()
    with np.errstate(all="ignore"):
        history = model.fit(FIT_X, FIT_Y, batch_size=2, epochs=3, verbose=0, shuffle=False,
                            callbacks=[TerminateOnNaN(), recorder])
    assert recorder.seen == [(0, 0), (0, 1)]
    assert model.optimizer.iterations == 2
    assert history.epoch == [0] and not np.isfinite(history.history["loss"][0])


# --------------------------------------------------------------------------- ReduceLROnPlateau


def test_reduce_lr_on_plateau_sequence_with_cooldown_and_min_lr(capsys):
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.1, verbose=1
    )
    cbs = CallbackList([reduce], add_history=True, model=model, epochs=11)
    history = run_fit(cbs, [{"loss": 1.0}] * 11)
    # e0 best; e1 wait 1; e2 wait 2 -> 0.5, cooldown 1; e3 cooldown ends, wait 1; e4 -> 0.25;
    # e5 wait 1; e6 -> 0.125; e7 wait 1; e8 -> max(0.0625, 0.1) = 0.1; e9, e10 at min_lr
    # (float32(0.1) is not > float32(min_lr)). Each epoch logs the rate it trained with, through
    # float32 as Keras's variable does.
    min_lr = float(np.float32(0.1))
    assert history.history["learning_rate"] == [
        1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, min_lr, min_lr
    ]  # fmt: skip
    assert model.optimizer.learning_rate == 0.1
    assert capsys.readouterr().out == (
        "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.5.\n"
        "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.25.\n"
        "\nEpoch 7: ReduceLROnPlateau reducing learning rate to 0.125.\n"
        "\nEpoch 9: ReduceLROnPlateau reducing learning rate to 0.1.\n"
    )


def test_reduce_lr_min_delta_and_max_mode():
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1)
    # Drops of 5e-5 are below min_delta=1e-4: a plateau, reduced at e1 and e2.
    run_fit(
        CallbackList([reduce], model=model), [{"loss": 1.0}, {"loss": 0.99995}, {"loss": 0.9999}]
    )
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    model = FakeModel(learning_rate=1.0)
    reduce = ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    run_fit(CallbackList([reduce], model=model), [{"val_accuracy": a} for a in (0.5, 0.6, 0.55)])
    assert model.optimizer.learning_rate == 0.5


def test_reduce_lr_rejects_factor_and_warns_on_missing_monitor():
    with pytest.raises(ValueError, match=r"factor >= 1.0. Received factor=1.5"):
        ReduceLROnPlateau(factor=1.5)
    reduce = ReduceLROnPlateau()
    reduce.set_model(FakeModel())
    logs = {"loss": 1.0}
    with pytest.warns(UserWarning) as record:
        reduce.on_epoch_end(0, logs)
    assert str(record[0].message) == (
        "Learning rate reduction is conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,learning_rate."
    )
    assert logs == {"loss": 1.0, "learning_rate": float(np.float32(0.01))}


# --------------------------------------------------------------------------- the small ones


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float32("-inf"), np.array(np.nan)])
def test_terminate_on_nan(capsys, bad):
    model = FakeModel()
    cbs = CallbackList([TerminateOnNaN()], model=model)
    cbs.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    cbs.on_train_batch_end(4, {"loss": bad})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 4: Invalid loss, terminating training\n"
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        CallbackList([TerminateOnNaN(raise_error=True)], model=model).on_train_batch_end(
            2, {"loss": bad}
        )


def test_lambda_callback_hooks():
    calls = []
    callback = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_train_end=lambda logs: calls.append(("train_end",)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch)),
        on_test_begin=lambda logs: calls.append(("test_begin",)),
    )
    cbs = CallbackList([callback], model=FakeModel())
    run_fit(cbs, [{"loss": 0.5}], steps=2)
    cbs.on_test_begin()
    assert calls == [
        ("train_begin",), ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0),
        ("batch_begin", 1), ("batch_end", 1), ("epoch_end", 0, 0.5), ("train_end",),
        ("test_begin",),
    ]  # fmt: skip


def test_lambda_callback_keras2_batch_alias_and_unknown_hook():
    seen = []
    callback = LambdaCallback(on_batch_end=lambda batch, logs: seen.append(batch))
    CallbackList([callback]).on_train_batch_end(3, {})
    assert seen == [3]
    with pytest.raises(TypeError, match="on_epoch_ends.*Expected one of.*on_epoch_end"):
        LambdaCallback(on_epoch_ends=print)


def test_learning_rate_scheduler(capsys):
    model = FakeModel(learning_rate=0.1)
    scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5, verbose=1)
    history = run_fit(CallbackList([scheduler], add_history=True, model=model), [{"loss": 1}] * 4)
    f32 = float(np.float32(0.1))  # the rate reads through float32, as Keras's variable does
    assert history.history["learning_rate"] == pytest.approx([f32, f32, f32 / 2, f32 / 4])
    assert history.history["learning_rate"][0] == f32
    assert capsys.readouterr().out.splitlines()[:2] == [
        "",
        "Epoch 1: LearningRateScheduler setting learning rate to 0.10000000149011612.",
    ]
    # Keras 2's one-argument schedule.
    model = FakeModel()
    run_fit(CallbackList([LearningRateScheduler(lambda epoch: 0.5**epoch)], model=model), [{}] * 3)
    assert model.optimizer.learning_rate == 0.25
    with pytest.raises(TypeError, match="should be a float. Got: 1"):
        run_fit(CallbackList([LearningRateScheduler(lambda e, lr: 1)], model=model), [{}])


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    run_fit(
        CallbackList([CSVLogger(path)], model=FakeModel()),
        [{"val_loss": 0.5, "loss": 0.25}, {"loss": 0.125}],
    )
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,0.25,0.5", "1,0.125,NA"]
    run_fit(CallbackList([CSVLogger(path, separator=";", append=True)], model=FakeModel()),
            [{"loss": 1.0}])  # fmt: skip
    assert path.read_text().splitlines()[-1] == "0;1.0"
    assert path.read_text().count("epoch") == 1


# ------------------------------------------------------------------------- BackupAndRestore

BACKUP_X = np.linspace(-1, 1, 12 * 5 * 2, dtype=np.float32).reshape(12, 5, 2)
BACKUP_Y = np.sin(np.arange(12, dtype=np.float32)).reshape(12, 1)


class Interrupt(Callback):
    """Raises at the start of `epoch` (or of batch `batch` of it), as a crash would."""

    def __init__(self, epoch, batch=None):
        self.epoch, self.batch, self._now = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self._now = epoch
        if epoch == self.epoch and self.batch is None:
            raise RuntimeError("Interrupting!")

    def on_train_batch_begin(self, batch, logs=None):
        super().on_train_batch_begin(batch, logs)
        if self._now == self.epoch and batch == self.batch:
            raise RuntimeError("Interrupting!")


def backup_model(initial=None):
    from minilstm.optimizers import Adam

    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.02), loss="mse")
    model.predict(BACKUP_X[:1], verbose=0)  # built, as BackupAndRestore requires
    if initial is not None:
        model.set_weights(initial)
    return model


def fit_for_backup(model, callbacks, epochs=6):
    return model.fit(BACKUP_X, BACKUP_Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0,
                     callbacks=callbacks)


def same_bits(a, b):
    return all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


def test_backup_and_restore_resumes_bit_identical_to_an_uninterrupted_fit(tmp_path):
    from minilstm.callbacks import BackupAndRestore

    initial = backup_model().get_weights()
    straight = backup_model(initial)
    fit_for_backup(straight, [])
    backup_dir = str(tmp_path / "backup")
    backup = BackupAndRestore(backup_dir)
    interrupted = backup_model(initial)
    with pytest.raises(RuntimeError, match="Interrupting"):
        fit_for_backup(interrupted, [backup, Interrupt(3)])
    with open(os.path.join(backup_dir, "training_metadata.json")) as handle:
        assert json.load(handle) == {"epoch": 3, "batch": 0}
    # a fresh, identical model: weights, optimizer state and epoch come from the backup
    resumed = backup_model(initial)
    history = fit_for_backup(resumed, [backup])
    assert history.epoch == [3, 4, 5]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 18
    assert same_bits(resumed.get_weights(), straight.get_weights())
    assert not os.path.exists(backup_dir)  # deleted once fit completed
    # without the backup, the second fit starts over: the comparison above can fail
    restarted = backup_model(initial)
    fit_for_backup(restarted, [], epochs=3)
    assert not same_bits(restarted.get_weights(), straight.get_weights())


def test_backup_and_restore_falls_back_to_the_previous_backup(tmp_path):
    from minilstm.callbacks import BackupAndRestore

    initial = backup_model().get_weights()
    straight = backup_model(initial)
    fit_for_backup(straight, [])
    backup_dir = tmp_path / "backup"
    backup = BackupAndRestore(backup_dir, delete_checkpoint=False)
    with pytest.raises(RuntimeError):
        fit_for_backup(backup_model(initial), [backup, Interrupt(3)])
    (backup_dir / "latest.weights.h5").write_bytes(b"\x89HDF\r\n truncated")
    resumed = backup_model(initial)
    history = fit_for_backup(resumed, [backup])
    assert history.epoch == [2, 3, 4, 5]  # from the backup made after epoch 2
    assert same_bits(resumed.get_weights(), straight.get_weights())
    assert (backup_dir / "latest.weights.h5").exists()  # delete_checkpoint=False
    with open(backup_dir / "training_metadata.json") as handle:
        assert json.load(handle)["epoch"] == 6


def test_backup_and_restore_every_n_batches(tmp_path):
    from minilstm.callbacks import BackupAndRestore

    initial = backup_model().get_weights()
    backup_dir = tmp_path / "backup"
    backup = BackupAndRestore(backup_dir, save_freq=2)
    interrupted = backup_model(initial)
    saved = []
    original = backup._save
    backup._save = lambda: (original(), saved.append(interrupted.optimizer.iterations))
    with pytest.raises(RuntimeError):
        fit_for_backup(interrupted, [backup, Interrupt(1, batch=2)])
    assert saved == [2, 4]  # 3 batches an epoch: after batch 2 of epoch 0, batch 1 of epoch 1
    with open(backup_dir / "training_metadata.json") as handle:
        assert json.load(handle) == {"epoch": 1, "batch": 0}
    resumed = backup_model(initial)
    loaded = BackupAndRestore(backup_dir, save_freq=2)
    loaded.set_model(resumed)
    loaded.on_train_begin()
    assert resumed.optimizer.iterations == 4
    # the weights after the 4th step: what four train_on_batch calls give
    assert same_bits(resumed.get_weights(), _weights_after_steps(initial, 4))
    assert not same_bits(resumed.get_weights(), interrupted.get_weights())  # 5 steps there


def _weights_after_steps(initial, steps):
    model = backup_model(initial)
    for step in range(steps):
        start = (step % 3) * 4
        model.train_on_batch(BACKUP_X[start:start + 4], BACKUP_Y[start:start + 4])
    return model.get_weights()


def test_backup_and_restore_deletes_only_its_own_files(tmp_path):
    from minilstm.callbacks import BackupAndRestore

    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "notes.txt").write_text("mine")
    fit_for_backup(backup_model(), [BackupAndRestore(backup_dir)], epochs=2)
    assert sorted(p.name for p in backup_dir.iterdir()) == ["notes.txt"]


def test_backup_and_restore_needs_a_built_model(tmp_path):
    from minilstm.callbacks import BackupAndRestore

    model = Sequential([LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    backup = BackupAndRestore(tmp_path / "backup")
    backup.set_model(model)
    with pytest.raises(ValueError, match="must be built before you call `fit\\(\\)`"):
        backup.on_train_begin()
    fit_for_backup(model, [backup], epochs=1)  # fit builds it from the data first, as Keras 3
    assert model.built
