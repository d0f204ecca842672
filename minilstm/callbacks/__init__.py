"""Callbacks: hooks into `fit`, `evaluate` and `predict`, with Keras 3's semantics and text.

`fit` wraps the user's callbacks in a `CallbackList` that adds `History` and `ProgbarLogger`, then
calls its `on_*` hooks around every epoch and batch. Callbacks see log dicts of Python floats in the
order Keras 3 shows them (train keys alphabetically, then `val_` keys), so the progress line reads
`loss: … - mae: … - val_loss: … - val_mae: …`. Set `model.stop_training = True` to stop training.
"""

from .backup_and_restore import BackupAndRestore
from .callback import Callback
from .callback_list import CallbackList
from .control import LambdaCallback, LearningRateScheduler, TerminateOnNaN
from .history import CSVLogger, History
from .model_checkpoint import ModelCheckpoint
from .monitor import EarlyStopping, MonitorCallback, ReduceLROnPlateau
from .progbar_logger import ProgbarLogger

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
