"""The Numba kernel set (CPU)."""

from .lstm import NAME, is_available, lstm_backward, lstm_forward, unavailable_reason

__all__ = ["NAME", "is_available", "unavailable_reason", "lstm_forward", "lstm_backward"]
