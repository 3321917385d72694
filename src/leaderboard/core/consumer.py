"""The batch consumption loop every Kafka worker runs: ``BatchConsumer``.

Offsets are stored only once a batch's work is durable (docs/architecture.md, "Consumer loop").
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import cast

from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka import KafkaException, TopicPartition

from leaderboard.core.clients import ConsumedRecord, KafkaConsumer, KafkaMessage, RebalanceHook
from leaderboard.core.errors import KafkaError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health

#: Makes a batch durable; returns None to store every partition's next offset, or the
#: exact offsets to store.
BatchHandler = Callable[[list[ConsumedRecord]], Iterable[TopicPartition] | None]
#: Waits until a started batch is durable; returns what a ``BatchHandler`` returns.
Completion = Callable[[], Iterable[TopicPartition] | None]
#: Starts making a batch durable without waiting for it.
BatchStarter = Callable[[list[ConsumedRecord]], Completion]
PartitionHook = RebalanceHook

log = get_logger(__name__)


def next_offsets(messages: Sequence[ConsumedRecord]) -> list[TopicPartition]:
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


@dataclass
class _InFlight:
    """A started batch whose completion has not been awaited yet."""

    messages: list[ConsumedRecord]
    completion: Completion
    started: float


class BatchConsumer:
    """Consume ``topics`` in batches until ``shutdown`` is requested.

    Give either ``handler`` (each batch is made durable before the next is fetched) or
    ``starter`` (batch N+1 is fetched and started before batch N is completed; up to
    ``in_flight`` started batches stay uncompleted between polls). ``tick`` runs on the
    loop's thread after every poll, so at least every ``poll_timeout`` (periodic work that
    must not wait for a message).
    """

    def __init__(
        self,
        consumer: KafkaConsumer,
        topics: Sequence[str],
        handler: BatchHandler | None = None,
        *,
        starter: BatchStarter | None = None,
        shutdown: Shutdown,
        metrics: Metrics,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        on_assign: PartitionHook | None = None,
        on_revoke: PartitionHook | None = None,
        health: Health | None = None,
        lag_interval: float = 5.0,
        in_flight: int = 1,
        tick: Callable[[], None] | None = None,
    ) -> None:
        if (handler is None) == (starter is None):
            raise TypeError("BatchConsumer needs exactly one of handler and starter")
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {in_flight}")
        self._consumer = consumer
        self._topics = list(topics)
        if starter is not None:
            self._start: BatchStarter = starter
        else:
            assert handler is not None  # exactly one of the two, checked above
            self._start = _starter_of(handler)
        # A handler's batch is complete when started: nothing may stay in flight.
        self._max_in_flight = in_flight if starter is not None else 0
        self._in_flight: deque[_InFlight] = deque()
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
        self._tick = tick

    def run(self) -> None:
        """Run until shutdown; commit what is durable and close the consumer."""
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("consuming", topics=self._topics, batch_size=self._batch_size)
        if self._health is not None:
            self._health.started()
        try:
            while not self._shutdown.requested:
                # With a batch in flight, only take what is already fetched: waiting for
                # more would hold back the one in flight.
                batch = self._next_batch(0 if self._in_flight else self._poll_timeout)
                started = self._begin(batch) if batch else None
                if started is not None:
                    self._in_flight.append(started)
                # With nothing more fetched, waiting would only hold back what is done.
                limit = self._max_in_flight if batch else 0
                while len(self._in_flight) > limit:
                    self._complete_oldest()
                if self._tick is not None:
                    self._tick()
                if self._health is not None:
                    self._health.heartbeat()
                if time.monotonic() >= self._next_lag_report:
                    self._report_lag()
            self._complete_in_flight()
            self._commit("shutdown")
        finally:
            self._consumer.close()
            log.info("consumer closed")

    def _next_batch(self, timeout: float) -> list[KafkaMessage]:
        """Wait up to ``timeout`` for one message, then take what is already fetched.

        ``consume(n, timeout)`` alone would wait until it has ``n`` messages or the
        timeout expires: under light load every batch would sit out the whole timeout
        (half a second of staleness for the publisher's few notices a second).
        """
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        if self._batch_size == 1:
            return [first]
        return [first, *self._consumer.consume(self._batch_size - 1, 0)]

    def _begin(self, batch: list[KafkaMessage]) -> _InFlight | None:
        """Count error events, and start the batch's valid messages."""
        messages: list[KafkaMessage] = []
        for message in batch:
            error = message.error()
            if error is None:
                messages.append(message)
            else:
                self._on_error(message, error)
        if not messages:
            return None
        # Without an error, a message is a record: it has its topic, partition and offset.
        records = cast("list[ConsumedRecord]", messages)
        started = time.perf_counter()
        with self._failure_logged(records):
            completion = self._start(records)
        return _InFlight(records, completion, started)

    def _complete_in_flight(self, skip: Iterable[tuple[str, int]] = ()) -> None:
        """Complete every batch in flight, in order, storing their offsets (except ``skip``)."""
        excluded = set(skip)
        while self._in_flight:
            self._complete_oldest(excluded)

    def _complete_oldest(self, excluded: AbstractSet[tuple[str, int]] = frozenset()) -> None:
        """Wait for the oldest batch in flight and store its offsets (except ``excluded``).

        If it fails, the batches started after it are abandoned with it: their offsets
        must never be stored (the close's revoke would otherwise complete and commit
        them), or the failed batch's partitions would be committed past it.
        """
        in_flight = self._in_flight.popleft()
        messages = in_flight.messages
        try:
            with self._failure_logged(messages):
                chosen = in_flight.completion()
        except BaseException:
            if self._in_flight:
                log.warning(
                    "abandoning the batches started after the failed one; they will be redelivered",
                    batches=len(self._in_flight),
                    topic=messages[0].topic(),
                    partition=messages[0].partition(),
                    offset=messages[0].offset(),
                )
                self._in_flight.clear()
            raise
        offsets = next_offsets(messages) if chosen is None else list(chosen)
        # Rebalance callbacks run inside consume(), so a partition of this batch may have
        # been revoked since; its new owner re-reads it, and storing it here would fail.
        owned = [
            tp
            for tp in offsets
            if (tp.topic, tp.partition) in self._assigned
            and (tp.topic, tp.partition) not in excluded
        ]
        if owned:
            self._consumer.store_offsets(offsets=owned)
        started = in_flight.started
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        self._metrics.batch_size.observe(len(messages))
        self._metrics.consumed_batches.inc()
        for topic, count in Counter(message.topic() for message in messages).items():
            self._metrics.consumed_messages.labels(topic).inc(count)

    @contextlib.contextmanager
    def _failure_logged(self, messages: list[ConsumedRecord]) -> Iterator[None]:
        try:
            yield
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

    def _on_error(self, message: KafkaMessage, error: LibrdkafkaError) -> None:
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

    def _on_assign(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assign").inc()
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        self._metrics.assigned_partitions.set(len(self._assigned))
        log.info("partitions assigned", partitions=_describe(partitions))
        if self._on_assign_hook is not None:
            self._on_assign_hook(consumer, partitions)

    def _on_revoke(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoke").inc()
        # The batch in flight may hold these partitions: finish it so its offsets are
        # part of the commit below.
        self._complete_in_flight()
        if self._on_revoke_hook is not None:
            self._on_revoke_hook(consumer, partitions)
        # Commit before the partitions move, so the next owner starts where we stopped.
        self._commit("revoke")
        self._forget(partitions)
        log.info("partitions revoked", partitions=_describe(partitions))

    def _on_lost(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        # Lost (session expired): another member may own them already; committing now
        # could overwrite its progress, so just forget them.
        self._metrics.rebalances.labels("lost").inc()
        # Let the batch in flight finish its write, but store nothing of the lost ones.
        self._complete_in_flight(skip=[(tp.topic, tp.partition) for tp in partitions])
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


def _starter_of(handler: BatchHandler) -> BatchStarter:
    """A handler as a starter: the work is done by the time the completion is asked for."""

    def start(messages: list[ConsumedRecord]) -> Completion:
        result = handler(messages)
        return lambda: result

    return start


def _describe(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
