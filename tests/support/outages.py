"""Dependency outages for integration tests: a server of a test's own, and the checks a
service must pass while it waits that server out.

A test that stops a server must not stop the shared stack's one (every other test uses
it), so ``own_server`` runs a second instance in the test's ``tmp_path`` on a free port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from leaderboard.core.config import LeaderboardSettings, load_settings
from leaderboard.core.events import ScoreEvent
from leaderboard.devstack.server import Server
from leaderboard.devstack.settings import DevstackSettings
from tests.support.scores import produce
from tests.support.services import ServiceProcess, http_status, wait_for

ServerT = TypeVar("ServerT", bound=Server)


@contextmanager
def own_server(
    server_class: type[ServerT], stack: DevstackSettings, tmp_path: Path, **settings: Any
) -> Iterator[ServerT]:
    """A running ``server_class`` with data in ``tmp_path``; ``settings`` give its address."""
    server = server_class(
        load_settings(
            DevstackSettings,
            devstack_dir=tmp_path / "devstack",
            devstack_cache_dir=stack.downloads_dir,
            **settings,
        )
    )
    try:
        server.up()
        yield server
    finally:
        server.stop()


def ride_out(service: ServiceProcess, seconds: float, tick: Callable[[], None]) -> None:
    """For ``seconds``, every half second: run ``tick`` (e.g. produce more events), and
    check that ``service`` still runs, is alive (``/livez`` 200: it waits on purpose, it
    is not wedged) and reports not ready (``/readyz`` 503)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        tick()
        service.assert_running()
        assert http_status(f"{service.base_url}/livez") == 200
        assert http_status(f"{service.base_url}/readyz") == 503
        time.sleep(0.5)  # paces tick over the outage; nothing waits on it


def producing(settings: LeaderboardSettings, chunks: list[list[ScoreEvent]]) -> Callable[[], None]:
    """A ``ride_out`` tick that produces the first of ``chunks`` and removes it, while
    there are any: what is left afterwards is what the outage did not get to."""

    def tick() -> None:
        if chunks:
            produce(settings, chunks.pop(0))

    return tick


def through_an_outage(
    service: ServiceProcess,
    server: Server,
    settings: LeaderboardSettings,
    chunks: list[list[ScoreEvent]],
    seconds: float,
) -> None:
    """Stop ``server`` under ``service`` while events keep coming, and start it again.

    The first of ``chunks`` is produced right after the stop, and ``/readyz`` must turn
    503; up to 15 more during ``seconds`` of ``ride_out``; then the server starts again,
    the rest are produced, and ``/readyz`` must turn 200 again.
    """
    readyz = f"{service.base_url}/readyz"
    server.stop()
    produce(settings, chunks[0])
    wait_for(lambda: http_status(readyz) == 503, 30, "/readyz to report the outage")
    during = chunks[1:16]
    ride_out(service, seconds, producing(settings, during))
    server.up()
    for chunk in [*during, *chunks[16:]]:
        produce(settings, chunk)
    wait_for(lambda: http_status(readyz) == 200, 60, "/readyz to recover")
