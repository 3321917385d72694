"""PostgreSQL outages are retried with backoff, reported as not ready, and abandoned only
on shutdown; failures that retrying cannot fix stop at once with a clear error."""

from __future__ import annotations

import threading

import psycopg2
import pytest
from psycopg2 import errors as pg_errors
from sqlalchemy import exc

from leaderboard.archiver.metrics import ArchiverMetrics
from leaderboard.archiver.retry import CHECK, PostgresRetrier
from leaderboard.core.errors import DatabaseError, DatabaseUnavailableError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.probes import Health
from tests.support.flaky import Flaky
from tests.support.services import wait_for


def connection_refused() -> exc.OperationalError:
    return exc.OperationalError(
        "INSERT INTO score_events ...",
        None,
        psycopg2.OperationalError('connection to server at "127.0.0.1" failed: refused'),
    )


def missing_table() -> exc.ProgrammingError:
    return exc.ProgrammingError(
        "INSERT INTO score_events ...",
        None,
        pg_errors.UndefinedTable('relation "score_events" does not exist'),
    )


class RecordingHealth(Health):
    """A real Health that also remembers every readiness change and heartbeat."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[str, bool, str]] = []
        self.beats = 0

    def heartbeat(self) -> None:
        self.beats += 1
        super().heartbeat()

    def set_check(self, name: str, ok: bool, detail: str = "") -> None:
        self.changes.append((name, ok, detail))
        super().set_check(name, ok, detail)


@pytest.fixture
def health() -> RecordingHealth:
    return RecordingHealth()


def retrier(
    health: Health, shutdown: Shutdown, metrics: ArchiverMetrics, wait: float = 0.001
) -> PostgresRetrier:
    return PostgresRetrier(
        health=health, shutdown=shutdown, metrics=metrics, min_wait=wait, max_wait=wait
    )


def retries(metrics: ArchiverMetrics) -> float:
    return metrics.registry.get_sample_value("leaderboard_archiver_postgres_retries_total") or 0


def test_success_on_the_first_try_reports_ready(health, shutdown, metrics) -> None:
    assert retrier(health, shutdown, metrics).call(Flaky([], "stored"), "insert") == "stored"
    assert health.changes == [(CHECK, True, "")]
    assert health.readiness()[0]
    assert retries(metrics) == 0


def test_an_outage_is_retried_until_postgres_is_back(health, shutdown, metrics) -> None:
    operation = Flaky([connection_refused() for _ in range(4)], "stored")
    assert retrier(health, shutdown, metrics).call(operation, "insert") == "stored"
    assert operation.calls == 5
    assert retries(metrics) == 4
    # Not ready during the outage (with the driver's reason), ready again after it.
    failing = [change for change in health.changes if not change[1]]
    assert len(failing) == 4
    assert all("refused" in detail for _, _, detail in failing)
    assert health.changes[-1] == (CHECK, True, "")
    assert health.readiness()[0]
    # Alive throughout: every backoff beats the heart.
    assert health.beats == 4


def test_readiness_fails_while_the_outage_lasts(health, shutdown, metrics) -> None:
    seen: list[bool] = []
    operation = Flaky([connection_refused(), connection_refused()])
    operation.on_call = lambda call: seen.append(health.readiness()[0])
    retrier(health, shutdown, metrics).call(operation, "insert")
    assert seen == [True, False, False]  # first try before anything failed
    assert health.liveness()[0]


def test_a_missing_table_is_not_retried_and_says_to_migrate(health, shutdown, metrics) -> None:
    operation = Flaky([missing_table()])
    with pytest.raises(DatabaseError) as raised:
        retrier(health, shutdown, metrics).call(operation, "insert a batch")
    assert operation.calls == 1
    assert "score_events" in str(raised.value)
    assert "python -m leaderboard.archiver.migrate" in str(raised.value)
    assert not isinstance(raised.value, DatabaseUnavailableError)
    assert not health.readiness()[0]


def test_other_database_errors_stop_with_the_drivers_message(health, shutdown, metrics) -> None:
    refused = exc.ProgrammingError(
        "INSERT", None, pg_errors.InsufficientPrivilege("permission denied for table")
    )
    with pytest.raises(DatabaseError, match="permission denied for table"):
        retrier(health, shutdown, metrics).call(Flaky([refused]), "insert a batch")


def test_a_stop_during_the_outage_abandons_the_operation(health, shutdown, metrics) -> None:
    operation = Flaky([connection_refused() for _ in range(100)])
    # The stop arrives while the third attempt is failing.
    operation.on_call = lambda call: call == 3 and shutdown.request("test")
    with pytest.raises(DatabaseUnavailableError, match="will be consumed again"):
        retrier(health, shutdown, metrics).call(operation, "insert a batch")
    assert operation.calls == 3


def test_a_stop_interrupts_a_long_backoff_without_another_attempt(
    health, shutdown, metrics
) -> None:
    operation = Flaky([connection_refused() for _ in range(100)])
    slow = retrier(health, shutdown, metrics, wait=120.0)
    failure: list[BaseException] = []

    def call() -> None:
        try:
            slow.call(operation, "insert a batch")
        except BaseException as error:  # handed to the test thread
            failure.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    wait_for(lambda: not health.readiness()[0], 30, "the first failure to be reported")
    shutdown.request("test")
    worker.join(30)
    assert not worker.is_alive(), "the backoff was not interrupted by the stop"
    assert operation.calls == 1
    [error] = failure
    assert isinstance(error, DatabaseUnavailableError)
    assert "refused" in str(error)  # names the last failure
