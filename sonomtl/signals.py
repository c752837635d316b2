"""Stop a long batch cleanly on SIGINT or SIGTERM.

Inside ``with StopOnSignals() as stop:`` the first SIGINT (Ctrl-C) or SIGTERM
only sets a flag; the work checks ``stop()`` between frames or files, finishes
what it can finish cleanly, and the command exits with ``stop.exit_status``
(130 for SIGINT, 143 for SIGTERM: 128 + the signal number, as a shell
reports a process killed by it). A second signal while stopping is handled as
the signal's old handler would (Ctrl-C then raises ``KeyboardInterrupt`` at
once). Handlers can only be installed in the main thread; elsewhere the block
runs with the handlers as they are and ``stop()`` stays ``False``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["StopOnSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
    """A context manager whose instance, called, says whether a stop was asked for.

    Examples
    --------
    >>> import os, signal
    >>> with StopOnSignals() as stop:
    ...     before = stop()
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     after = stop()
    >>> before, after, stop.signal_number == signal.SIGTERM, stop.exit_status
    (False, True, True, 143)
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        """``True`` once SIGINT or SIGTERM arrived inside the block."""
        return self.signal_number is not None

    @property
    def exit_status(self) -> int:
        """128 + the signal's number (130 SIGINT, 143 SIGTERM); 0 when none arrived."""
        return 0 if self.signal_number is None else 128 + self.signal_number

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_number is not None:  # a second signal: do what the old handler does
            previous = self._previous.get(number)
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)
                signal.raise_signal(number)
            return
        self.signal_number = number

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for number in _SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
