"""The Kafka side of ingest: produce events and await the broker's acknowledgement.

Fails fast rather than hanging when Kafka is away (docs/services.md, "Ingest API").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin._metadata import ClusterMetadata  # not re-exported by admin

from leaderboard.core.clients import KafkaMessage
from leaderboard.core.errors import KafkaError
from leaderboard.core.events import ScoreEvent
from leaderboard.core.kafka import producer_config
from leaderboard.core.logging import get_logger
from leaderboard.ingest.settings import IngestSettings

log = get_logger(__name__)

#: Granularity of the poll thread: how late at most a delivery result reaches the loop.
POLL_SECONDS = 0.05
#: librdkafka repeats a failed connection line on every reconnect attempt, many per second.
REPEAT_LOG_SECONDS = 30.0
LIBRDKAFKA_LOGGER = "leaderboard.ingest.librdkafka"
#: Bound on one Kafka reachability check (readiness).
KAFKA_CHECK_TIMEOUT_SECONDS = 1.0
#: How long a reachability result is reused by /readyz and by requests while the
#: brokers are reported down.
KAFKA_CHECK_CACHE_SECONDS = 3.0

#: Where a delivered event was written: its partition and offset.
Delivered = tuple[int | None, int | None]
#: One Kafka record: its key and its value (None: a tombstone on a compacted topic).
Record = tuple[bytes, bytes | None]


class RepeatFilter(logging.Filter):
    """Lets one line through per ``interval`` for messages that differ only in numbers."""

    def __init__(self, interval: float = REPEAT_LOG_SECONDS) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        shape = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(shape, float("-inf")) < self.interval:
                return False
            if len(self._last) > 1000:
                self._last.clear()
            self._last[shape] = now
        return True


def librdkafka_logger() -> logging.Logger:
    """The logger librdkafka's own lines go to (through the project's logging)."""
    logger = logging.getLogger(LIBRDKAFKA_LOGGER)
    if not any(isinstance(existing, RepeatFilter) for existing in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


class EventSink(Protocol):
    """Where accepted events go; ``send`` returns only once all are durable."""

    def start(self) -> None: ...

    async def send(self, events: Sequence[ScoreEvent]) -> None:
        """Store every event or raise ``KafkaError`` (some may be stored anyway)."""
        ...

    async def check(self) -> tuple[bool, str]:
        """Whether Kafka is reachable right now, and a short explanation."""
        ...

    @property
    def broken(self) -> str | None:
        """Why the sink can never work again (a fatal producer error), or None."""
        ...

    async def close(self, timeout: float) -> None: ...


DeliveryCallback = Callable[[LibrdkafkaError | None, KafkaMessage], None]


class DeliveringProducer(Protocol):
    """A producer whose delivery reports ``poll`` serves (confluent-kafka's ``Producer``)."""

    def produce(
        self, topic: str, *, key: bytes, value: bytes | None, on_delivery: DeliveryCallback
    ) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def list_topics(self, *, timeout: float) -> ClusterMetadata: ...


class ScoreProducer:
    """Produces score events to ``settings.topic_game_score`` (or records to ``topic``)
    and awaits their acks."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        topic: str | None = None,
        on_poll: Callable[[], None] = lambda: None,
        producer_factory: Callable[[dict[str, Any]], DeliveringProducer] = Producer,
        check_cache_seconds: float = KAFKA_CHECK_CACHE_SECONDS,
    ) -> None:
        self.topic = topic or settings.topic_game_score
        self.timeout = settings.ingest_request_timeout_seconds
        self._bootstrap = settings.kafka_bootstrap_servers
        self._check_timeout = min(KAFKA_CHECK_TIMEOUT_SECONDS, self.timeout)
        self._check_cache = check_cache_seconds
        self._on_poll = on_poll
        config = producer_config(
            settings,
            **{
                "delivery.timeout.ms": max(1, int(self.timeout * 1000)),
                "error_cb": self._on_error,
                # librdkafka's own log lines go through the project's logging, not stderr.
                "logger": librdkafka_logger(),
            },
        )
        self._producer = producer_factory(config)
        self._stop = threading.Event()
        # A daemon, so a forced exit (second signal) is not held up; whatever it still had
        # queued was never answered 202.
        self._thread = threading.Thread(
            target=self._poll_loop, name="ingest-kafka-poll", daemon=True
        )
        self._closing = False
        # Set from the poll thread, read on the loop: plain attribute writes are atomic.
        self._brokers_down: str | None = None
        self._fatal: str | None = None
        self._checked_at = float("-inf")
        self._check_result: tuple[bool, str] = (False, "not checked yet")
        self._check_lock: asyncio.Lock | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    async def close(self, timeout: float) -> None:
        """Deliver what is still queued (bounded by ``timeout``), then stop polling."""
        if self._closing:
            return
        self._closing = True
        try:
            remaining = await asyncio.to_thread(self._producer.flush, timeout)
            if remaining:
                log.error(
                    "events still undelivered at shutdown; their requests were answered "
                    "503, so callers resend them",
                    topic=self.topic,
                    count=remaining,
                    timeout_seconds=timeout,
                )
        finally:
            self._stop.set()
            if self._thread.is_alive():
                await asyncio.to_thread(self._thread.join, timeout)
            close = getattr(self._producer, "close", None)
            if close is not None:
                close()

    @property
    def broken(self) -> str | None:
        return self._fatal

    # -- producing -----------------------------------------------------------------------

    async def send(self, events: Sequence[ScoreEvent]) -> None:
        await self.send_records([(event.key, event.to_json()) for event in events])

    async def send_records(self, records: Sequence[Record], topic: str | None = None) -> None:
        """Store every record (to ``topic``, by default the producer's) or raise
        ``KafkaError``, within the request deadline."""
        deadline = time.monotonic() + self.timeout
        topic = topic or self.topic
        if self._closing:
            raise KafkaError("the service is shutting down", topic=topic)
        if self._fatal is not None:
            raise KafkaError(f"the Kafka producer failed: {self._fatal}", topic=topic)
        if self._brokers_down is not None:
            reachable, detail = await self.check()
            if not reachable:
                raise KafkaError(f"Kafka is unreachable: {detail}", topic=topic)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Delivered]] = []
        try:
            for key, value in records:
                future: asyncio.Future[Delivered] = loop.create_future()
                try:
                    self._producer.produce(
                        topic,
                        key=key,
                        value=value,
                        on_delivery=self._delivery_callback(loop, future),
                    )
                except (BufferError, KafkaException) as exc:
                    # BufferError: librdkafka's local queue is full (Kafka too slow or away).
                    raise KafkaError(
                        f"cannot queue the event for Kafka: {exc}", topic=topic
                    ) from exc
                futures.append(future)
            await self._await_acks(futures, deadline, topic)
        finally:
            for future in futures:
                future.cancel()  # no-op for settled ones; late callbacks find it done

    async def _await_acks(
        self, futures: list[asyncio.Future[Delivered]], deadline: float, topic: str
    ) -> None:
        if not futures:
            return
        done, pending = await asyncio.wait(
            futures,
            timeout=max(0.0, deadline - time.monotonic()),
            return_when=asyncio.FIRST_EXCEPTION,
        )
        # Retrieve every exception (an unretrieved one is logged by asyncio at GC).
        errors = [error for future in done if (error := future.exception()) is not None]
        if errors:
            raise errors[0]
        if pending:
            raise KafkaError(
                f"Kafka did not acknowledge {len(pending)} of {len(futures)} events within "
                f"{self.timeout:g} s",
                topic=topic,
            )

    def _delivery_callback(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Delivered]
    ) -> DeliveryCallback:
        def delivered(error: LibrdkafkaError | None, message: KafkaMessage) -> None:
            # Runs on the poll thread: only hand the result over to the loop.
            if error is None:
                self._brokers_down = None
                result: Delivered | KafkaError = (message.partition(), message.offset())
            else:
                result = KafkaError(
                    f"delivery failed: {error.str()}",
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                )
            # A closed loop (RuntimeError) means nobody awaits this result any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result)

        return delivered

    # -- broker state ----------------------------------------------------------------------

    async def check(self) -> tuple[bool, str]:
        """Reachability of Kafka and of the topic, probed at most every few seconds."""
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            if time.monotonic() - self._checked_at < self._check_cache:
                return self._check_result
            result = await asyncio.to_thread(self._probe)
            self._check_result = result
            self._checked_at = time.monotonic()
            if result[0]:
                self._brokers_down = None
            return result

    def _probe(self) -> tuple[bool, str]:
        if self._fatal is not None:
            return False, f"the Kafka producer failed: {self._fatal}"
        try:
            metadata = self._producer.list_topics(timeout=self._check_timeout)
        except KafkaException as exc:
            return False, f"cannot reach Kafka at {self._bootstrap}: {exc.args[0].str()}"
        topic = metadata.topics.get(self.topic)
        if topic is None:
            return False, f"topic {self.topic!r} does not exist"
        if topic.error is not None:
            return False, f"topic {self.topic!r}: {topic.error.str()}"
        return True, f"{len(metadata.brokers)} broker(s); topic {self.topic!r} has " + (
            f"{len(topic.partitions)} partition(s)"
        )

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the poll thread (librdkafka serves error callbacks from poll()).
        code = error.code()
        if error.fatal():
            self._fatal = error.str()
            log.error("fatal Kafka producer error", topic=self.topic, error=error.str())
        elif code == LibrdkafkaError._ALL_BROKERS_DOWN:
            if self._brokers_down is None:
                log.warning("all Kafka brokers are down", error=error.str())
            self._brokers_down = error.str()
            self._checked_at = float("-inf")  # the next check probes again
        elif code == LibrdkafkaError._TRANSPORT:
            # Repeats on every reconnect attempt; the "all brokers down" line says enough.
            log.debug("Kafka connection failed", error=error.str())
        else:
            log.warning("Kafka producer error", error=error.str(), code=error.name())

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(POLL_SECONDS)
            self._on_poll()


def _settle(future: asyncio.Future[Delivered], result: Delivered | KafkaError) -> None:
    if future.done():
        return
    if isinstance(result, KafkaError):
        future.set_exception(result)
    else:
        future.set_result(result)
