"""Process lifecycle: the exit statuses of every service, and SIGTERM/SIGINT turned into a
graceful shutdown bounded by ``LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS`` (``Shutdown``,
installed by ``leaderboard.core.runtime``; docs/services.md describes the sequence).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from leaderboard.core.logging import get_logger

#: The process stopped cleanly (after SIGTERM, or its work was done).
EXIT_OK = 0
#: An error stopped the process (logged as one structured line).
EXIT_FAILED = 1
#: A setting is missing or invalid (one line per problem on stderr); nothing was started.
EXIT_BAD_CONFIGURATION = 2
#: Exit status when the shutdown bound expired (EX_SOFTWARE in sysexits.h).
EXIT_SHUTDOWN_TIMEOUT = 70
#: Exit status after a second signal: the conventional 128 + SIGINT.
EXIT_FORCED = 130

log = get_logger(__name__)


class Shutdown:
    """A stop request with a deadline, set by signals or by code."""

    def __init__(self, timeout: float, *, hard_exit: Callable[[int], None] = os._exit) -> None:
        self.timeout = timeout
        self._event = threading.Event()
        self._hard_exit = hard_exit
        self._watchdog: threading.Timer | None = None
        self._requested_at: float | None = None
        self._lock = threading.Lock()

    def install(
        self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> Shutdown:
        """Handle ``signals`` in this (main) thread; returns self for chaining."""
        for signum in signals:
            signal.signal(signum, self._on_signal)
        return self

    @property
    def requested(self) -> bool:
        """True once a stop was requested."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested or ``timeout`` passes; True if requested."""
        return self._event.wait(timeout)

    def request(self, reason: str) -> None:
        """Ask the process to stop and start the shutdown deadline (idempotent)."""
        with self._lock:
            if self._event.is_set():
                return
            self._requested_at = time.monotonic()
            self._event.set()
            self._watchdog = threading.Timer(self.timeout, self._expire)
            self._watchdog.daemon = True
            self._watchdog.start()
        log.info("shutdown requested", reason=reason, timeout_seconds=self.timeout)

    def elapsed(self) -> float:
        """Seconds since the stop was requested (0 before)."""
        return 0.0 if self._requested_at is None else time.monotonic() - self._requested_at

    def complete(self) -> None:
        """The process finished its graceful shutdown: disarm the watchdog."""
        with self._lock:
            if self._watchdog is not None:
                self._watchdog.cancel()
        log.info("shutdown complete", seconds=round(self.elapsed(), 3))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._event.is_set():
            log.warning("second signal: exiting now", signal=name)
            self._hard_exit(EXIT_FORCED)
            return
        self.request(f"received {name}")

    def _expire(self) -> None:
        log.error(
            "graceful shutdown exceeded its bound; exiting without committing more",
            timeout_seconds=self.timeout,
        )
        self._hard_exit(EXIT_SHUTDOWN_TIMEOUT)
