"""Layers: the recurrent layers (LSTM, GRU, SimpleRNN on the RNN base), Dense, Activation,
Dropout, InputLayer/Input."""

from .activation import Activation
from .base import Layer
from .convolutional import Conv1D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRU
from .input_layer import Input, InputLayer
from .lambda_layer import Lambda
from .lstm import LSTM
from .masking import Masking
from .merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .regularization import SpatialDropout1D
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .rnn import RNN
from .simple_rnn import SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Activation", "Add", "Average", "AveragePooling1D", "BatchNormalization", "Bidirectional",
    "Concatenate", "Conv1D", "Dense", "Dot", "Dropout", "Embedding", "Flatten", "GRU",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Input", "InputLayer", "LSTM", "Lambda",
    "Layer", "LayerNormalization", "Masking", "MaxPooling1D", "Maximum", "Minimum", "Multiply",
    "Permute", "RNN", "RepeatVector", "Reshape", "SimpleRNN", "SpatialDropout1D", "Subtract",
    "TimeDistributed", "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply",
    "subtract",
]
