"""Checks of the plain arguments of fit / evaluate / predict, before anything runs.

Each raises TypeError or ValueError naming the argument, what was expected and
what was received.
"""

import numbers


def integer(name, value, minimum=0, allow_none=False):
    """An int >= minimum (bool is not an int), or None when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= {minimum}"
                        f"{' or None' if allow_none else ''}. Received: {name}={value!r} "
                        f"(of type {type(value).__name__})")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def flag(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def verbosity(value):
    """Keras's verbose: 'auto', 0, 1 or 2 -> 0, 1 or 2 ('auto' is 1)."""
    if value == "auto" and isinstance(value, str):
        return 1
    if isinstance(value, bool) or value not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2. Received: verbose={value!r}")
    return int(value)


def fraction(name, value):
    """A real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r} "
                        f"(of type {type(value).__name__})")
    if not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def fit_arguments(epochs, verbose, validation_split, shuffle, initial_epoch, validation_freq,
                  steps_per_epoch, validation_steps):
    """All of fit's plain arguments at once; returns the normalised verbose."""
    integer("epochs", epochs)
    integer("initial_epoch", initial_epoch)
    integer("validation_freq", validation_freq, minimum=1)
    integer("steps_per_epoch", steps_per_epoch, minimum=1, allow_none=True)
    integer("validation_steps", validation_steps, minimum=1, allow_none=True)
    fraction("validation_split", validation_split)
    if not (isinstance(shuffle, bool) or shuffle == "batch"):
        raise TypeError(f"`shuffle` must be True or False. Received: shuffle={shuffle!r}")
    return verbosity(verbose)
