"""What each cell's forward hands to its backward, and the checks at the kernel edge.

Shapes use B = batch, T = timesteps, I = input features, H = units, and
G = the cell's number of gate blocks (LSTM 4, GRU 3, SimpleRNN 1). Time runs
in processing order: reversed input order when `go_backwards` is set.

Three optional masks travel through every kernel (None means "all ones"):

    mask                    [B, T] bool, input time order. False at (b, t):
                            step t of row b is skipped: its states (and so
                            its output) are carried over from step t-1, as
                            Keras does for padded steps.
    dropout_mask            [M, B, I] with M = 1 (one mask shared by all gate
                            blocks) or M = G (one mask per gate block, Keras's
                            implementation 1). Multiplies x_t at every step;
                            its entries already hold the 1/(1-rate) scaling.
    recurrent_dropout_mask  [M, B, H], the same for h_prev in the recurrent
                            product (never in the carry of the state itself).

The layouts below are the reference's. `hs` (and `cs`) are the same in every
kernel set; the other fields are private to the set that made the cache,
which may keep them in the layout its loops want.
"""

from typing import Any, NamedTuple, Optional

from .activations import SUPPORTED as SUPPORTED_ACTIVATIONS


class LSTMCache(NamedTuple):
    """What lstm_backward needs from lstm_forward; pass it unchanged."""

    x: Any  # [B, T, I] inputs in processing order
    h0: Any  # [B, H] initial hidden state
    c0: Any  # [B, H] initial cell state
    kernel: Any  # [I, 4H] input weights, gate blocks i, f, c, o
    recurrent_kernel: Any  # [H, 4H] recurrent weights, gate blocks i, f, c, o
    hs: Any  # [B, T, H] hidden state after each step
    cs: Any  # [B, T, H] cell state after each step
    gates: Any  # [B, T, 4H] activated gates i, f, g, o
    z: Optional[Any]  # [B, T, 4H] pre-activations (reference only; None elsewhere)
    activation: str  # name of the cell/candidate activation ('tanh')
    recurrent_activation: str  # name of the gate activation ('sigmoid')
    go_backwards: bool  # True when x was processed last step first
    mask: Optional[Any] = None  # [B, T] bool, processing order
    dropout_mask: Optional[Any] = None  # [M, B, I]
    recurrent_dropout_mask: Optional[Any] = None  # [M, B, H]
    act_cs: Optional[Any] = None  # [B, T, H] act(c) after each step (numba; None elsewhere)


class GRUCache(NamedTuple):
    """What gru_backward needs from gru_forward; pass it unchanged."""

    x: Any  # [B, T, I] inputs in processing order
    h0: Any  # [B, H] initial state
    kernel: Any  # [I, 3H] gate blocks z, r, h
    recurrent_kernel: Any  # [H, 3H] gate blocks z, r, h
    hs: Any  # [B, T, H] state after each step
    gates: Any  # [B, T, 3H] activated update z, reset r, candidate hh
    recurrent_h: Any  # [B, T, H] reset_after: h_prev @ U_h + b_rh (what r multiplies)
    z: Optional[Any]  # [B, T, 3H] pre-activations (reference only; None elsewhere)
    activation: str
    recurrent_activation: str
    reset_after: bool
    go_backwards: bool
    mask: Optional[Any] = None
    dropout_mask: Optional[Any] = None
    recurrent_dropout_mask: Optional[Any] = None


class SimpleRNNCache(NamedTuple):
    """What simple_rnn_backward needs from simple_rnn_forward; pass it unchanged."""

    x: Any  # [B, T, I] inputs in processing order
    h0: Any  # [B, H] initial state
    kernel: Any  # [I, H]
    recurrent_kernel: Any  # [H, H]
    hs: Any  # [B, T, H] state after each step
    z: Optional[Any]  # [B, T, H] pre-activations (reference only; None elsewhere)
    activation: str
    go_backwards: bool
    mask: Optional[Any] = None
    dropout_mask: Optional[Any] = None
    recurrent_dropout_mask: Optional[Any] = None


def _shape(array):
    return tuple(array.shape)


def check_sequence_inputs(x, states, kernel, recurrent_kernel, bias, gates, bias_shape,
                          activations, mask=None, dropout_mask=None,
                          recurrent_dropout_mask=None):
    """Cheap consistency checks (shapes, dtypes, names) shared by every cell and kernel set.

    Args:
        x: [B, T, I]. states: {name: [B, H] array} ('h0', 'c0').
        kernel, recurrent_kernel, bias: the cell's weights.
        gates: G, the number of H-wide blocks in kernel's columns.
        bias_shape: function H -> the expected bias shape.
        activations: {argument name: activation name}.
        mask, dropout_mask, recurrent_dropout_mask: see the module docstring.

    Returns:
        (B, T, I, H).
    """
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (B, T, I), got {_shape(x)}")
    if x.dtype.kind != "f":
        raise ValueError(f"x: expected a float dtype, got {x.dtype}")
    B, T, I = x.shape
    if kernel.ndim != 2 or kernel.shape[0] != I or kernel.shape[1] % gates:
        raise ValueError(
            f"kernel: expected shape ({I}, {gates}*units) for input_dim={I}, got {_shape(kernel)}"
        )
    H = kernel.shape[1] // gates
    expected = {name: (array, (B, H)) for name, array in states.items()}
    expected["recurrent_kernel"] = (recurrent_kernel, (H, gates * H))
    expected["bias"] = (bias, bias_shape(H))
    for name, (array, shape) in expected.items():
        if _shape(array) != shape:
            raise ValueError(
                f"{name}: expected shape {shape} for batch={B}, units={H}, got {_shape(array)}"
            )
        if array.dtype != x.dtype:
            raise ValueError(f"{name}: expected dtype {x.dtype} (the dtype of x), got {array.dtype}")
    for which, name in activations.items():
        if name not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"{which}: expected one of {SUPPORTED_ACTIVATIONS}, got {name!r}")
    if mask is not None:
        if _shape(mask) != (B, T):
            raise ValueError(f"mask: expected shape {(B, T)} (batch, timesteps), got {_shape(mask)}")
        if mask.dtype.kind != "b":
            raise ValueError(f"mask: expected a bool array, got dtype {mask.dtype}")
    for name, array, width in (("dropout_mask", dropout_mask, I),
                               ("recurrent_dropout_mask", recurrent_dropout_mask, H)):
        if array is None:
            continue
        if array.ndim != 3 or array.shape[0] not in (1, gates) or _shape(array)[1:] != (B, width):
            raise ValueError(
                f"{name}: expected shape (1, {B}, {width}) or ({gates}, {B}, {width}) "
                f"(one mask shared by the gates, or one per gate), got {_shape(array)}"
            )
        if array.dtype != x.dtype:
            raise ValueError(f"{name}: expected dtype {x.dtype} (the dtype of x), got {array.dtype}")
    return B, T, I, H


def check_sequences(sequences, cache):
    """sequences=False returns only the last h, which no backward can run from: it needs a
    forward-only pass (cache=False)."""
    if not sequences and cache:
        raise ValueError(
            "sequences=False keeps only the last step's h, and backward needs every step's: "
            "pass cache=False with it (a forward-only pass), or sequences=True.")


def check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, mask=None, dropout_mask=None,
                         recurrent_dropout_mask=None):
    """The LSTM's edge checks; returns (B, T, I, H)."""
    return check_sequence_inputs(
        x, {"h0": h0, "c0": c0}, kernel, recurrent_kernel, bias, 4, lambda H: (4 * H,),
        {"activation": activation, "recurrent_activation": recurrent_activation},
        mask, dropout_mask, recurrent_dropout_mask)


def check_backward_inputs(dhs, dh_last, dc_last, cache):
    """Shape and dtype checks for the upstream gradients (None means zeros)."""
    B, T, H = cache.hs.shape
    for name, array, shape in (("dhs", dhs, (B, T, H)), ("dh_last", dh_last, (B, H)),
                               ("dc_last", dc_last, (B, H))):
        if array is None:
            continue
        if _shape(array) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {_shape(array)}")
        if array.dtype != cache.hs.dtype:
            raise ValueError(f"{name}: expected dtype {cache.hs.dtype}, got {array.dtype}")
    return B, T, H
