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
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Activation", "Bidirectional", "Dense", "Dropout", "GRU", "Input", "InputLayer", "Layer",
    "LSTM", "RNN", "SimpleRNN", "TimeDistributed",
]
