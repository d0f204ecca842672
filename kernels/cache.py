"""The value lstm_forward hands to lstm_backward, and the checks at the kernel edge."""

from typing import Any, NamedTuple, Optional


class LSTMCache(NamedTuple):
    """What the backward pass needs from the forward pass.

    Pass it unchanged from `lstm_forward` to `lstm_backward`. Shapes use
    B = batch, T = timesteps, I = input features, H = units. Time runs in
    processing order: reversed input order when `go_backwards` is set.

    The layouts below are the reference's. `hs` and `cs` are the same in every
    kernel set (they are also returned to the caller); the other fields are
    private to the set that made the cache, which may store them in the
    layout its loops want (the Numba and CuPy sets keep `gates` time-major,
    [T, B, 4H]; see their module docstrings).
    """

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


SUPPORTED_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")


def check_forward_inputs(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation):
    """Cheap consistency checks (shapes, dtypes, names) shared by every kernel set."""
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (B, T, I), got {tuple(x.shape)}")
    B, T, I = x.shape
    if kernel.ndim != 2 or kernel.shape[0] != I or kernel.shape[1] % 4:
        raise ValueError(
            f"kernel: expected shape ({I}, 4*units) for input_dim={I}, got {tuple(kernel.shape)}"
        )
    H = kernel.shape[1] // 4
    expected = {
        "h0": (h0, (B, H)),
        "c0": (c0, (B, H)),
        "recurrent_kernel": (recurrent_kernel, (H, 4 * H)),
        "bias": (bias, (4 * H,)),
    }
    for name, (array, shape) in expected.items():
        if tuple(array.shape) != shape:
            raise ValueError(
                f"{name}: expected shape {shape} for batch={B}, units={H}, "
                f"got {tuple(array.shape)}"
            )
    for name, array in (("h0", h0), ("c0", c0), ("kernel", kernel),
                        ("recurrent_kernel", recurrent_kernel), ("bias", bias)):
        if array.dtype != x.dtype:
            raise ValueError(f"{name}: expected dtype {x.dtype} (the dtype of x), got {array.dtype}")
    if x.dtype.kind != "f":
        raise ValueError(f"x: expected a float dtype, got {x.dtype}")
    for which, name in (("activation", activation), ("recurrent_activation", recurrent_activation)):
        if name not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"{which}: expected one of {SUPPORTED_ACTIVATIONS}, got {name!r}"
            )
    return B, T, I, H


def check_backward_inputs(dhs, dh_last, dc_last, cache):
    """Shape and dtype checks for the upstream gradients (None means zeros)."""
    B, T, H = cache.hs.shape
    for name, array, shape in (("dhs", dhs, (B, T, H)), ("dh_last", dh_last, (B, H)),
                               ("dc_last", dc_last, (B, H))):
        if array is None:
            continue
        if tuple(array.shape) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {tuple(array.shape)}")
        if array.dtype != cache.hs.dtype:
            raise ValueError(f"{name}: expected dtype {cache.hs.dtype}, got {array.dtype}")
    return B, T, H
