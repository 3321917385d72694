"""Riding out PostgreSQL outages: retries with capped backoff, readiness, liveness.

``PostgresRetrier.call()`` runs one PostgreSQL operation (a batch insert, the start-up
schema step) until it succeeds. A transient failure (``store.is_transient``: server
down, restarting, connection dropped) is retried after an exponential backoff with
jitter, capped at ``archiver_retry_max_seconds``; meanwhile the ``postgres`` readiness
check fails (``/readyz`` answers 503, so no traffic or rollout waits on this pod) and
the heartbeat keeps liveness green (the process is healthy, its database is not, and a
restart would not help). The caller blocks, so the consumer stops polling and the lag
builds up in Kafka, where nothing is lost. Once the operation succeeds the check turns
green again.

Retrying stops when shutdown is requested: the wait is interrupted at once and
``DatabaseUnavailableError`` is raised, so the pending batch's offsets are not stored
and it is redelivered. Any other failure becomes a ``DatabaseError`` that stops the
process: retrying a missing table or a permission problem would only hide it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from leaderboard.archiver.store import describe_failure, is_transient, permanent_failure
from leaderboard.core.errors import DatabaseUnavailableError, LeaderboardError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import ArchiverMetrics
from leaderboard.core.probes import Health

T = TypeVar("T")

#: The readiness check this module owns.
CHECK = "postgres"

log = get_logger(__name__)


class PostgresRetrier:
    """Runs PostgreSQL operations until they succeed, reporting the outage meanwhile."""

    def __init__(
        self,
        *,
        health: Health,
        shutdown: Shutdown,
        metrics: ArchiverMetrics,
        min_wait: float,
        max_wait: float,
    ) -> None:
        self._health = health
        self._shutdown = shutdown
        self._metrics = metrics
        self._min_wait = min_wait
        self._max_wait = max_wait
        self._outage_started: float | None = None
        self._last_failure = ""

    def call(
        self, operation: Callable[[], T], what: str, log_context: Mapping[str, Any] | None = None
    ) -> T:
        """Run ``operation`` until it succeeds; ``what`` names it in logs and errors, and
        ``log_context`` (e.g. the batch's Kafka coordinates) goes on every retry log."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_exponential_jitter(
                multiplier=self._min_wait, max=self._max_wait, jitter=self._min_wait
            ),
            stop=lambda _state: self._shutdown.requested,
            # Wakes up as soon as a stop is requested instead of finishing the backoff.
            sleep=self._shutdown.wait,
            before_sleep=lambda state: self._on_retry(state, what, log_context or {}),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1 and self._shutdown.requested:
                        # The stop came during the backoff: give up before another try.
                        raise self._abandoned(what)
                    result = operation()
        except LeaderboardError:
            raise
        except Exception as error:
            if is_transient(error) and self._shutdown.requested:
                raise self._abandoned(what) from error
            self._health.set_check(CHECK, False, describe_failure(error))
            raise permanent_failure(error, what) from error
        self._recovered()
        return result

    def _abandoned(self, what: str) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"{what}: PostgreSQL was still unavailable when shutdown was requested "
            f"(last failure: {self._last_failure}); nothing of it was stored or "
            "acknowledged, so it will be consumed again"
        )

    def _on_retry(self, state: RetryCallState, what: str, context: Mapping[str, Any]) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        detail = describe_failure(error) if error is not None else "unknown failure"
        self._last_failure = detail
        if self._outage_started is None:
            self._outage_started = time.monotonic()
        self._metrics.postgres_retries.inc()
        self._health.set_check(CHECK, False, detail)
        # Alive: the loop is waiting on its database on purpose, not wedged.
        self._health.heartbeat()
        log.warning(
            "PostgreSQL unavailable; retrying",
            operation=what,
            attempt=state.attempt_number,
            retry_in_seconds=round(state.upcoming_sleep, 3),
            error=detail,
            **context,
        )

    def _recovered(self) -> None:
        if self._outage_started is not None:
            log.info(
                "PostgreSQL available again",
                outage_seconds=round(time.monotonic() - self._outage_started, 3),
            )
            self._outage_started = None
        self._health.set_check(CHECK, True, "")
