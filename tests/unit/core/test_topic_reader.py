"""The hand-assigned topic reader on a fake consumer: where partitions start, batches,
and the liveness fault when the consumer cannot be made or the handling breaks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from leaderboard.core.clients import KafkaMessage
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.logging import get_logger
from leaderboard.core.topic_reader import TopicReader, private_group_id
from tests.support.kafka_fakes import FakeAssignedConsumer
from tests.support.services import wait_for

TOPIC = "reader-test"


class Recorder(TopicReader):
    """Starts one record before each partition's end and keeps every batch's values."""

    def __init__(self, consumer: FakeAssignedConsumer | None) -> None:
        self.consumer = consumer
        self.batches: list[list[bytes | None]] = []
        self.watermarks: dict[int, tuple[int, int]] = {}
        super().__init__(
            LeaderboardSettings(),
            TOPIC,
            private_group_id("test", "reader"),
            {"auto.offset.reset": "latest"},
            name="recorder",
            consumer_name="recorder consumer",
            failure="the recorder failed",
            log=get_logger(__name__),
            consumer_factory=self.factory,
        )

    def factory(self, config: dict[str, Any]) -> FakeAssignedConsumer:
        if self.consumer is None:
            raise RuntimeError("no consumer today")
        self.consumer.config = config
        return self.consumer

    def _start_offset(self, low: int, high: int) -> int:
        return max(low, high - 1)

    def _on_assigned(self, watermarks: dict[int, tuple[int, int]]) -> None:
        self.watermarks = watermarks

    def _ready(self) -> tuple[bool, str]:
        return True, "recording"

    def _handle(self, messages: list[KafkaMessage]) -> None:
        self.batches.append([message.value() for message in messages])


@pytest.fixture
def consumer() -> FakeAssignedConsumer:
    return FakeAssignedConsumer({}, TOPIC, high=10)


@pytest.fixture
def reader(consumer: FakeAssignedConsumer) -> Iterator[Recorder]:
    reader = Recorder(consumer)
    yield reader
    reader.stop(5)


def test_partitions_start_where_the_reader_says_and_nothing_is_committed(
    reader: Recorder, consumer: FakeAssignedConsumer
) -> None:
    assert reader.status() == (False, "not started")
    reader.start()
    wait_for(lambda: consumer.assigned, 5, "the assignment")
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.assigned or []] == [
        (TOPIC, 0, 9)
    ]
    assert reader.watermarks == {0: (0, 10)}
    assert reader.status() == (True, "recording")
    assert consumer.config["enable.auto.commit"] is False
    assert consumer.config["auto.offset.reset"] == "latest"
    assert consumer.config["group.id"].startswith("test-reader-")


def test_what_is_already_fetched_comes_in_one_batch(
    reader: Recorder, consumer: FakeAssignedConsumer
) -> None:
    for value in (b"a", b"b", b"c"):
        consumer.push(value)
    reader.start()
    wait_for(lambda: reader.batches, 5, "a batch")
    assert reader.batches == [[b"a", b"b", b"c"]]


def test_a_consumer_that_cannot_be_made_fails_liveness_and_readiness() -> None:
    reader = Recorder(None)
    assert reader.alive
    with capture_logs() as logs:
        reader.start()
        assert reader.stop(5)
    assert not reader.alive
    assert reader.fault() == "the recorder failed: no consumer today"
    assert reader.status() == (False, "the recorder failed: no consumer today")
    assert [line["event"] for line in logs] == ["cannot create the recorder consumer"]


def test_a_bug_in_the_handling_fails_liveness_and_closes_the_consumer(
    reader: Recorder, consumer: FakeAssignedConsumer
) -> None:
    def handle(messages: list[KafkaMessage]) -> None:
        raise ValueError("a bug")

    reader._handle = handle  # type: ignore[method-assign]
    consumer.push(b"a")
    reader.start()
    wait_for(lambda: not reader.alive, 5, "liveness to fail")
    assert reader.stop(5)
    assert consumer.closed
    assert "a bug" in (reader.fault() or "")


def test_a_requested_stop_is_no_fault(reader: Recorder, consumer: FakeAssignedConsumer) -> None:
    reader.start()
    wait_for(lambda: consumer.assigned, 5, "the assignment")
    assert reader.stop(5)
    assert consumer.closed
    assert reader.alive
    assert reader.fault() is None
