"""The batch consumption loop every Kafka worker runs.

``BatchConsumer`` polls a batch, hands the valid messages to the service's handler,
and only when the handler has returned (its work is durable: written to Redis or
committed in PostgreSQL) stores the next offset of every partition in the batch.
librdkafka's auto-commit then commits those stored offsets; the loop also commits
synchronously when partitions are revoked and when it stops, so a graceful shutdown or
a rebalance loses nothing and redelivers as little as possible. A handler that raises
leaves its batch's offsets unstored: the batch will be consumed again. A handler that
must not advance some partitions (the ranker, after rewinding one) returns the offsets
to store itself instead of ``None``.

Services add their own partition hooks (the ranker seeks to offsets it keeps in Redis)
through ``on_assign``/``on_revoke``.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as LibrdkafkaError

from leaderboard.core.errors import KafkaError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health

#: Makes a batch durable; returns None to store every partition's next offset, or the
#: exact offsets to store.
BatchHandler = Callable[[list[Message]], Iterable[TopicPartition] | None]
PartitionHook = Callable[[Consumer, list[TopicPartition]], None]

log = get_logger(__name__)


def next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message: what to store once durable."""
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        key = (message.topic(), message.partition())
        offset = message.offset()
        if offset > highest.get(key, -1):
            highest[key] = offset
    return [
        TopicPartition(topic, partition, offset + 1)
        for (topic, partition), offset in highest.items()
    ]


class BatchConsumer:
    """Consume ``topics`` in batches until ``shutdown`` is requested."""

    def __init__(
        self,
        consumer: Consumer,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        shutdown: Shutdown,
        metrics: Metrics,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        on_assign: PartitionHook | None = None,
        on_revoke: PartitionHook | None = None,
        health: Health | None = None,
        lag_interval: float = 5.0,
    ) -> None:
        self._consumer = consumer
        self._topics = list(topics)
        self._handler = handler
        self._shutdown = shutdown
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._on_assign_hook = on_assign
        self._on_revoke_hook = on_revoke
        self._health = health
        self._lag_interval = lag_interval
        self._next_lag_report = 0.0
        self._kafka_down = False
        self._assigned: set[tuple[str, int]] = set()

    def run(self) -> None:
        """Run until shutdown; commit what is durable and close the consumer."""
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("consuming", topics=self._topics, batch_size=self._batch_size)
        try:
            while not self._shutdown.requested:
                batch = self._next_batch()
                if batch:
                    self._process(batch)
                if self._health is not None:
                    self._health.heartbeat()
                if time.monotonic() >= self._next_lag_report:
                    self._report_lag()
            self._commit("shutdown")
        finally:
            self._consumer.close()
            log.info("consumer closed")

    def _next_batch(self) -> list[Message]:
        """Wait up to the poll timeout for one message, then take what is already fetched.

        ``consume(n, timeout)`` alone would wait until it has ``n`` messages or the
        timeout expires: under light load every batch would sit out the whole timeout
        (half a second of staleness for the publisher's few notices a second).
        """
        first = self._consumer.poll(self._poll_timeout)
        if first is None:
            return []
        if self._batch_size == 1:
            return [first]
        return [first, *self._consumer.consume(self._batch_size - 1, 0)]

    def _process(self, batch: list[Message]) -> None:
        messages = []
        for message in batch:
            error = message.error()
            if error is None:
                messages.append(message)
            else:
                self._on_error(message, error)
        if not messages:
            return
        started = time.perf_counter()
        try:
            chosen = self._handler(messages)
        except Exception:
            first, last = messages[0], messages[-1]
            log.exception(
                "batch handler failed; its offsets stay unstored and it will be redelivered",
                topic=first.topic(),
                partition=first.partition(),
                offset=first.offset(),
                last_topic=last.topic(),
                last_partition=last.partition(),
                last_offset=last.offset(),
                batch_size=len(messages),
            )
            raise
        offsets = next_offsets(messages) if chosen is None else list(chosen)
        # Rebalance callbacks run inside consume(), so a partition of this batch may have
        # been revoked since; its new owner re-reads it, and storing it here would fail.
        owned = [tp for tp in offsets if (tp.topic, tp.partition) in self._assigned]
        if owned:
            self._consumer.store_offsets(offsets=owned)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        self._metrics.batch_size.observe(len(messages))
        self._metrics.consumed_batches.inc()
        for topic, count in Counter(message.topic() for message in messages).items():
            self._metrics.consumed_messages.labels(topic).inc(count)

    def _report_lag(self) -> None:
        """Set the lag gauge of every assigned partition (high watermark minus position).

        The high watermarks are the ones librdkafka caches from every fetch response: a
        broker request per partition would queue behind the consumer's own long-poll
        fetch on the same connection and stall the loop for up to half a second each.
        """
        self._next_lag_report = time.monotonic() + self._lag_interval
        partitions = [TopicPartition(topic, partition) for topic, partition in self._assigned]
        try:
            for tp in self._consumer.position(partitions) if partitions else []:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue  # nothing fetched for this partition yet
                lag = high - tp.offset if tp.offset >= 0 else high
                self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(lag, 0))
        except KafkaException as exc:
            # Lag is informational; a hiccup must not stop consumption.
            log.warning("could not read consumer lag", error=str(exc))
        if self._kafka_down:
            self._probe_kafka()

    def _probe_kafka(self) -> None:
        """While Kafka is reported down, ask it for metadata to notice it is back."""
        try:
            self._consumer.list_topics(self._topics[0], timeout=2.0)
        except KafkaException:
            return
        self._kafka_down = False
        if self._health is not None:
            self._health.set_check("kafka", True)
        log.info("Kafka reachable again")

    def _on_error(self, message: Message, error: LibrdkafkaError) -> None:
        self._metrics.consumer_errors.labels(error.name()).inc()
        context = {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "error": error.str(),
        }
        if error.fatal():
            log.error("fatal consumer error", **context)
            raise KafkaError(
                f"fatal consumer error: {error.str()}",
                topic=message.topic(),
                partition=message.partition(),
                offset=message.offset(),
            )
        # Transient (broker down, end of partition when enabled): librdkafka retries.
        log.warning("consumer error", **context)
        if error.code() == LibrdkafkaError._ALL_BROKERS_DOWN:
            self._kafka_down = True
            if self._health is not None:
                self._health.set_check("kafka", False, error.str())

    def _commit(self, reason: str) -> None:
        try:
            committed = self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() == LibrdkafkaError._NO_OFFSET:
                return  # nothing stored since the last commit
            log.error("offset commit failed", reason=reason, error=str(exc))
            return
        for tp in committed or []:
            log.debug(
                "offset committed",
                reason=reason,
                topic=tp.topic,
                partition=tp.partition,
                offset=tp.offset,
            )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assign").inc()
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        self._metrics.assigned_partitions.set(len(self._assigned))
        log.info("partitions assigned", partitions=_describe(partitions))
        if self._on_assign_hook is not None:
            self._on_assign_hook(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoke").inc()
        if self._on_revoke_hook is not None:
            self._on_revoke_hook(consumer, partitions)
        # Commit before the partitions move, so the next owner starts where we stopped.
        self._commit("revoke")
        self._forget(partitions)
        log.info("partitions revoked", partitions=_describe(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost (session expired): another member may own them already; committing now
        # could overwrite its progress, so just forget them.
        self._metrics.rebalances.labels("lost").inc()
        if self._on_revoke_hook is not None:
            self._on_revoke_hook(consumer, partitions)
        self._forget(partitions)
        log.warning("partitions lost", partitions=_describe(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self._assigned.difference_update((tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            with contextlib.suppress(KeyError):  # KeyError: lag never reported yet
                self._metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self._metrics.assigned_partitions.set(len(self._assigned))


def _describe(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
