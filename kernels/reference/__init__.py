"""The NumPy reference kernel set: every cell written like its equations; the oracle.

One file per cell (lstm.py, gru.py, simple_rnn.py), each a forward over the
whole sequence and its backpropagation through time; _sequence.py holds the
masked products they share. Read these files to learn BPTT; every other kernel
set is tested against them.
"""

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

NAME = "numpy"

__all__ = [
    "NAME", "is_available", "unavailable_reason", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward", "simple_rnn_forward", "simple_rnn_backward",
]


def is_available():
    return True


def unavailable_reason():
    return ""
