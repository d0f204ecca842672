"""ProgbarLogger: the `Epoch i/N` line and Keras 3's progress bar, driven by the hooks."""

from ..progbar import Progbar, print_msg
from .callback import Callback


class ProgbarLogger(Callback):
    """Prints the `Epoch i/N` line and the progress bar from the hooks (`Progbar`, `params`).

    `fit` adds one when `verbose != 0`. `Epoch i/N` is printed only when `epochs > 1`. With
    `verbose=1` the bar is redrawn after each batch with the running logs and finished at epoch end
    with all logs, `val_` ones included; with `verbose=2` only the finished line prints. Inside
    `fit`, validation (the `on_test_*` hooks) stays silent; `evaluate` and `predict` get a bar of
    their own, `predict`'s without values.

    >>> logger = ProgbarLogger()
    >>> logger.set_params({"verbose": 2, "epochs": 1, "steps": 4})
    >>> logger.on_test_begin()
    >>> for step in range(4):
    ...     logger.on_test_batch_end(step, {"loss": 0.25})
    >>> logger.on_test_end({"loss": 0.25})  # doctest: +ELLIPSIS
    4/4 - 0s - ...s/step - loss: 0.2500
    """

    def __init__(self):
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def _start(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update(self, batch, logs):
        if self.progbar is None:
            self._start()
        self.seen = batch + 1  # batch is 0-based
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start()
        if self.target is None:  # steps unknown until the first pass ends
            self.target = self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)
