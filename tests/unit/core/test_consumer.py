"""The batch loop stores offsets only after the handler's work is durable."""

import pytest
from confluent_kafka import KafkaError, TopicPartition

from leaderboard.core.consumer import BatchConsumer, next_offsets
from leaderboard.core.errors import KafkaError as LeaderboardKafkaError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health
from tests.support.kafka_fakes import FakeConsumer, FakeMessage

TOPIC = "game-score"


def msg(partition: int, offset: int) -> FakeMessage:
    return FakeMessage(TOPIC, partition, offset)


def as_tuples(offsets: list[TopicPartition]) -> set[tuple[str, int, int]]:
    return {(tp.topic, tp.partition, tp.offset) for tp in offsets}


@pytest.fixture
def partitions() -> list[TopicPartition]:
    return [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]


def drained(
    shutdown: Shutdown, partitions: list[TopicPartition], *batches: list[FakeMessage]
) -> FakeConsumer:
    """A consumer serving ``batches``, then asking ``shutdown`` to stop the loop."""
    return FakeConsumer(
        batches=list(batches), partitions=partitions, on_empty=lambda: shutdown.request("done")
    )


def ignore(messages: list[FakeMessage]) -> None:
    """A handler whose work is trivially durable."""


def test_next_offsets_takes_the_highest_per_partition() -> None:
    offsets = next_offsets([msg(0, 5), msg(1, 9), msg(0, 7), msg(0, 6)])
    assert as_tuples(offsets) == {(TOPIC, 0, 8), (TOPIC, 1, 10)}


def test_offsets_are_stored_after_the_handler_and_committed_at_shutdown(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    seen: list[list[int]] = []
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)], [msg(0, 1)])

    def handler(messages):
        # Nothing of this batch may be stored before the handler returns.
        stored = as_tuples(consumer.stored)
        assert all((TOPIC, m.partition(), m.offset() + 1) not in stored for m in messages)
        seen.append([m.offset() for m in messages])

    metrics = Metrics("test")
    BatchConsumer(consumer, [TOPIC], handler, shutdown=shutdown, metrics=metrics).run()

    assert seen == [[0, 0], [1]]
    assert as_tuples(consumer.committed) >= {(TOPIC, 0, 2), (TOPIC, 1, 1)}
    assert consumer.closed
    assert metrics.registry.get_sample_value("leaderboard_consumer_batches_total") == 2
    assert (
        metrics.registry.get_sample_value("leaderboard_consumer_messages_total", {"topic": TOPIC})
        == 3
    )


def test_the_loop_marks_a_starting_worker_started(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    health = Health(starting=True)
    readiness: list[bool] = []
    consumer = drained(shutdown, partitions, [msg(0, 0)])
    BatchConsumer(
        consumer,
        [TOPIC],
        lambda messages: readiness.append(health.readiness()[0]),
        shutdown=shutdown,
        metrics=Metrics("test"),
        health=health,
    ).run()
    assert readiness == [True]


def test_tick_runs_after_every_poll_with_or_without_messages(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    calls: list[str] = []
    consumer = drained(shutdown, partitions, [msg(0, 0)], [msg(0, 1)])
    BatchConsumer(
        consumer,
        [TOPIC],
        lambda messages: calls.append(f"batch {messages[0].offset()}"),
        shutdown=shutdown,
        metrics=Metrics("test"),
        tick=lambda: calls.append("tick"),
    ).run()
    # The last poll found nothing (and asked for the stop): it is ticked too.
    assert calls == ["batch 0", "tick", "batch 1", "tick", "tick"]


def test_a_failing_handler_stores_nothing_and_closes(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = FakeConsumer(batches=[[msg(0, 0)]], partitions=partitions)

    def handler(messages):
        raise ConnectionError("redis is down")

    loop = BatchConsumer(consumer, [TOPIC], handler, shutdown=shutdown, metrics=Metrics("t"))
    with pytest.raises(ConnectionError):
        loop.run()
    assert consumer.stored == []
    assert consumer.committed == []
    assert consumer.closed


def test_revoked_partitions_are_committed_and_not_stored_again(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)], [msg(0, 1), msg(1, 1)])
    calls = 0

    def handler(messages):
        nonlocal calls
        calls += 1
        if calls == 2:
            consumer.revoke([TopicPartition(TOPIC, 1)])

    metrics = Metrics("t")
    BatchConsumer(consumer, [TOPIC], handler, shutdown=shutdown, metrics=metrics).run()
    # The revoke committed batch one; batch two's offset for partition 1 is not ours now.
    assert (TOPIC, 1, 2) not in as_tuples(consumer.stored)
    assert (TOPIC, 0, 2) in as_tuples(consumer.committed)
    assert as_tuples(consumer.committed) >= {(TOPIC, 0, 1), (TOPIC, 1, 1)}
    assert metrics.registry.get_sample_value("leaderboard_consumer_assigned_partitions") == 1


def test_error_events_are_counted_and_skipped(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    transient = FakeMessage(TOPIC, 0, -1, error_value=KafkaError(KafkaError._TRANSPORT))
    consumer = drained(shutdown, partitions, [transient, msg(0, 0)])
    handled = []
    metrics = Metrics("t")
    BatchConsumer(consumer, [TOPIC], handled.extend, shutdown=shutdown, metrics=metrics).run()
    assert [m.offset() for m in handled] == [0]
    assert (
        metrics.registry.get_sample_value(
            "leaderboard_consumer_errors_total", {"error": "_TRANSPORT"}
        )
        == 1
    )


def test_fatal_errors_stop_the_loop(shutdown: Shutdown, partitions: list[TopicPartition]) -> None:
    fatal = FakeMessage(TOPIC, 0, 4, error_value=KafkaError(KafkaError._FATAL, fatal=True))
    consumer = FakeConsumer(batches=[[fatal]], partitions=partitions)
    loop = BatchConsumer(consumer, [TOPIC], ignore, shutdown=shutdown, metrics=Metrics("t"))
    with pytest.raises(LeaderboardKafkaError) as caught:
        loop.run()
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == (TOPIC, 0, 4)
    assert consumer.closed


def test_lag_is_reported_per_assigned_partition(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = FakeConsumer(
        batches=[[msg(0, 0), msg(0, 1), msg(0, 2)]],
        partitions=partitions,
        on_empty=lambda: shutdown.request("drained"),
        high_watermark=10,
    )
    metrics = Metrics("t")
    BatchConsumer(consumer, [TOPIC], ignore, shutdown=shutdown, metrics=metrics).run()
    lag = metrics.registry.get_sample_value
    assert lag("leaderboard_consumer_lag", {"topic": TOPIC, "partition": "0"}) == 7
    assert lag("leaderboard_consumer_lag", {"topic": TOPIC, "partition": "1"}) == 10


def test_a_handler_can_choose_the_offsets_to_store(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)])

    def handler(messages):
        return [TopicPartition(TOPIC, 0, 1)]  # partition 1 was rewound: leave it

    BatchConsumer(consumer, [TOPIC], handler, shutdown=shutdown, metrics=Metrics("t")).run()
    assert as_tuples(consumer.stored) == {(TOPIC, 0, 1)}


class RecordingStarter:
    """A starter that logs when each batch is started and completed, and what of it was
    stored at completion time (nothing of it may be)."""

    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer
        self.log: list[tuple[str, int]] = []

    def __call__(self, messages):
        number = len([entry for entry in self.log if entry[0] == "start"]) + 1
        self.log.append(("start", number))

        def complete():
            stored = as_tuples(self.consumer.stored)
            assert all((TOPIC, m.partition(), m.offset() + 1) not in stored for m in messages)
            self.log.append(("complete", number))

        return complete


def test_a_starter_overlaps_the_next_batch_and_completes_in_order(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)], [msg(0, 1)], [msg(1, 1)])
    starter = RecordingStarter(consumer)
    metrics = Metrics("t")
    BatchConsumer(consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=metrics).run()

    assert starter.log == [
        ("start", 1),
        ("start", 2),
        ("complete", 1),
        ("start", 3),
        ("complete", 2),
        ("complete", 3),
    ]
    assert as_tuples(consumer.committed) >= {(TOPIC, 0, 2), (TOPIC, 1, 2)}
    assert metrics.registry.get_sample_value("leaderboard_consumer_batches_total") == 3


def test_two_batches_in_flight_complete_in_order(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0)], [msg(1, 0)], [msg(0, 1)], [msg(1, 1)])
    starter = RecordingStarter(consumer)
    BatchConsumer(
        consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t"), in_flight=2
    ).run()

    assert starter.log == [
        ("start", 1),
        ("start", 2),
        ("start", 3),  # batches 1 and 2 still in flight
        ("complete", 1),
        ("start", 4),
        ("complete", 2),
        ("complete", 3),  # nothing more fetched: everything in flight completes
        ("complete", 4),
    ]
    assert as_tuples(consumer.committed) >= {(TOPIC, 0, 2), (TOPIC, 1, 2)}


def test_a_revoke_completes_every_batch_in_flight_before_committing(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(1, 0)], [msg(1, 1)], [msg(0, 0)])
    starter = RecordingStarter(consumer)
    poll = consumer.poll

    def poll_then_revoke(timeout: float):
        if starter.log == [("start", 1), ("start", 2)]:
            consumer.revoke([TopicPartition(TOPIC, 1)])
        return poll(timeout)

    consumer.poll = poll_then_revoke  # type: ignore[method-assign]
    BatchConsumer(
        consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t"), in_flight=2
    ).run()

    assert starter.log[:4] == [("start", 1), ("start", 2), ("complete", 1), ("complete", 2)]
    # Both batches' offsets of the revoked partition were committed with the revoke.
    assert (TOPIC, 1, 2) in as_tuples(consumer.committed)


def test_in_flight_must_allow_one_batch(shutdown: Shutdown) -> None:
    consumer = FakeConsumer(batches=[], partitions=[])
    with pytest.raises(ValueError, match="in_flight"):
        BatchConsumer(
            consumer,
            [TOPIC],
            starter=lambda m: lambda: None,
            shutdown=shutdown,
            metrics=Metrics("t"),
            in_flight=0,
        )


def test_a_batch_in_flight_does_not_wait_for_the_poll_timeout(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    timeouts: list[float] = []
    consumer = FakeConsumer(
        batches=[[msg(0, 0)]], partitions=partitions, on_empty=lambda: shutdown.request("done")
    )
    poll = consumer.poll
    consumer.poll = lambda timeout: timeouts.append(timeout) or poll(timeout)  # type: ignore[method-assign]
    starter = RecordingStarter(consumer)
    BatchConsumer(
        consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t"), poll_timeout=2
    ).run()
    # The first poll may wait; with batch 1 in flight the next one only looks.
    assert timeouts == [2, 0]
    assert starter.log == [("start", 1), ("complete", 1)]


def test_a_revoke_completes_the_batch_in_flight_before_committing(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)], [msg(0, 1)])
    # While batch 1 is in flight, partition 1 is revoked (as inside the next poll).
    starter = RecordingStarter(consumer)
    revoked = [TopicPartition(TOPIC, 1)]
    poll = consumer.poll

    def poll_then_revoke(timeout: float):
        if starter.log == [("start", 1)]:
            consumer.revoke(revoked)
        return poll(timeout)

    consumer.poll = poll_then_revoke  # type: ignore[method-assign]
    BatchConsumer(consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t")).run()

    assert starter.log[:2] == [("start", 1), ("complete", 1)]
    # Batch 1's offset of the revoked partition was stored and committed with the revoke.
    assert (TOPIC, 1, 1) in as_tuples(consumer.committed)


def test_lost_partitions_are_not_stored_after_completing_the_batch_in_flight(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = drained(shutdown, partitions, [msg(0, 0), msg(1, 0)])
    starter = RecordingStarter(consumer)
    poll = consumer.poll

    def poll_then_lose(timeout: float):
        if starter.log == [("start", 1)]:
            consumer.callbacks["on_lost"](consumer, [TopicPartition(TOPIC, 1)])
        return poll(timeout)

    consumer.poll = poll_then_lose  # type: ignore[method-assign]
    BatchConsumer(consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t")).run()

    assert starter.log == [("start", 1), ("complete", 1)]
    assert as_tuples(consumer.stored) == {(TOPIC, 0, 1)}


def test_a_failing_completion_stores_nothing(
    shutdown: Shutdown, partitions: list[TopicPartition]
) -> None:
    consumer = FakeConsumer(batches=[[msg(0, 0)], [msg(0, 1)]], partitions=partitions)

    def starter(messages):
        def complete():
            raise ConnectionError("redis is down")

        return complete

    loop = BatchConsumer(
        consumer, [TOPIC], starter=starter, shutdown=shutdown, metrics=Metrics("t")
    )
    with pytest.raises(ConnectionError):
        loop.run()
    assert consumer.stored == []
    assert consumer.closed


@pytest.mark.parametrize("in_flight", [1, 2])
def test_batches_started_after_a_failed_one_are_abandoned_not_committed_at_close(
    shutdown: Shutdown, partitions: list[TopicPartition], in_flight: int
) -> None:
    # Batch 1 fails while batch 2 (later offsets of the same partition) is in flight; the
    # close's revoke must not complete batch 2 and commit partition 0 past batch 1.
    consumer = FakeConsumer(
        batches=[[msg(0, 0)], [msg(0, 1)], [msg(0, 2)]],
        partitions=partitions,
        revoke_on_close=True,
    )
    completed: list[int] = []

    def starter(messages):
        offset = messages[0].offset()

        def complete():
            if offset == 0:
                raise ConnectionError("postgres is down")
            completed.append(offset)

        return complete

    loop = BatchConsumer(
        consumer,
        [TOPIC],
        starter=starter,
        shutdown=shutdown,
        metrics=Metrics("t"),
        in_flight=in_flight,
    )
    with pytest.raises(ConnectionError):
        loop.run()
    assert completed == []
    assert consumer.stored == []
    assert consumer.committed == []
    assert consumer.closed


def test_exactly_one_of_handler_and_starter_is_given(shutdown: Shutdown) -> None:
    consumer = FakeConsumer(batches=[], partitions=[])
    with pytest.raises(TypeError, match="exactly one"):
        BatchConsumer(consumer, [TOPIC], shutdown=shutdown, metrics=Metrics("t"))
    with pytest.raises(TypeError, match="exactly one"):
        BatchConsumer(
            consumer,
            [TOPIC],
            ignore,
            starter=lambda m: lambda: None,
            shutdown=shutdown,
            metrics=Metrics("t"),
        )
