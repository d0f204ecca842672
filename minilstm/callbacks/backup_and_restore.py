"""BackupAndRestore: resume an interrupted fit where it stopped, as Keras 3 does."""

import json
import os
import shutil

from ..saving.files import atomic_path
from .callback import Callback, _check_bool, _is_int


class BackupAndRestore(Callback):
    """Backs up the training state during `fit` and restores it when `fit` starts again.

    At the end of every epoch (or every `save_freq` batches) it writes, into
    `backup_dir`, the model's weights with the optimizer's state
    (`latest.weights.h5`, Keras 3's `.weights.h5` layout) and the number of epochs
    done (`training_metadata.json`, `{"epoch": ..., "batch": ...}`); the pair
    before it is kept as `_latest.weights.h5` / `_training_metadata.json` and used
    if the latest cannot be read. When `fit` starts and a backup exists, the
    weights and optimizer state are loaded and training goes on from the next
    epoch: an interrupted `fit(epochs=10)` called again with the same callback runs
    only the epochs that were missing. A backup made mid-epoch (`save_freq` an
    int) restarts that epoch from its beginning with the mid-epoch weights, as in
    Keras. When `fit` completes the backup is deleted (`delete_checkpoint=True`).

    Like Keras, the random generators are not backed up: with `shuffle=True` (or
    dropout) the resumed epochs draw other numbers than an uninterrupted run; with
    `shuffle=False` and no dropout the result is bit-identical. The model must be
    the same one (same layers, same compile arguments) as the one backed up.

    Args:
        backup_dir: The folder for the backup files; not shared with other files,
            another BackupAndRestore or a ModelCheckpoint.
        save_freq: `"epoch"`, or an int: back up after every that many batches.
        delete_checkpoint: Delete the backup when `fit` completes.

    >>> BackupAndRestore("/tmp/backup").save_freq
    'epoch'
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        owner = type(self).__name__
        try:
            backup_dir = os.fspath(backup_dir) if backup_dir is not None else None
        except TypeError:
            raise TypeError(f"{owner}: `backup_dir` must be a folder path (a string or a "
                            f"path). Received: backup_dir={backup_dir!r}") from None
        if not backup_dir:
            raise ValueError(f"Empty `backup_dir` argument passed. Received: "
                             f"backup_dir={backup_dir!r}")
        if not (isinstance(save_freq, str) and save_freq == "epoch"
                or _is_int(save_freq) and save_freq > 0):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq!r}. Expected either 'epoch' or an integer "
                             "value >= 1.")
        self.backup_dir = backup_dir
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = _check_bool(owner, "delete_checkpoint", delete_checkpoint)
        self._weights_path = os.path.join(backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(backup_dir, "training_metadata.json")
        self._prev_weights_path = os.path.join(backup_dir, "_latest.weights.h5")
        self._prev_metadata_path = os.path.join(backup_dir, "_training_metadata.json")
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    # -- restore --------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        try:
            self._load()
        except (OSError, ValueError):  # the latest backup is damaged: fall back to the one before
            if not os.path.exists(self._prev_weights_path):
                raise
            os.replace(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_metadata_path):
                os.replace(self._prev_metadata_path, self._metadata_path)
            elif os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
            self._load()

    def _load(self):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, you model must be built before you call "
                f"`fit()`. Model {self.model.name} is unbuilt. You can build it beforehand by "
                "calling it on a batch of data.")
        if os.path.exists(self._weights_path):
            self.model.load_weights(self._weights_path)  # the optimizer's state comes too
        if os.path.exists(self._metadata_path):
            with open(self._metadata_path) as handle:
                metadata = json.load(handle)
            epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"{self._metadata_path!r} does not hold a training epoch: "
                                 f"{str(metadata)[:200]}")
            self._current_epoch = epoch
            self.model._initial_epoch = epoch

    # -- back up --------------------------------------------------------------------------

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        if batch <= self._last_batch_seen:  # a new epoch: batches count from 0 again
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save()

    def _save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if os.path.exists(self._weights_path):
            shutil.copyfile(self._weights_path, self._prev_weights_path)
        if os.path.exists(self._metadata_path):
            shutil.copyfile(self._metadata_path, self._prev_metadata_path)
        self.model.save_weights(self._weights_path, overwrite=True)  # atomic
        with atomic_path(self._metadata_path) as tmp:
            with open(tmp, "w") as handle:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, handle)

    # -- clean up -------------------------------------------------------------------------

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not os.path.isdir(self.backup_dir):
            return
        # Keras removes the whole folder; removing only the backup's own files (then the folder
        # if that empties it) is the same for a folder used as documented, and safe otherwise.
        for path in (self._weights_path, self._metadata_path, self._prev_weights_path,
                     self._prev_metadata_path):
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass  # other files are there
