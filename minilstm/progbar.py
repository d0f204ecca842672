"""The text progress bar that `fit`, `evaluate` and `predict` print: Keras 3's, byte for byte.

The layout follows `keras/src/utils/progbar.py`: a bold counter right-aligned to the digits of the
target, a 20-cell bar of `━` (green done part, white rest), then `ETA` while running or elapsed
seconds and time per step when finished, then ` - name: value` for each value. `ProgbarLogger` in
`callbacks.py` drives it from the callback hooks.
"""

import math
import os
import sys
import time

_CELL = "\u2501"  # ━, one bar cell
_BOLD, _GREEN, _WHITE, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def print_msg(message, line_break=True):
    """Writes `message` to the current `sys.stdout` and flushes (Keras's `io_utils.print_msg`).

    `sys.stdout` is looked up at call time, so pytest's `capsys` and `contextlib.redirect_stdout`
    capture the text.

    Args:
        message: The text to write.
        line_break: Whether to end it with a newline. Defaults to `True`.

    >>> print_msg("Epoch 1/2")
    Epoch 1/2
    """
    message = message + "\n" if line_break else message
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        # A console without UTF-8 (Windows cp1252) cannot draw ━: draw '=' as Keras does.
        encoding = sys.stdout.encoding or "ascii"
        message = message.replace(_CELL, "=").encode(encoding, errors="ignore").decode(encoding)
        sys.stdout.write(message)
    sys.stdout.flush()


def _format_value(value, use_abs=True):
    # Keras prints small values in scientific notation; its verbose=2 branch tests `v > 1e-3`
    # without abs(), so negative values print as `-1.2500e-01` there. Kept for identical text.
    magnitude = abs(value) if use_abs else value
    return f"{value:.4f}" if magnitude > 1e-3 else f"{value:.4e}"


class Progbar:
    """Displays a progress bar, as Keras 3's `keras.utils.Progbar` does.

    With `verbose=1` each `update` redraws one line: in place (`\\b` times the previous width, then
    `\\r`) when the display is dynamic, which is when stdout is a TTY, in IPython, or whenever
    `posix` is in `sys.modules` (that is, on every Linux and macOS Python, as in Keras); otherwise
    each redraw starts a new line. Redraws come at most every `interval` seconds, except the final
    one. With `verbose=2` only the final update prints, as one plain line.

    Values are shown as given, not averaged over updates: the logs `fit` passes already hold running
    means. Keras 3 before PR #23030 averaged them again on the intermediate lines only; the final
    line is the same either way.

    Args:
        target: Total number of steps expected, or `None` if unknown.
        width: Bar width in cells. Defaults to `20`.
        verbose: `0` silent, `1` the live bar, `2` one line when finished. Defaults to `1`.
        interval: Minimum seconds between two redraws with `verbose=1`. Defaults to `0.05`.
        unit_name: Name of a step in the time-per-step text. Defaults to `"step"`.

    Call arguments (of `update`):
        current: Number of steps done so far.
        values: `(name, value)` pairs (or a dict) to show; a name keeps its first position.
        finalize: Whether this is the last update. Defaults to `current >= target`.

    >>> bar = Progbar(3, verbose=2)
    >>> for step in range(1, 4):  # doctest: +ELLIPSIS
    ...     bar.update(step, [("loss", 1.0 / step)])
    3/3 - 0s - ...s/step - loss: 0.3333
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self._dynamic_display = (
            (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
            or "ipykernel" in sys.modules
            or "posix" in sys.modules
            or "PYCHARM_HOSTED" in os.environ
        )
        self._values = {}
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Records `values` at step `current` and redraws the bar (see the class docstring)."""
        known_target = self.target is not None and self.target > 0
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        pairs = values.items() if isinstance(values, dict) else values or []
        for name, value in pairs:
            self._values[name] = float(value)
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize, known_target)
        elif self.verbose == 2 and finalize and known_target:
            count = f"{int(current):{self._digits()}d}/{self.target}"
            line = f"{count} - {now - self._start:.0f}s -{self._format_time(time_per_unit)}"
            for name, value in self._values.items():
                line += f" - {name}: {_format_value(value, use_abs=False)}"
            print_msg(line)
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by `n` steps."""
        self.update(self._seen_so_far + n, values)

    def _draw(self, current, now, time_per_unit, finalize, known_target):
        if known_target:
            bar = f"{_BOLD}{int(current):{self._digits()}d}/{self.target}{_RESET} "
            done = int(self.width * float(current) / self.target)
            if done > 0:
                bar += f"{_GREEN}{_CELL * done}{_RESET}"
            bar += f"{_WHITE}{_CELL * (self.width - done)}{_RESET}"
            codes = 8 + (9 if done > 0 else 0) + 9  # ANSI bytes, which take no columns
        else:
            bar, codes = f"{int(current):7d}/Unknown", 0
        if known_target and not finalize:
            clock = self._format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"  # elapsed
        info = f" {_BOLD}{clock}{_RESET}{self._format_time(time_per_unit)}"
        codes += 8
        for name, value in self._values.items():
            info += f" - {name}: {_format_value(value)}"

        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        message += bar + info
        total_width = len(bar) + len(info) - codes
        # Blank out what is left of a longer previous line.
        message += " " * max(self._prev_total_width - total_width, 0)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _digits(self):
        return int(math.log10(self.target)) + 1

    @staticmethod
    def _format_eta(eta):
        # Keras formats with %d, which truncates; int() does the same.
        if eta > 3600:
            return f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
        if eta > 60:
            return f"{int(eta // 60)}:{int(eta % 60):02d}"
        return f"{int(eta)}s"

    def _format_time(self, time_per_unit):
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{self.unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1e3:.0f}ms/{self.unit_name}"
        return f" {time_per_unit * 1e6:.0f}us/{self.unit_name}"

    def _estimate_step_duration(self, current, now):
        # The first step (graph tracing and warm-up in Keras) is left out of the estimate once
        # there is a second; a bar that never saw step 1 falls back to the plain average.
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
