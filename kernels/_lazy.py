"""The kernel functions every set exports, and the file of a set that defines each.

The numba and cupy sets import their kernel files on first use (PEP 562's module
`__getattr__`), not with their package: `minilstm.backend` imports both packages
to ask whether they can run here, and a program that runs neither should not pay
for numba's compiled loops (half a second) or the CuPy files (about 10 ms).
"""

import importlib
import sys

KERNEL_FILES = {
    "lstm_forward": "lstm", "lstm_backward": "lstm",
    "gru_forward": "gru", "gru_backward": "gru",
    "simple_rnn_forward": "simple_rnn", "simple_rnn_backward": "simple_rnn",
}


def module_getattr(package, submodules=()):
    """A module `__getattr__` for `package` that imports a kernel's file when the kernel
    is first looked up (then keeps the function in the package, so later lookups skip
    the hook, about 10 µs a call) and imports the named `submodules` on demand."""

    def __getattr__(name):
        if name in KERNEL_FILES:
            function = getattr(importlib.import_module(f".{KERNEL_FILES[name]}", package), name)
            setattr(sys.modules[package], name, function)
            return function
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def import_kernel_files(package):
    """Imports every kernel file of `package` now (a set's `load()`)."""
    for file in sorted(set(KERNEL_FILES.values())):
        importlib.import_module(f".{file}", package)
