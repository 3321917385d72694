"""One consumed batch becomes one insert; what was archived, skipped as a duplicate or
rejected is counted once the batch is durable."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg2
import pytest
from sqlalchemy import exc
from structlog.testing import capture_logs

from leaderboard.archiver.metrics import ArchiverMetrics
from leaderboard.archiver.retry import PostgresRetrier
from leaderboard.archiver.service import ArchiveHandler
from leaderboard.archiver.store import InsertResult
from leaderboard.core.errors import DatabaseUnavailableError
from leaderboard.core.events import SAFE_INTEGER, ScoreEvent
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.probes import Health
from tests.support.kafka_fakes import FakeMessage

TOPIC = "game-score"
#: The handler's writer thread; one for the module, as the archiver has one per process.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-writer")


@dataclass(frozen=True)
class MemoryBatch:
    """What MemoryStore.prepare makes: the rows themselves."""

    row_list: list[dict[str, Any]]

    @property
    def rows(self) -> int:
        return len(self.row_list)


class MemoryStore:
    """An in-memory stand-in for ScoreStore: a table keyed by event_id."""

    def __init__(self, outages: int = 0) -> None:
        self.table: dict[uuid.UUID, dict[str, Any]] = {}
        self.inserts: list[int] = []
        self.outages = outages

    def prepare(self, rows: Sequence[dict[str, Any]]) -> MemoryBatch:
        return MemoryBatch(list(rows))

    def write(self, batch: MemoryBatch) -> InsertResult:
        rows = batch.row_list
        if self.outages:
            self.outages -= 1
            raise exc.OperationalError("INSERT", None, psycopg2.OperationalError("refused"))
        self.inserts.append(len(rows))
        before = len(self.table)
        for row in rows:
            self.table.setdefault(row["event_id"], row)
        inserted = len(self.table) - before
        return InsertResult(inserted, len(rows) - inserted)


def event(score: int = 5) -> ScoreEvent:
    return ScoreEvent(
        event_id=uuid.uuid4(),
        leaderboard="weekly",
        player_id="p1",
        score=score,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        version=1,
    )


def messages(values: list[bytes]) -> list[FakeMessage]:
    return [FakeMessage(TOPIC, 1, offset, value_bytes=v) for offset, v in enumerate(values)]


def handler_for(
    store: MemoryStore, metrics: ArchiverMetrics, shutdown: Shutdown
) -> Callable[[list[FakeMessage]], None]:
    """Archive one batch as the consume loop does: start it, then wait for its completion."""
    retrier = PostgresRetrier(
        health=Health(), shutdown=shutdown, metrics=metrics, min_wait=0.001, max_wait=0.001
    )
    handler = ArchiveHandler(store, retrier, metrics, _WRITER)  # type: ignore[arg-type]
    return lambda batch: handler.start(batch)()  # type: ignore[arg-type]


def sample(metrics: ArchiverMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_batch_is_one_insert_and_redelivery_counts_duplicates(metrics, shutdown) -> None:
    store = MemoryStore()
    handle = handler_for(store, metrics, shutdown)
    events = [event(score) for score in (1, 2, 3)]
    batch = messages([e.to_json() for e in events])

    handle(batch)  # type: ignore[arg-type]
    handle(batch)  # type: ignore[arg-type]  # redelivered after a crash

    assert store.inserts == [3, 3]
    assert sorted(row["score"] for row in store.table.values()) == [1, 2, 3]
    assert sample(metrics, "leaderboard_archiver_events_archived_total") == 3
    assert sample(metrics, "leaderboard_archiver_events_duplicate_total") == 3
    assert sample(metrics, "leaderboard_archiver_insert_duration_seconds_count") == 2


def test_poison_is_counted_by_reason_and_the_valid_events_are_stored(metrics, shutdown) -> None:
    store = MemoryStore()
    good = event()
    beyond = orjson.dumps(orjson.loads(event().to_json()) | {"score": SAFE_INTEGER + 1})
    handle = handler_for(store, metrics, shutdown)
    handle(messages([b"{nope", good.to_json(), beyond, b"{"]))  # type: ignore[arg-type]
    assert list(store.table) == [good.event_id]
    assert sample(metrics, "leaderboard_archiver_events_rejected_total", reason="invalid_json") == 2
    rejected_high = sample(
        metrics, "leaderboard_archiver_events_rejected_total", reason="score_out_of_bounds"
    )
    assert rejected_high == 1
    assert sample(metrics, "leaderboard_archiver_events_archived_total") == 1


def test_a_batch_of_only_poison_never_touches_the_database(metrics, shutdown) -> None:
    store = MemoryStore(outages=1_000)  # would fail if it were called
    handle_all_poison = handler_for(store, metrics, shutdown)
    handle_all_poison(messages([b"x", b"y"]))  # type: ignore[arg-type]
    assert store.inserts == []
    assert sample(metrics, "leaderboard_archiver_events_rejected_total", reason="invalid_json") == 2
    assert sample(metrics, "leaderboard_archiver_insert_duration_seconds_count") == 0


def test_an_outage_delays_the_batch_without_losing_or_doubling_it(metrics, shutdown) -> None:
    store = MemoryStore(outages=3)
    handle = handler_for(store, metrics, shutdown)
    with capture_logs() as logs:
        handle(messages([event().to_json(), b"bad"]))  # type: ignore[arg-type]
    retried = [line for line in logs if line["event"] == "PostgreSQL unavailable; retrying"]
    assert len(retried) == 3
    # Each retry log names the batch's Kafka coordinates.
    assert {(line["topic"], line["partition"], line["offset"]) for line in retried} == {
        (TOPIC, 1, 0)
    }
    assert store.inserts == [1]  # the poison message is not a row
    assert sample(metrics, "leaderboard_archiver_postgres_retries_total") == 3
    # The latency histogram only holds attempts that stored something.
    assert sample(metrics, "leaderboard_archiver_insert_duration_seconds_count") == 1
    assert sample(metrics, "leaderboard_archiver_events_archived_total") == 1
    assert sample(metrics, "leaderboard_archiver_events_rejected_total", reason="invalid_json") == 1


def test_an_abandoned_batch_counts_nothing(metrics, shutdown) -> None:
    store = MemoryStore(outages=1_000)
    handle = handler_for(store, metrics, shutdown)
    shutdown.request("test")
    with pytest.raises(DatabaseUnavailableError):
        handle(messages([event().to_json(), b"bad"]))  # type: ignore[arg-type]
    # Consumed again later: counting now would count these twice.
    assert sample(metrics, "leaderboard_archiver_events_archived_total") == 0
    assert sample(metrics, "leaderboard_archiver_events_rejected_total", reason="invalid_json") == 0
