"""The closer's Kafka half: how far the score topic goes (the fence a close waits for),
and the period-closed messages, produced in transactions and found again after a crash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from leaderboard.closer.settings import CloserSettings
from leaderboard.core.clients import RedisClient
from leaderboard.core.errors import KafkaError
from leaderboard.core.events import PeriodClosed
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.topic_reader import private_group_id

#: Bound on one metadata, watermark or transaction request.
REQUEST_TIMEOUT_SECONDS = 10.0
#: Bound on reading the period-closed topic back after a crash.
SCAN_TIMEOUT_SECONDS = 60.0


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=REQUEST_TIMEOUT_SECONDS).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise KafkaError(f"topic {topic!r} is not available", topic=topic)
    return sorted(metadata.partitions)


def _ends(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (low, high) watermarks."""
    return {
        partition: consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=REQUEST_TIMEOUT_SECONDS
        )
        for partition in _partitions(consumer, topic)
    }


class RankerProgress:
    """Whether the rankers applied every score event up to a point of the score topic, by
    the offsets they store in Redis with each applied batch."""

    def __init__(self, settings: CloserSettings, redis: RedisClient, consumer: Consumer) -> None:
        self._redis = redis
        self._consumer = consumer
        self._topic = settings.topic_game_score
        self._offsets_key = RedisKeys(settings.redis_key_prefix).offsets(
            settings.closer_ranker_group_id, settings.topic_game_score
        )

    def ends(self) -> dict[int, int]:
        """The score topic's end offset of each partition that holds records now."""
        return {
            p: high for p, (low, high) in _ends(self._consumer, self._topic).items() if high > low
        }

    def behind(self, targets: dict[int, int]) -> int:
        """How many records the rankers still have to apply to reach ``targets``."""
        if not targets:
            return 0
        partitions = sorted(targets)
        stored = self._redis.hmget(self._offsets_key, [str(p) for p in partitions])
        return sum(
            max(0, targets[p] - (0 if next_ is None else int(next_)))
            for p, next_ in zip(partitions, stored, strict=True)
        )


class Announcer:
    """Produces period-closed messages in Kafka transactions under the closer's fixed
    transactional id: starting one fences off any older producer of that id (a closer
    that lost its lock) and aborts what it left open, so a scan of the committed messages
    shows exactly what was announced."""

    def __init__(self, settings: CloserSettings) -> None:
        self._topic = settings.topic_period_closed
        self._producer_config = producer_config(
            settings, **{"transactional.id": settings.transactional_id}
        )
        self._producer: Producer | None = None
        self._consumer = Consumer(
            consumer_config(
                settings,
                private_group_id(settings.service_name, "scan"),
                **{"enable.auto.commit": False},
            )
        )

    def ensure_started(self) -> None:
        """Start the producer unless it is: a new one fences off every older producer of
        the id (another closer's too) and aborts what they left open."""
        if self._producer is None:
            self.start()

    def start(self) -> None:
        """A new transactional producer (the fence), replacing this one's."""
        self._drop_producer()
        producer = Producer(self._producer_config)
        try:
            producer.init_transactions(REQUEST_TIMEOUT_SECONDS)
        except KafkaException as exc:
            raise KafkaError(f"cannot start the closer's transactions: {exc}") from exc
        self._producer = producer

    def ends(self) -> dict[int, int]:
        """The period-closed topic's end offset of each partition."""
        return {p: high for p, (_, high) in _ends(self._consumer, self._topic).items()}

    def find(
        self,
        start: dict[int, int],
        keys: Iterable[bytes],
        heartbeat: Callable[[], None] = lambda: None,
    ) -> dict[bytes, tuple[int, int]]:
        """Where the committed messages with ``keys`` are, reading from ``start`` (from
        the beginning of a partition it lacks: one added since) to the topic's current
        end: key -> (partition, offset)."""
        wanted = set(keys)
        ends = self.ends()
        todo = {p: start.get(p, 0) for p in ends if start.get(p, 0) < ends[p]}
        found: dict[bytes, tuple[int, int]] = {}
        if not todo or not wanted:
            return found
        self._consumer.assign([TopicPartition(self._topic, p, o) for p, o in todo.items()])
        deadline = time.monotonic() + SCAN_TIMEOUT_SECONDS
        try:
            while todo:
                heartbeat()
                if time.monotonic() > deadline:
                    raise KafkaError(f"reading {self._topic} back timed out", topic=self._topic)
                for message in self._consumer.consume(500, 1.0):
                    error = message.error()
                    if error is not None:
                        raise KafkaError(f"reading {self._topic} back: {error}", topic=self._topic)
                    key, partition, offset = message.key(), message.partition(), message.offset()
                    if key in wanted and partition is not None and offset is not None:
                        found[key] = (partition, offset)
                # Read-committed reads skip transaction markers; the positions tell the end.
                for position in self._consumer.position(
                    [TopicPartition(self._topic, p) for p in todo]
                ):
                    if position.offset >= ends[position.partition]:
                        todo.pop(position.partition, None)
        finally:
            self._consumer.unassign()
        return found

    def announce(self, message: PeriodClosed) -> tuple[int, int]:
        """Produce ``message`` in a transaction of its own; (partition, offset) once it is
        committed."""
        self.ensure_started()
        producer = self._producer
        assert producer is not None
        where: dict[str, Any] = {}

        def delivered(error: Any, record: Any) -> None:
            if error is None:
                where["at"] = (record.partition(), record.offset())
            else:
                where["error"] = error

        try:
            producer.begin_transaction()
            producer.produce(
                self._topic, key=message.key, value=message.to_json(), on_delivery=delivered
            )
            producer.commit_transaction(REQUEST_TIMEOUT_SECONDS)
        except KafkaException as exc:
            self._abort(producer, exc)
            raise KafkaError(f"cannot announce a closed period: {exc}", topic=self._topic) from exc
        producer.poll(0)
        if "at" not in where:
            raise KafkaError(
                f"the period-closed message was not acknowledged: {where.get('error')}",
                topic=self._topic,
            )
        at: tuple[int, int] = where["at"]
        return at

    def _abort(self, producer: Producer, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args else None
        try:
            if error is not None and error.txn_requires_abort():
                producer.abort_transaction(REQUEST_TIMEOUT_SECONDS)
        except KafkaException:
            pass
        # Whatever failed, the next attempt starts over with a new producer and fence: a
        # fenced or fatally failed producer cannot be used again.
        self._drop_producer()

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(0)

    def close(self) -> None:
        self._drop_producer()
        self._consumer.close()
