"""Bad arguments to optimizers, callbacks, set_floatx and set_random_seed are refused up front.

Each case names the call, the exception it must raise and the argument its message must name
(the message must also echo what was received). A refused optimizer leaves nothing behind: no
warning, no instance, no change to the random generators. A refused callback, built inside
`pytest.raises` where `fit` would get it, leaves the model's weights and its optimizer's slots
and iteration count bit-identical.
"""

import gc
import random
import re
import warnings

import numpy as np
import pytest

from minilstm import backend, utils
from minilstm.callbacks import (
    BackupAndRestore,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from minilstm.layers import LSTM, Dense
from minilstm.models import Sequential
from minilstm.optimizers import SGD, Adam, Optimizer, RMSprop

NAN, INF = float("nan"), float("inf")


def case(call, error, argument, id):
    return pytest.param(call, error, argument, id=id)


def assert_names(message, argument):
    """The message names the argument (as `name` or name=...) and echoes what it received."""
    assert re.search(rf"`{argument}`|'{argument}'|\b{argument}(\[\d+\])?=", message), message
    assert re.search(r"received|got:|not recognized", message, re.IGNORECASE), message


# --------------------------------------------------------------------------- optimizers

OPTIMIZER_CASES = [
    # learning_rate: a finite float >= 0 (or its Keras 2 alias lr=), never a schedule
    case(lambda **k: SGD(learning_rate=NAN, **k), ValueError, "learning_rate", "sgd-lr-nan"),
    case(lambda **k: SGD(learning_rate=INF, **k), ValueError, "learning_rate", "sgd-lr-inf"),
    case(lambda **k: Adam(learning_rate=INF, **k), ValueError, "learning_rate", "adam-lr-inf"),
    case(lambda **k: Adam(learning_rate=-INF, **k), ValueError, "learning_rate", "adam-lr--inf"),
    case(lambda **k: RMSprop(learning_rate=-0.1, **k), ValueError, "learning_rate", "rms-lr-neg"),
    case(lambda **k: SGD(learning_rate="0.01", **k), TypeError, "learning_rate", "sgd-lr-str"),
    case(lambda **k: SGD(learning_rate=True, **k), TypeError, "learning_rate", "sgd-lr-bool"),
    case(lambda **k: Adam(learning_rate=None, **k), TypeError, "learning_rate", "adam-lr-none"),
    case(lambda **k: Adam(learning_rate=[0.1], **k), TypeError, "learning_rate", "adam-lr-list"),
    case(lambda **k: Adam(learning_rate=lambda: 0.1, **k), TypeError, "learning_rate",
         "adam-lr-callable"),
    case(lambda **k: SGD(lr=NAN, **k), ValueError, "lr", "sgd-alias-nan"),
    case(lambda **k: Adam(lr="0.1", **k), TypeError, "lr", "adam-alias-str"),
    case(lambda **k: Adam(learning_rate=0.01, lr=0.02, **k), ValueError, "lr", "adam-lr-and-alias"),
    # momentum in [0, 1)
    case(lambda **k: SGD(momentum=1.0, **k), ValueError, "momentum", "sgd-momentum-1"),
    case(lambda **k: SGD(momentum=1.5, **k), ValueError, "momentum", "sgd-momentum-1.5"),
    case(lambda **k: SGD(momentum=-0.1, **k), ValueError, "momentum", "sgd-momentum-neg"),
    case(lambda **k: SGD(momentum=NAN, **k), ValueError, "momentum", "sgd-momentum-nan"),
    case(lambda **k: SGD(momentum="0.9", **k), TypeError, "momentum", "sgd-momentum-str"),
    case(lambda **k: SGD(momentum=True, **k), TypeError, "momentum", "sgd-momentum-bool"),
    case(lambda **k: RMSprop(momentum=1.0, **k), ValueError, "momentum", "rms-momentum-1"),
    case(lambda **k: RMSprop(momentum=-1, **k), ValueError, "momentum", "rms-momentum-neg"),
    # beta_1, beta_2, rho in [0, 1)
    case(lambda **k: Adam(beta_1=1.0, **k), ValueError, "beta_1", "adam-beta1-1"),
    case(lambda **k: Adam(beta_1=-0.1, **k), ValueError, "beta_1", "adam-beta1-neg"),
    case(lambda **k: Adam(beta_1="0.9", **k), TypeError, "beta_1", "adam-beta1-str"),
    case(lambda **k: Adam(beta_2=1.5, **k), ValueError, "beta_2", "adam-beta2-1.5"),
    case(lambda **k: Adam(beta_2=NAN, **k), ValueError, "beta_2", "adam-beta2-nan"),
    case(lambda **k: Adam(beta_2=True, **k), TypeError, "beta_2", "adam-beta2-bool"),
    case(lambda **k: RMSprop(rho=1.5, **k), ValueError, "rho", "rms-rho-1.5"),
    case(lambda **k: RMSprop(rho=1.0, **k), ValueError, "rho", "rms-rho-1"),
    case(lambda **k: RMSprop(rho=-0.5, **k), ValueError, "rho", "rms-rho-neg"),
    case(lambda **k: RMSprop(rho=None, **k), TypeError, "rho", "rms-rho-none"),
    # epsilon > 0, finite
    case(lambda **k: Adam(epsilon=-1, **k), ValueError, "epsilon", "adam-eps-neg"),
    case(lambda **k: Adam(epsilon=0, **k), ValueError, "epsilon", "adam-eps-0"),
    case(lambda **k: Adam(epsilon=INF, **k), ValueError, "epsilon", "adam-eps-inf"),
    case(lambda **k: RMSprop(epsilon=NAN, **k), ValueError, "epsilon", "rms-eps-nan"),
    case(lambda **k: RMSprop(epsilon="1e-7", **k), TypeError, "epsilon", "rms-eps-str"),
    # clipnorm / clipvalue / global_clipnorm: finite floats > 0 or None, at most one set
    case(lambda **k: SGD(clipnorm=NAN, **k), ValueError, "clipnorm", "sgd-clipnorm-nan"),
    case(lambda **k: SGD(clipnorm=0, **k), ValueError, "clipnorm", "sgd-clipnorm-0"),
    case(lambda **k: Adam(clipnorm=-1.0, **k), ValueError, "clipnorm", "adam-clipnorm-neg"),
    case(lambda **k: Adam(clipnorm="1", **k), TypeError, "clipnorm", "adam-clipnorm-str"),
    case(lambda **k: SGD(clipvalue=INF, **k), ValueError, "clipvalue", "sgd-clipvalue-inf"),
    case(lambda **k: RMSprop(clipvalue=-0.5, **k), ValueError, "clipvalue", "rms-clipvalue-neg"),
    case(lambda **k: SGD(global_clipnorm=0.0, **k), ValueError, "global_clipnorm",
         "sgd-global-0"),
    case(lambda **k: Adam(global_clipnorm=True, **k), TypeError, "global_clipnorm",
         "adam-global-bool"),
    case(lambda **k: SGD(clipnorm=1.0, clipvalue=0.5, **k), ValueError, "clipvalue",
         "sgd-two-clips"),
    case(lambda **k: Adam(clipnorm=1.0, global_clipnorm=1.0, **k), ValueError, "global_clipnorm",
         "adam-two-clips"),
    # flags, name, unknown arguments
    case(lambda **k: SGD(nesterov="yes", **k), TypeError, "nesterov", "sgd-nesterov-str"),
    case(lambda **k: Adam(amsgrad=1, **k), TypeError, "amsgrad", "adam-amsgrad-int"),
    case(lambda **k: RMSprop(centered=None, **k), TypeError, "centered", "rms-centered-none"),
    case(lambda **k: Adam(name=3, **k), TypeError, "name", "adam-name-int"),
    case(lambda **k: Adam(learnign_rate=0.1, **k), ValueError, "learnign_rate", "adam-typo"),
]


def live_optimizers():
    gc.collect()
    return sum(isinstance(obj, Optimizer) for obj in gc.get_objects())


@pytest.mark.parametrize("make, error, argument", OPTIMIZER_CASES)
def test_bad_optimizer_argument_is_refused_and_leaves_nothing(make, error, argument):
    numpy_state, python_state = np.random.get_state(), random.getstate()
    before = live_optimizers()
    message = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            make(decay=0.5)  # the decay warning must not come before a refusal
        except error as refused:
            message = str(refused)
    assert message is not None, f"expected {error.__name__}"
    assert_names(message, argument)
    assert caught == []
    assert live_optimizers() == before
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


@pytest.mark.parametrize(
    "make", [lambda: SGD(learning_rate=NAN), lambda: SGD(momentum="0.9")], ids=["value", "type"]
)
def test_keras_code_that_catches_valueerror_still_catches(make):
    # Keras raises ValueError for a learning_rate or SGD momentum of the wrong type.
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("value", [NAN, INF, -1.0, "0.5", None, True])
def test_learning_rate_setter_refuses_bad_values_and_keeps_the_old_rate(value):
    optimizer = Adam(learning_rate=0.01)
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        optimizer.learning_rate = value
    assert optimizer.learning_rate == 0.01


# --------------------------------------------------------------------------- callbacks


def fail_schedule(epoch, lr):
    return "fast"


CALLBACK_CASES = [
    # EarlyStopping
    case(lambda: EarlyStopping(patience="3"), TypeError, "patience", "es-patience-str"),
    case(lambda: EarlyStopping(patience=-1), ValueError, "patience", "es-patience-neg"),
    case(lambda: EarlyStopping(patience=2.5), TypeError, "patience", "es-patience-float"),
    case(lambda: EarlyStopping(patience=True), TypeError, "patience", "es-patience-bool"),
    case(lambda: EarlyStopping(patience=None), TypeError, "patience", "es-patience-none"),
    case(lambda: EarlyStopping(min_delta="0.1"), TypeError, "min_delta", "es-min-delta-str"),
    case(lambda: EarlyStopping(min_delta=NAN), ValueError, "min_delta", "es-min-delta-nan"),
    case(lambda: EarlyStopping(min_delta=None), TypeError, "min_delta", "es-min-delta-none"),
    case(lambda: EarlyStopping(mode=1), TypeError, "mode", "es-mode-int"),
    case(lambda: EarlyStopping(mode=None), TypeError, "mode", "es-mode-none"),
    case(lambda: EarlyStopping(baseline="0.5"), TypeError, "baseline", "es-baseline-str"),
    case(lambda: EarlyStopping(baseline=NAN), ValueError, "baseline", "es-baseline-nan"),
    case(lambda: EarlyStopping(baseline=INF), ValueError, "baseline", "es-baseline-inf"),
    case(lambda: EarlyStopping(baseline=[0.5]), TypeError, "baseline", "es-baseline-list"),
    case(lambda: EarlyStopping(start_from_epoch=-1), ValueError, "start_from_epoch",
         "es-start-neg"),
    case(lambda: EarlyStopping(start_from_epoch="2"), TypeError, "start_from_epoch",
         "es-start-str"),
    case(lambda: EarlyStopping(start_from_epoch=1.5), TypeError, "start_from_epoch",
         "es-start-float"),
    case(lambda: EarlyStopping(restore_best_weights="yes"), TypeError, "restore_best_weights",
         "es-restore-str"),
    case(lambda: EarlyStopping(verbose=-1), ValueError, "verbose", "es-verbose-neg"),
    case(lambda: EarlyStopping(verbose="1"), TypeError, "verbose", "es-verbose-str"),
    case(lambda: EarlyStopping(monitor=None), TypeError, "monitor", "es-monitor-none"),
    case(lambda: EarlyStopping(monitor=3), TypeError, "monitor", "es-monitor-int"),
    case(lambda: EarlyStopping(monitor="val_widgets"), ValueError, "monitor", "es-monitor-auto"),
    # ReduceLROnPlateau
    case(lambda: ReduceLROnPlateau(factor=1.0), ValueError, "factor", "rlr-factor-1"),
    case(lambda: ReduceLROnPlateau(factor=1.5), ValueError, "factor", "rlr-factor-1.5"),
    case(lambda: ReduceLROnPlateau(factor=0), ValueError, "factor", "rlr-factor-0"),
    case(lambda: ReduceLROnPlateau(factor=-0.5), ValueError, "factor", "rlr-factor-neg"),
    case(lambda: ReduceLROnPlateau(factor=NAN), ValueError, "factor", "rlr-factor-nan"),
    case(lambda: ReduceLROnPlateau(factor="0.1"), TypeError, "factor", "rlr-factor-str"),
    case(lambda: ReduceLROnPlateau(patience=-1), ValueError, "patience", "rlr-patience-neg"),
    case(lambda: ReduceLROnPlateau(patience="10"), TypeError, "patience", "rlr-patience-str"),
    case(lambda: ReduceLROnPlateau(cooldown=-1), ValueError, "cooldown", "rlr-cooldown-neg"),
    case(lambda: ReduceLROnPlateau(cooldown=0.5), TypeError, "cooldown", "rlr-cooldown-float"),
    case(lambda: ReduceLROnPlateau(min_lr=-1e-3), ValueError, "min_lr", "rlr-min-lr-neg"),
    case(lambda: ReduceLROnPlateau(min_lr=NAN), ValueError, "min_lr", "rlr-min-lr-nan"),
    case(lambda: ReduceLROnPlateau(min_lr="0"), TypeError, "min_lr", "rlr-min-lr-str"),
    case(lambda: ReduceLROnPlateau(min_delta="1e-4"), TypeError, "min_delta", "rlr-delta-str"),
    case(lambda: ReduceLROnPlateau(min_delta=INF), ValueError, "min_delta", "rlr-delta-inf"),
    case(lambda: ReduceLROnPlateau(verbose="yes"), TypeError, "verbose", "rlr-verbose-str"),
    case(lambda: ReduceLROnPlateau(mode=["min"]), TypeError, "mode", "rlr-mode-list"),
    # LearningRateScheduler: the schedule must be callable; what it returns is checked at the
    # first epoch's start, before the first batch
    case(lambda: LearningRateScheduler(0.01), TypeError, "schedule", "lrs-float"),
    case(lambda: LearningRateScheduler(None), TypeError, "schedule", "lrs-none"),
    case(lambda: LearningRateScheduler("step"), TypeError, "schedule", "lrs-str"),
    case(lambda: LearningRateScheduler(fail_schedule, verbose="1"), TypeError, "verbose",
         "lrs-verbose-str"),
    case(lambda: LearningRateScheduler(fail_schedule), TypeError, "schedule", "lrs-returns-str"),
    # CSVLogger
    case(lambda: CSVLogger(None), TypeError, "filename", "csv-filename-none"),
    case(lambda: CSVLogger(3), TypeError, "filename", "csv-filename-int"),
    case(lambda: CSVLogger(""), ValueError, "filename", "csv-filename-empty"),
    case(lambda: CSVLogger("log.csv", separator=1), TypeError, "separator", "csv-sep-int"),
    case(lambda: CSVLogger("log.csv", separator=""), ValueError, "separator", "csv-sep-empty"),
    case(lambda: CSVLogger("log.csv", separator=";;"), ValueError, "separator", "csv-sep-long"),
    case(lambda: CSVLogger("log.csv", append="yes"), TypeError, "append", "csv-append-str"),
    # LambdaCallback
    case(lambda: LambdaCallback(on_epoch_end=1), TypeError, "on_epoch_end", "lambda-epoch-end"),
    case(lambda: LambdaCallback(on_train_begin="print"), TypeError, "on_train_begin",
         "lambda-train-begin"),
    case(lambda: LambdaCallback(on_train_batch_end=[]), TypeError, "on_train_batch_end",
         "lambda-batch-end"),
    case(lambda: LambdaCallback(on_test_begin=0), TypeError, "on_test_begin", "lambda-kwarg-hook"),
    case(lambda: LambdaCallback(on_epoch_ends=print), TypeError, "on_epoch_ends", "lambda-typo"),
    # TerminateOnNaN
    case(lambda: TerminateOnNaN(raise_error="yes"), TypeError, "raise_error", "nan-str"),
    case(lambda: TerminateOnNaN(raise_error=1), TypeError, "raise_error", "nan-int"),
    case(lambda: TerminateOnNaN(raise_error=None), TypeError, "raise_error", "nan-none"),
    # BackupAndRestore
    case(lambda: BackupAndRestore(""), ValueError, "backup_dir", "backup-dir-empty"),
    case(lambda: BackupAndRestore(None), ValueError, "backup_dir", "backup-dir-none"),
    case(lambda: BackupAndRestore(3), TypeError, "backup_dir", "backup-dir-int"),
    case(lambda: BackupAndRestore("b", save_freq=0), ValueError, "save_freq", "backup-freq-0"),
    case(lambda: BackupAndRestore("b", save_freq="5"), ValueError, "save_freq", "backup-freq-str"),
    case(lambda: BackupAndRestore("b", save_freq=True), ValueError, "save_freq",
         "backup-freq-bool"),
    case(lambda: BackupAndRestore("b", save_freq=2.0), ValueError, "save_freq",
         "backup-freq-float"),
    case(lambda: BackupAndRestore("b", delete_checkpoint="yes"), TypeError, "delete_checkpoint",
         "backup-delete-str"),
    case(lambda: BackupAndRestore("b", delete_checkpoint=None), TypeError, "delete_checkpoint",
         "backup-delete-none"),
    # not a Callback instance at all: refused by fit before training
    case(lambda: EarlyStopping, TypeError, "callbacks", "class-not-instance"),
    case(lambda: print, TypeError, "callbacks", "function-not-callback"),
]


@pytest.fixture
def small_model():
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    x = np.linspace(-1, 1, 6 * 4 * 2, dtype=np.float32).reshape(6, 4, 2)
    y = np.linspace(0, 1, 6, dtype=np.float32).reshape(6, 1)
    model.predict(x, verbose=0)  # built, so there are weights to compare
    return model, x, y


@pytest.mark.parametrize("make, error, argument", CALLBACK_CASES)
def test_bad_callback_is_refused_before_any_weight_changes(small_model, tmp_path, monkeypatch,
                                                           make, error, argument):
    monkeypatch.chdir(tmp_path)  # CSVLogger cases would write here
    model, x, y = small_model
    weights = model.get_weights()
    with pytest.raises(error) as info:
        model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[make()])
    assert_names(str(info.value), argument)
    for before, after in zip(weights, model.get_weights(), strict=True):
        assert before.dtype == after.dtype and before.tobytes() == after.tobytes()
    assert model.optimizer.iterations == 0
    assert model.optimizer.variables == []
    assert list(tmp_path.iterdir()) == []


def test_unknown_mode_string_warns_and_falls_back_as_keras_does():
    with pytest.warns(UserWarning, match="mode 'maximum' is unknown"):
        assert EarlyStopping(mode="maximum").mode == "auto"


@pytest.mark.parametrize(
    "make",
    [
        lambda: EarlyStopping(patience=np.int64(2), baseline=np.float32(0.5), verbose=True),
        lambda: EarlyStopping(min_delta=-0.01),  # Keras uses the absolute value
        lambda: ReduceLROnPlateau(factor=0.5, min_lr=0, cooldown=np.int32(1)),
        lambda: CSVLogger("log.csv", separator="\t", append=np.bool_(True)),
        lambda: LambdaCallback(on_epoch_end=None, on_test_begin=None),
        lambda: TerminateOnNaN(raise_error=np.bool_(False)),
        lambda: BackupAndRestore("backup", save_freq=np.int64(3), delete_checkpoint=np.bool_(1)),
    ],
    ids=["numpy-scalars", "negative-min-delta", "rlr-ints", "csv-tab", "lambda-none", "nan-np",
         "backup-np"],
)
def test_good_arguments_still_pass(make):
    make()


# --------------------------------------------------------------------------- backend and utils


@pytest.mark.parametrize(
    "value, error",
    [
        ("float16", ValueError),
        ("half", ValueError),
        ("float", ValueError),
        ("Float32", ValueError),
        (16, TypeError),
        (np.float32, TypeError),
        (np.dtype("float64"), TypeError),
        (None, TypeError),
        (b"float32", TypeError),
    ],
    ids=["float16", "half", "float", "capital", "int", "np-type", "np-dtype", "none", "bytes"],
)
def test_set_floatx_refuses_and_keeps_the_old_value(value, error):
    backend.set_floatx("float64")  # restored by conftest
    with pytest.raises(error) as info:
        backend.set_floatx(value)
    message = str(info.value)
    assert "floatx" in message and "Received" in message and "float32" in message
    assert backend.floatx() == "float64"


def test_set_floatx_float16_message_says_why():
    with pytest.raises(ValueError, match="numba and cupy"):
        backend.set_floatx("float16")


@pytest.mark.parametrize(
    "seed, error",
    [
        (True, TypeError),
        (np.bool_(False), TypeError),
        (-1, ValueError),
        (np.int64(-5), ValueError),
        (2**32, ValueError),
        (1.5, TypeError),
        (42.0, TypeError),
        ("42", TypeError),
        (None, TypeError),
    ],
    ids=["true", "np-bool", "neg", "np-neg", "too-big", "float", "whole-float", "str", "none"],
)
def test_set_random_seed_refuses_and_seeds_nothing(seed, error):
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with pytest.raises(error) as info:
        utils.set_random_seed(seed)
    assert_names(str(info.value), "seed")
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]


class FakeCupy:
    class random:  # noqa: N801 - stands in for the cupy.random module
        seeds = []

        @classmethod
        def seed(cls, value):
            cls.seeds.append(value)


def test_set_random_seed_seeds_cupy_only_when_already_imported(monkeypatch):
    import sys

    FakeCupy.random.seeds = []
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    utils.set_random_seed(7)
    assert "cupy" not in sys.modules  # never imported by set_random_seed
    monkeypatch.setitem(sys.modules, "cupy", FakeCupy)
    utils.set_random_seed(np.int64(11))
    assert FakeCupy.random.seeds == [11] and type(FakeCupy.random.seeds[0]) is int
    assert np.random.get_state()[1][0] == np.random.RandomState(11).get_state()[1][0]
