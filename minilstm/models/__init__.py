"""Models: `Model` (the Functional API's graph of layers, with the training loop) and
`Sequential` (a Model whose graph is a chain)."""

from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
