"""A real worker process stops gracefully on SIGTERM, within its bound, losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from leaderboard.core.kafka import admin_config, consumer_config, producer_config
from leaderboard.core.lifecycle import EXIT_SHUTDOWN_TIMEOUT
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from tests.support.services import REPO_ROOT, wait_for

pytestmark = pytest.mark.integration

MESSAGES = 5
SHUTDOWN_BOUND = 3.0
# Slack for interpreter start-up and librdkafka's close on a loaded 2-core machine.
EXIT_SLACK = 10.0


@pytest.fixture
def topic(stack: DevstackSettings) -> str:
    name = f"shutdown-test-{uuid.uuid4().hex[:12]}"
    ensure_topics(AdminClient(admin_config(stack)), [TopicSpec(name, 1)])
    producer = Producer(producer_config(stack))
    for index in range(MESSAGES):
        producer.produce(name, key=str(index), value=f"message-{index}")
    assert producer.flush(30) == 0
    return name


@pytest.fixture
def start_worker(stack: DevstackSettings, tmp_path: Path) -> Iterator:
    children: list[subprocess.Popen] = []

    def start(topic: str, group: str, work_seconds: float) -> tuple[subprocess.Popen, Path]:
        progress = tmp_path / f"{group}.progress"
        env = os.environ | {
            "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_BOUND),
            "LEADERBOARD_LOG_FORMAT": "json",
        }
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.slow_worker",
                topic,
                group,
                str(progress),
                "--work-seconds",
                str(work_seconds),
                "--batch-size",
                str(MESSAGES),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        children.append(child)
        return child, progress

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        if child.stdout:
            child.stdout.close()


def committed_offset(stack: DevstackSettings, topic: str, group: str) -> int:
    consumer = Consumer(consumer_config(stack, group))
    try:
        [partition] = consumer.committed([TopicPartition(topic, 0)], timeout=30)
        return partition.offset
    finally:
        consumer.close()


def progress_lines(progress: Path) -> list[str]:
    return progress.read_text().splitlines() if progress.exists() else []


def stop_mid_batch(child: subprocess.Popen, progress: Path) -> tuple[int, float]:
    wait_for(lambda: progress_lines(progress), 60, "the worker to start a batch")
    sent = time.monotonic()
    child.send_signal(signal.SIGTERM)
    code = child.wait(SHUTDOWN_BOUND + EXIT_SLACK)
    return code, time.monotonic() - sent


def test_sigterm_finishes_the_batch_commits_and_exits_zero(
    stack: DevstackSettings, topic: str, start_worker
) -> None:
    group = f"graceful-{uuid.uuid4().hex[:8]}"
    child, progress = start_worker(topic, group, work_seconds=1.0)
    code, took = stop_mid_batch(child, progress)
    output = child.stdout.read().decode() if child.stdout else ""

    assert code == 0, output
    assert took < SHUTDOWN_BOUND + EXIT_SLACK
    expected = " ".join(str(offset) for offset in range(MESSAGES))
    assert progress_lines(progress) == [f"started {expected}", f"done {expected}"]
    assert committed_offset(stack, topic, group) == MESSAGES
    assert '"shutdown complete"' in output


def test_a_batch_past_the_bound_is_abandoned_uncommitted(
    stack: DevstackSettings, topic: str, start_worker
) -> None:
    group = f"abandoned-{uuid.uuid4().hex[:8]}"
    child, progress = start_worker(topic, group, work_seconds=120.0)
    code, took = stop_mid_batch(child, progress)

    assert code == EXIT_SHUTDOWN_TIMEOUT
    assert SHUTDOWN_BOUND <= took < SHUTDOWN_BOUND + EXIT_SLACK
    assert not any(line.startswith("done") for line in progress_lines(progress))
    # Nothing was committed, so the next consumer of the group gets every message again.
    assert committed_offset(stack, topic, group) < 0


def test_an_idle_worker_exits_zero_promptly(
    stack: DevstackSettings, topic: str, start_worker
) -> None:
    group = f"idle-{uuid.uuid4().hex[:8]}"
    child, progress = start_worker(topic, group, work_seconds=0.0)
    wait_for(
        lambda: any(line.startswith("done") for line in progress_lines(progress)),
        60,
        "the worker to finish its only batch",
    )
    child.send_signal(signal.SIGTERM)
    assert child.wait(SHUTDOWN_BOUND + EXIT_SLACK) == 0
    assert committed_offset(stack, topic, group) == MESSAGES
