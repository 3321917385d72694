"""Shutdown turns signals into a stop request with a bounded deadline."""

import os
import signal
import threading

import pytest

from leaderboard.core.lifecycle import EXIT_FORCED, EXIT_SHUTDOWN_TIMEOUT, Shutdown


class ExitRecorder:
    """Stands in for os._exit so the test process survives; records the status."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.called = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.called.set()


@pytest.fixture
def restore_signals():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_request_sets_the_flag_once() -> None:
    exits = ExitRecorder()
    shutdown = Shutdown(timeout=30, hard_exit=exits)
    assert not shutdown.requested
    shutdown.request("test")
    shutdown.request("again")
    assert shutdown.requested
    assert shutdown.wait(0)
    shutdown.complete()
    assert exits.codes == []


def test_watchdog_exits_when_the_bound_expires() -> None:
    exits = ExitRecorder()
    shutdown = Shutdown(timeout=0.05, hard_exit=exits)
    shutdown.request("test")
    assert exits.called.wait(5)
    assert exits.codes == [EXIT_SHUTDOWN_TIMEOUT]


def test_complete_disarms_the_watchdog() -> None:
    exits = ExitRecorder()
    shutdown = Shutdown(timeout=0.2, hard_exit=exits)
    shutdown.request("test")
    shutdown.complete()
    assert not exits.called.wait(0.5)


@pytest.mark.usefixtures("restore_signals")
def test_sigterm_requests_and_a_second_signal_forces() -> None:
    exits = ExitRecorder()
    shutdown = Shutdown(timeout=30, hard_exit=exits).install()
    os.kill(os.getpid(), signal.SIGTERM)
    assert shutdown.wait(5)
    assert exits.codes == []
    os.kill(os.getpid(), signal.SIGINT)
    assert exits.called.wait(5)
    assert exits.codes == [EXIT_FORCED]
    shutdown.complete()
