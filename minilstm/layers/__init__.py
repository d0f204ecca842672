"""Layers: LSTM, Dense, Activation, Dropout, InputLayer/Input."""

from .activation import Activation
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .input_layer import Input, InputLayer
from .lstm import LSTM

__all__ = ["Activation", "Dense", "Dropout", "Input", "InputLayer", "Layer", "LSTM"]
