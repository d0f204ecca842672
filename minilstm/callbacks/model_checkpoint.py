"""ModelCheckpoint: saves the model (or its weights) during fit, as Keras 3 does."""

import os
import warnings

from ..progbar import print_msg
from .callback import _check_bool, _check_int
from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Saves the model or its weights at the end of every epoch (or every `save_freq` batches).

    The file name may hold the epoch and any logged value: `"ckpt-{epoch:02d}.keras"`,
    `"best-{val_loss:.2f}.weights.h5"`. Files are written atomically (a temporary file, then a
    rename), so a crash mid-save leaves the previous checkpoint whole.

    Args:
        filepath: Where to save: ending in `.keras` (or `.h5`) for the whole model, in
            `.weights.h5` with `save_weights_only=True`.
        monitor: The logged quantity `save_best_only` compares. Defaults to `"val_loss"`.
        verbose: `1` prints a line for every save (and every epoch that did not improve).
        save_best_only: Save only when `monitor` improves on the best value so far.
        save_weights_only: Save `model.save_weights(filepath)` instead of `model.save`.
        mode: `"auto"`, `"min"` or `"max"`: the direction in which `monitor` improves.
        save_freq: `"epoch"`, or an int: save after every that many batches.
        initial_value_threshold: A value `monitor` must beat for the first save.

    >>> ModelCheckpoint("model.keras").save_freq
    'epoch'
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        owner = type(self).__name__
        try:
            filepath = os.fspath(filepath)
        except TypeError:
            raise TypeError(f"{owner}: `filepath` must be a string or a path. Received: "
                            f"filepath={filepath!r}") from None
        save_best_only = _check_bool(owner, "save_best_only", save_best_only)
        save_weights_only = _check_bool(owner, "save_weights_only", save_weights_only)
        verbose = _check_int(owner, "verbose", verbose, allow_bool=True)
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, int) or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are "
                             "'epoch' or integer values")
        if save_weights_only and not filepath.endswith(".weights.h5"):
            raise ValueError(
                "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                "must end in `.weights.h5` (Keras weights format). Received: "
                f"filepath={filepath}")
        if not save_weights_only and not filepath.endswith((".keras", ".h5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={filepath}")
        try:
            super().__init__(monitor, mode, baseline=initial_value_threshold)
        except ValueError:
            if save_best_only:  # the direction is needed: ask for `mode`
                raise
            super().__init__(monitor, "min", baseline=initial_value_threshold)
        self.filepath, self.verbose = filepath, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq
        self._batches_since_save, self._last_batch, self._epoch = 0, None, 0

    # -- when ---------------------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        new_epoch = self._last_batch is None or batch <= self._last_batch
        self._batches_since_save += batch + 1 if new_epoch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    # -- what ---------------------------------------------------------------------------

    def _file_path(self, epoch, batch, logs):
        values = dict(logs or {})
        if batch is not None and "batch" not in values:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **values)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {error}") from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch, batch, logs):
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")
