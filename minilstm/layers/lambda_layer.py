"""Lambda: Keras's wrapper of an arbitrary function, which minilstm cannot train through."""


class Lambda:
    """Refused with a clear error: minilstm writes every backward pass by hand, so it cannot
    differentiate an arbitrary Python function.

    >>> Lambda(lambda x: x * 2)
    Traceback (most recent call last):
    ...
    NotImplementedError: Lambda layers are not supported: ...
    """

    def __init__(self, function=None, *args, **kwargs):
        raise NotImplementedError(
            "Lambda layers are not supported: minilstm writes every backward pass by hand and "
            "cannot differentiate an arbitrary function. Use the built-in layers instead "
            "(Activation, Dense, Reshape, Permute, RepeatVector, Flatten, the merge layers "
            "add/subtract/multiply/average/maximum/minimum/concatenate/dot, ...), or subclass "
            "minilstm.layers.Layer with forward() and backward(). Received: "
            f"function={function!r}")
