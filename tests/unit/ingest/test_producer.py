"""ScoreProducer: delivery reports from the poll thread resolve the request's awaitable.

A small fake stands in for confluent-kafka's Producer: it queues what is produced and
delivers it from ``poll()`` (which the wrapper's own thread calls), with the outcome the
test scripted. The real broker path is covered by the integration tests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka import KafkaException

from leaderboard.core.errors import KafkaError
from leaderboard.core.events import ScoreEvent
from leaderboard.ingest.producer import RepeatFilter, ScoreProducer, librdkafka_logger
from leaderboard.ingest.settings import IngestSettings

TOPIC = "game-score"


@dataclass
class FakeMessage:
    topic_name: str
    key_bytes: bytes
    value_bytes: bytes
    partition_id: int = 0
    offset_value: int = 0

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return self.partition_id

    def offset(self) -> int:
        return self.offset_value


@dataclass
class FakeTopic:
    partitions: dict[int, object] = field(default_factory=lambda: {0: None, 1: None})
    error: LibrdkafkaError | None = None


@dataclass
class FakeMetadata:
    topics: dict[str, FakeTopic]
    brokers: dict[int, object] = field(default_factory=lambda: {1: None})


class FakeProducer:
    """Delivers produced messages on poll(): acknowledged, failed, or never (``hold``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.produced: list[FakeMessage] = []
        self.failure: LibrdkafkaError | None = None
        self.hold = False
        self.reachable = True
        self.flushed: float | None = None
        self.closed = False
        self._queue: list[tuple[FakeMessage, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any) -> None:
        message = FakeMessage(topic, key, value, offset_value=len(self.produced))
        with self._lock:
            self.produced.append(message)
            self._queue.append((message, on_delivery))
        self._wake.set()

    def poll(self, timeout: float) -> int:
        self._wake.wait(timeout)
        self._wake.clear()
        with self._lock:
            if self.hold:
                return 0
            due, self._queue = self._queue, []
        for message, callback in due:
            callback(self.failure, message)
        return len(due)

    def flush(self, timeout: float) -> int:
        self.flushed = timeout
        with self._lock:
            return 0 if not self.hold else len(self._queue)

    def list_topics(self, timeout: float) -> FakeMetadata:
        if not self.reachable:
            raise KafkaException(LibrdkafkaError(LibrdkafkaError._TRANSPORT, "Connection refused"))
        return FakeMetadata({TOPIC: FakeTopic()})

    def close(self) -> None:
        self.closed = True

    def report(self, code: int, reason: str, *, fatal: bool = False) -> None:
        """What librdkafka's error callback would say."""
        self.config["error_cb"](LibrdkafkaError(code, reason, fatal=fatal))


def make_event(player: str = "p1") -> ScoreEvent:
    return ScoreEvent(
        event_id=uuid.uuid4(),
        player_id=player,
        score=5,
        occurred_at=datetime.now(UTC),
        version=1,
    )


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings(
        ingest_api_keys="game:game-key-0123456789abcdef",
        ingest_request_timeout_seconds=0.5,
    )


@pytest.fixture
def fake() -> list[FakeProducer]:
    return []


def run(settings: IngestSettings, made: list[FakeProducer], steps: Any) -> Any:
    """Start a ScoreProducer on a fake, run ``steps(producer, fake)``, close it."""

    def factory(config: dict[str, Any]) -> FakeProducer:
        made.append(FakeProducer(config))
        return made[-1]

    async def scenario() -> Any:
        producer = ScoreProducer(settings, producer_factory=factory, check_cache_seconds=60)
        producer.start()
        try:
            return await steps(producer, made[-1])
        finally:
            await producer.close(1.0)

    return asyncio.run(scenario())


def test_the_config_is_acks_all_with_the_request_deadline_as_delivery_timeout(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        assert kafka.config["acks"] == "all"
        assert kafka.config["enable.idempotence"] is True
        assert kafka.config["delivery.timeout.ms"] == 500
        assert callable(kafka.config["error_cb"])

    run(settings, fake, steps)
    assert fake[0].flushed == 1.0
    assert fake[0].closed


def test_send_returns_once_every_event_is_acknowledged(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    events = [make_event("p1"), make_event("p2")]

    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        await producer.send(events)
        assert [(m.topic(), m.key_bytes, m.value_bytes) for m in kafka.produced] == [
            (TOPIC, event.key, event.to_json()) for event in events
        ]

    run(settings, fake, steps)


def test_a_failed_delivery_raises_with_the_record_coordinates(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.failure = LibrdkafkaError(LibrdkafkaError._MSG_TIMED_OUT, "Message timed out")
        with pytest.raises(KafkaError, match="delivery failed: Message timed out") as caught:
            await producer.send([make_event()])
        assert caught.value.log_context()["topic"] == TOPIC
        assert caught.value.log_context()["partition"] == 0

    run(settings, fake, steps)


def test_no_acknowledgement_within_the_deadline_raises(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.hold = True
        with pytest.raises(KafkaError, match=r"did not acknowledge 2 of 2 events within 0\.5 s"):
            await producer.send([make_event(), make_event()])

    run(settings, fake, steps)


def test_all_brokers_down_fails_fast_without_producing(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.reachable = False
        kafka.report(LibrdkafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
        with pytest.raises(KafkaError, match="Kafka is unreachable: cannot reach Kafka"):
            await producer.send([make_event()])
        assert kafka.produced == []
        assert await producer.check() == (
            False,
            "cannot reach Kafka at 127.0.0.1:9092: Connection refused",
        )

    run(settings, fake, steps)


def test_a_successful_check_clears_the_brokers_down_mark(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.report(LibrdkafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
        await producer.send([make_event()])  # the check finds Kafka back, so it produces
        assert len(kafka.produced) == 1
        ok, detail = await producer.check()
        assert ok
        assert detail == "1 broker(s); topic 'game-score' has 2 partition(s)"

    run(settings, fake, steps)


def test_a_fatal_error_breaks_the_producer(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.report(LibrdkafkaError._FATAL, "producer fenced", fatal=True)
        assert producer.broken == "producer fenced"
        with pytest.raises(KafkaError, match="the Kafka producer failed: producer fenced"):
            await producer.send([make_event()])

    run(settings, fake, steps)


def test_after_close_nothing_more_is_sent(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        await producer.close(1.0)
        with pytest.raises(KafkaError, match="shutting down"):
            await producer.send([make_event()])

    run(settings, fake, steps)


def test_repeated_librdkafka_lines_pass_once_per_interval() -> None:
    repeat = RepeatFilter(interval=3600)

    def line(text: str) -> logging.LogRecord:
        return logging.LogRecord("librdkafka", logging.ERROR, __file__, 1, text, None, None)

    assert repeat.filter(line("Connect to 127.0.0.1:9092 failed (after 0ms)"))
    assert not repeat.filter(line("Connect to 127.0.0.1:9092 failed (after 12ms)"))
    assert repeat.filter(line("Broker 1 is up"))
    assert librdkafka_logger() is librdkafka_logger()
    assert sum(isinstance(f, RepeatFilter) for f in librdkafka_logger().filters) == 1


def test_a_full_local_queue_is_a_kafka_error(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        def full(*args: object, **kwargs: object) -> None:
            raise BufferError("Local: Queue full")

        kafka.produce = full  # type: ignore[method-assign]
        with pytest.raises(KafkaError, match="cannot queue the event for Kafka: Local: Queue full"):
            await producer.send([make_event()])

    run(settings, fake, steps)
