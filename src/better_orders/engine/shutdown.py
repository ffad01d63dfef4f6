"""A clean stop on SIGTERM, the same as on SIGINT (Ctrl-C).

A service manager stops a process with SIGTERM (systemd, ``docker stop``, Kubernetes);
a person with Ctrl-C. Both should end a run the same way: the run's task is cancelled
(``asyncio.Runner`` does that for SIGINT, and a run records itself as interrupted),
and the caller then cancels what the run left open. So SIGTERM is handed to whatever
handles SIGINT at that moment: inside a run, the event loop's handler, which cancels
the run; outside one (asleep until the next run), Python's, which raises
``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Shutdown:
    """Which signal asked the process to stop, once one did."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def name(self) -> str:
        """``SIGTERM`` or ``SIGINT`` (a ``KeyboardInterrupt`` with no SIGTERM seen)."""
        return self.signal_name or "SIGINT"

    @property
    def exit_code(self) -> int:
        """The conventional 128 + signal number."""
        return 128 + (signal.SIGTERM if self.signal_name == "SIGTERM" else signal.SIGINT)

    @contextlib.contextmanager
    def handling(self) -> Iterator[Shutdown]:
        """SIGTERM behaves as SIGINT while the block runs (main thread only; else no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = "SIGTERM"
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt
