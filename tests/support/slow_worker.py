"""A worker with a deliberately slow handler, run as a child process by shutdown tests.

It consumes one topic with the project's ``BatchConsumer`` and, for every batch, writes
``started <offsets>`` to a progress file, spends ``--work-seconds`` on the batch (the
stand-in for a slow durable write), then writes ``done <offsets>`` and fsyncs. The test
sends SIGTERM while a batch is in progress and checks what was committed.

Usage: python -m tests.support.slow_worker TOPIC GROUP PROGRESS_FILE --work-seconds S
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import ClassVar

from confluent_kafka import Consumer, Message

from leaderboard.core.config import LeaderboardSettings, load_settings
from leaderboard.core.consumer import BatchConsumer
from leaderboard.core.kafka import consumer_config
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import configure_logging
from leaderboard.core.metrics import Metrics


class SlowWorkerSettings(LeaderboardSettings):
    service_name: ClassVar[str] = "slow-worker"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("progress", type=Path)
    parser.add_argument("--work-seconds", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)

    settings = load_settings(SlowWorkerSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    shutdown = Shutdown(settings.shutdown_timeout_seconds).install()

    def write(line: str) -> None:
        with args.progress.open("a") as progress:
            progress.write(line + "\n")
            progress.flush()
            os.fsync(progress.fileno())

    def handle(messages: list[Message]) -> None:
        offsets = " ".join(str(message.offset()) for message in messages)
        write(f"started {offsets}")
        time.sleep(args.work_seconds)
        write(f"done {offsets}")

    consumer = Consumer(consumer_config(settings, args.group))
    BatchConsumer(
        consumer,
        [args.topic],
        handle,
        shutdown=shutdown,
        metrics=Metrics(settings.service_name),
        batch_size=args.batch_size,
    ).run()
    shutdown.complete()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
