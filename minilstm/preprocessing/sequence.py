"""`pad_sequences`: ragged sequences to one rectangular array (Keras's
`keras.utils.pad_sequences`, also at its Keras 2 home
`keras.preprocessing.sequence.pad_sequences`).

Semantics follow Keras 3's `keras/src/utils/sequence_utils.py`: the width is
`maxlen` or the longest sequence; the sample shape (everything after the time
axis) comes from the first non-empty sequence; empty sequences are rows of
`value`. Differences, all on inputs where Keras fails or misleads:

- `padding` / `truncating` are checked before any work (Keras checks them only
  when it meets a non-empty sequence, so all-empty input let a typo through);
- `maxlen=0` gives a `(num_samples, 0)` array for both truncating modes (Keras
  fails for "pre" because `s[-0:]` is the whole sequence);
- `maxlen` must be a non-negative integer, and an empty `sequences` needs
  `maxlen`; both raise a `ValueError` naming the argument;
- `dtype="object"` is accepted with a string `value` as `dtype=object` is.
"""

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (and truncates) sequences to the same length.

    Args:
        sequences: list (or any sized iterable) of sequences: lists, tuples or
            arrays, of scalars or of equally shaped vectors; empty ones allowed.
        maxlen: optional int, the output length; defaults to the longest sequence.
        dtype: output dtype (default "int32"); use `object` (or a NumPy string
            dtype) to pad sequences of strings.
        padding: "pre" or "post": pad before or after each sequence.
        truncating: "pre" or "post": drop values from the start or the end of
            sequences longer than `maxlen`.
        value: the padding value (a float, or a string for string dtypes).

    Returns:
        A NumPy array of shape `(len(sequences), maxlen) + sample_shape`.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", value=-1)
    array([[ 1, -1],
           [ 2,  3],
           [ 5,  6]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if maxlen is not None and (isinstance(maxlen, (bool, np.bool_))
                               or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"`maxlen` must be None or a non-negative integer. "
                         f"Received: maxlen={maxlen!r}")

    # Lengths, and the sample shape of the first non-empty sequence.
    lengths = []
    sample_shape = None
    for s in sequences:
        try:
            lengths.append(len(s))
        except TypeError as e:
            raise ValueError(f"`sequences` must be a list of iterables. "
                             f"Found non-iterable: {s}") from e
        if sample_shape is None and len(s):
            sample_shape = np.asarray(s).shape[1:]
    sample_shape = sample_shape or ()

    if maxlen is None:
        if not lengths:
            raise ValueError("`sequences` is empty: pass `maxlen` to get an array of shape "
                             "(0, maxlen). Received: sequences=[] and maxlen=None")
        maxlen = max(lengths)

    is_dtype_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    is_dtype_object = dtype is object or np.dtype(dtype) == np.dtype(object)
    if isinstance(value, str) and not is_dtype_object and not is_dtype_str:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings.")

    x = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    for row, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue  # an empty sequence stays all `value`
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at position {row} "
                f"is different from expected shape {sample_shape}")
        if padding == "post":
            x[row, :len(kept)] = kept
        else:
            x[row, -len(kept):] = kept
    return x
