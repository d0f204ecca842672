"""Layers: the recurrent layers (LSTM, GRU, SimpleRNN on the RNN base), Dense, Activation,
Dropout, InputLayer/Input."""

from .activation import Activation
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .gru import GRU
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .rnn import RNN
from .simple_rnn import SimpleRNN

__all__ = [
    "Activation", "Dense", "Dropout", "GRU", "Input", "InputLayer", "Layer", "LSTM", "RNN",
    "SimpleRNN",
]
