"""ScoreProducer: delivery reports from the poll thread resolve the request's awaitable.

A small fake stands in for confluent-kafka's Producer: it queues what is produced and
delivers it from ``poll()`` (which the wrapper's own thread calls), with the outcome the
test scripted. The real broker path is covered by the integration tests.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from confluent_kafka import KafkaError as LibrdkafkaError

from leaderboard.core.errors import KafkaError
from leaderboard.ingest.producer import RepeatFilter, ScoreProducer, librdkafka_logger
from leaderboard.ingest.settings import IngestSettings
from tests.support.kafka_fakes import FakeProducer
from tests.support.scores import make_event

TOPIC = "game-score"


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
    events = [make_event("p1", 5), make_event("p2", 5)]

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
            await producer.send([make_event("p1", 5)])
        assert caught.value.log_context()["topic"] == TOPIC
        assert caught.value.log_context()["partition"] == 0

    run(settings, fake, steps)


def test_no_acknowledgement_within_the_deadline_raises(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.hold = True
        with pytest.raises(KafkaError, match=r"did not acknowledge 2 of 2 events within 0\.5 s"):
            await producer.send([make_event("p1", 5), make_event("p1", 5)])

    run(settings, fake, steps)


def test_all_brokers_down_fails_fast_without_producing(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        kafka.reachable = False
        kafka.report(LibrdkafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
        with pytest.raises(KafkaError, match="Kafka is unreachable: cannot reach Kafka"):
            await producer.send([make_event("p1", 5)])
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
        await producer.send([make_event("p1", 5)])  # the check finds Kafka back, so it produces
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
            await producer.send([make_event("p1", 5)])

    run(settings, fake, steps)


def test_after_close_nothing_more_is_sent(
    settings: IngestSettings, fake: list[FakeProducer]
) -> None:
    async def steps(producer: ScoreProducer, kafka: FakeProducer) -> None:
        await producer.close(1.0)
        with pytest.raises(KafkaError, match="shutting down"):
            await producer.send([make_event("p1", 5)])

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
            await producer.send([make_event("p1", 5)])

    run(settings, fake, steps)
