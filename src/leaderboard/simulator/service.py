"""The simulator's loop: produce a batch, pause, repeat, until stopped or done."""

from __future__ import annotations

from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka import Message, Producer

from leaderboard.core.errors import KafkaError
from leaderboard.core.kafka import producer_config
from leaderboard.core.logging import get_logger
from leaderboard.core.runtime import ServiceContext
from leaderboard.simulator.metrics import SimulatorMetrics
from leaderboard.simulator.players import PlayerPool
from leaderboard.simulator.settings import SimulatorSettings

log = get_logger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0


def work(context: ServiceContext[SimulatorSettings]) -> None:
    """Produce score events at the configured pace until shutdown or the event limit."""
    settings = context.settings
    metrics = SimulatorMetrics(context.metrics.registry)
    pool = PlayerPool(
        settings.simulator_players,
        settings.leaderboards,
        settings.simulator_max_score,
        settings.simulator_seed,
    )

    counts = {"produced": 0}

    def delivered(error: LibrdkafkaError | None, message: Message) -> None:
        if error is None:
            counts["produced"] += 1
            metrics.produced.inc()
            context.health.set_check("kafka", True)
        else:
            metrics.failed.inc()
            context.health.set_check("kafka", False, error.str())
            log.warning("score event not delivered", topic=message.topic(), error=error.str())

    producer = Producer(producer_config(settings))
    remaining = settings.simulator_max_events
    log.info(
        "simulating",
        players=settings.simulator_players,
        leaderboards=settings.leaderboards,
        batch_size=settings.batch_size,
        pause_seconds=round(settings.pause_seconds, 4),
    )
    context.health.started()
    try:
        while not context.shutdown.requested and (remaining is None or remaining > 0):
            count = settings.batch_size
            if remaining is not None:
                count = min(count, remaining)
                remaining -= count
            for _ in range(count):
                event = pool.event()
                while True:
                    try:
                        producer.produce(
                            settings.topic_game_score,
                            key=event.key,
                            value=event.to_json(),
                            on_delivery=delivered,
                        )
                        break
                    except BufferError:
                        producer.poll(0.1)  # local queue full: let deliveries drain it
            producer.poll(0)
            context.health.heartbeat()
            context.shutdown.wait(settings.pause_seconds)
    finally:
        unsent = producer.flush(FLUSH_TIMEOUT_SECONDS)
    if unsent:
        raise KafkaError(f"{unsent} score events not delivered", topic=settings.topic_game_score)
    log.info("simulation finished", produced=counts["produced"])
