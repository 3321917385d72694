"""DependencyRetrier waits out outages, reports them, and gives up only on shutdown."""

from itertools import repeat

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from leaderboard.core.errors import InfrastructureError, UnavailableError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.probes import Health
from leaderboard.core.retry import DependencyRetrier, redis_retrier
from tests.support.flaky import Flaky


def fast(health: Health, shutdown: Shutdown, **options) -> DependencyRetrier:
    return DependencyRetrier(
        check="redis",
        label="Redis",
        is_transient=lambda error: isinstance(error, ConnectionError),
        health=health,
        shutdown=shutdown,
        min_wait=0.001,
        max_wait=0.002,
        **options,
    )


def test_an_outage_is_retried_and_reported_until_it_ends(shutdown: Shutdown) -> None:
    health = Health()
    seen_not_ready = []
    flaky = Flaky([ConnectionError("refused")] * 3)

    def operation():
        seen_not_ready.append(health.readiness()[0])
        return flaky()

    assert fast(health, shutdown).call(operation, "apply") == "done"
    assert flaky.calls == 4
    assert seen_not_ready == [True, False, False, False]
    assert health.readiness()[0]


def test_shutdown_during_an_outage_gives_up(shutdown: Shutdown) -> None:
    flaky = Flaky(repeat(ConnectionError("refused")))

    def operation():
        if flaky.calls == 2:
            shutdown.request("test")
        return flaky()

    with pytest.raises(UnavailableError, match="still unavailable when shutdown"):
        fast(Health(), shutdown).call(operation, "apply")
    shutdown.complete()


def test_other_errors_are_not_retried(shutdown: Shutdown) -> None:
    flaky = Flaky([ValueError("bad data")])
    with pytest.raises(ValueError, match="bad data"):
        fast(Health(), shutdown).call(flaky, "apply")
    assert flaky.calls == 1


def test_permanent_failures_are_translated_and_reported(shutdown: Shutdown) -> None:
    health = Health()
    retrier = fast(
        health, shutdown, permanent=lambda error, what: InfrastructureError(f"{what}: {error}")
    )
    with pytest.raises(InfrastructureError, match="apply: no such table"):
        retrier.call(Flaky([ValueError("no such table")]), "apply")
    assert not health.readiness()[0]


def test_the_redis_retrier_treats_connection_errors_as_outages(shutdown: Shutdown) -> None:
    retrier = redis_retrier(Health(), shutdown, min_wait=0.001, max_wait=0.001)
    assert retrier.call(Flaky([RedisConnectionError("down")]), "ping") == "done"
