"""Riding out an outage of a server a worker depends on (PostgreSQL, Redis).

Transient failures are retried while readiness fails (docs/architecture.md, "Outages").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from leaderboard.core.errors import InfrastructureError, LeaderboardError, UnavailableError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health

T = TypeVar("T")

log = get_logger(__name__)


class DependencyRetrier:
    """Runs operations on one dependency until they succeed, reporting outages meanwhile."""

    def __init__(
        self,
        *,
        check: str,
        label: str,
        is_transient: Callable[[BaseException], bool],
        health: Health,
        shutdown: Shutdown,
        min_wait: float = 0.1,
        max_wait: float = 5.0,
        describe: Callable[[BaseException], str] = str,
        permanent: Callable[[BaseException, str], InfrastructureError] | None = None,
        unavailable: type[InfrastructureError] = UnavailableError,
        retries: Counter | None = None,
    ) -> None:
        self._check = check
        self._label = label
        self._is_transient = is_transient
        self._health = health
        self._shutdown = shutdown
        self._min_wait = min_wait
        self._max_wait = max_wait
        self._describe = describe
        self._permanent = permanent
        self._unavailable = unavailable
        self._retries = retries
        self._outage_started: float | None = None
        self._last_failure = ""

    def call(
        self, operation: Callable[[], T], what: str, log_context: Mapping[str, Any] | None = None
    ) -> T:
        """Run ``operation`` until it succeeds; ``what`` names it in logs and errors, and
        ``log_context`` (e.g. the batch's Kafka coordinates) goes on every retry log."""
        retrying = Retrying(
            retry=retry_if_exception(self._is_transient),
            wait=wait_exponential_jitter(
                multiplier=self._min_wait, max=self._max_wait, jitter=self._min_wait
            ),
            stop=lambda _state: self._shutdown.requested,
            sleep=self._sleep,
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
            if self._is_transient(error) and self._shutdown.requested:
                raise self._abandoned(what) from error
            if self._permanent is None:
                raise
            self._health.set_check(self._check, False, self._describe(error))
            raise self._permanent(error, what) from error
        self._recovered()
        return result

    def _abandoned(self, what: str) -> InfrastructureError:
        return self._unavailable(
            f"{what}: {self._label} was still unavailable when shutdown was requested "
            f"(last failure: {self._last_failure}); nothing of it was stored or "
            "acknowledged, so it will be consumed again"
        )

    def _sleep(self, seconds: float) -> None:
        # Wakes up as soon as a stop is requested instead of finishing the backoff.
        self._shutdown.wait(seconds)

    def _on_retry(self, state: RetryCallState, what: str, context: Mapping[str, Any]) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        detail = self._describe(error) if error is not None else "unknown failure"
        self._last_failure = detail
        if self._outage_started is None:
            self._outage_started = time.monotonic()
        if self._retries is not None:
            self._retries.inc()
        self._health.set_check(self._check, False, detail)
        # Alive: the loop is waiting on its dependency on purpose, not wedged.
        self._health.heartbeat()
        log.warning(
            f"{self._label} unavailable; retrying",
            operation=what,
            attempt=state.attempt_number,
            retry_in_seconds=round(state.upcoming_sleep, 3),
            error=detail,
            **context,
        )

    def _recovered(self) -> None:
        if self._outage_started is not None:
            log.info(
                f"{self._label} available again",
                outage_seconds=round(time.monotonic() - self._outage_started, 3),
            )
            self._outage_started = None
        self._health.set_check(self._check, True, "")


def is_redis_outage(error: BaseException) -> bool:
    """Redis unreachable or not answering: worth waiting for."""
    return isinstance(error, (RedisConnectionError, RedisTimeoutError))


def redis_retrier(health: Health, shutdown: Shutdown, **options: Any) -> DependencyRetrier:
    """A retrier for Redis operations, reporting through the ``redis`` readiness check."""
    return DependencyRetrier(
        check="redis",
        label="Redis",
        is_transient=is_redis_outage,
        health=health,
        shutdown=shutdown,
        **options,
    )
