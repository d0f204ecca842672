"""History (the object fit returns) and CSVLogger: per-epoch logs kept in memory or on disk."""

import csv
import os

from .callback import Callback, _check_bool, _to_float


class History(Callback):
    """Records the epoch-end logs of `fit`; `fit` returns it and sets it as `model.history`.

    Attributes:
        history: Dict mapping each log name to its list of per-epoch Python floats.
        epoch: The epoch indices recorded (from `initial_epoch`).
        params: `{"verbose": ..., "epochs": ..., "steps": ...}`.

    >>> history = History()
    >>> history.on_train_begin()
    >>> history.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
    >>> history.history, history.epoch
    ({'loss': [0.5], 'val_loss': [0.75]}, [0])
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(_to_float(value))
        if self.model is not None:
            self.model.history = self


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file: an `epoch` column, then the log names sorted.

    The columns are fixed by the first epoch; a missing value is written as `NA`.

    Args:
        filename: Path of the CSV file, a string or `os.PathLike`.
        separator: Column separator, one character. Defaults to `","`.
        append: Whether to append to an existing file (no second header). Defaults to `False`.

    The arguments are checked here, so a wrong type fails before training, not at the first
    epoch end.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> logger = CSVLogger(path)
    >>> logger.on_train_begin()
    >>> logger.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
    >>> logger.on_train_end()
    >>> print(open(path).read().splitlines())
    ['epoch,loss,val_loss', '0,0.5,0.75']
    """

    def __init__(self, filename, separator=",", append=False):
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(
                "CSVLogger: `filename` must be a path, a string or os.PathLike such as "
                f"'training.csv'. Received: filename={filename!r} (type {type(filename).__name__})."
            )
        filename = os.fspath(filename)
        if not isinstance(filename, str) or not filename:
            raise ValueError(
                "CSVLogger: `filename` must name a file, such as 'training.csv'. "
                f"Received: filename={filename!r}."
            )
        if not isinstance(separator, str):
            raise TypeError(
                "CSVLogger: `separator` must be a one-character string such as ',' or ';'. "
                f"Received: separator={separator!r} (type {type(separator).__name__})."
            )
        if len(separator) != 1:
            raise ValueError(
                "CSVLogger: `separator` must be a one-character string such as ',' or ';' "
                "(Python's csv module writes one character between columns). "
                f"Received: separator={separator!r}."
            )
        self.filename = filename
        self.sep = separator
        self.append = _check_bool("CSVLogger", "append", append)
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        has_rows = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.append_header = not (self.append and has_rows)
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # Held open across epochs and closed in on_train_end, as Keras does.
        mode = "a" if self.append else "w"
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            fieldnames = ["epoch", *self.keys]
            self.writer = csv.DictWriter(self.csv_file, fieldnames, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
