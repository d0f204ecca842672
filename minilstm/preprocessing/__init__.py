"""Keras's `keras.preprocessing` namespace: `sequence.pad_sequences` and
`timeseries_dataset_from_array`, so Keras 2 imports such as
`from keras.preprocessing.sequence import pad_sequences` work with only the
package name changed.

>>> from minilstm.preprocessing import sequence
>>> sequence.pad_sequences([[1], [2, 3]]).tolist()
[[0, 1], [2, 3]]
"""

from . import sequence
from ..data_utils import timeseries_dataset_from_array

__all__ = ["sequence", "timeseries_dataset_from_array"]
