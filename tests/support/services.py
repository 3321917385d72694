"""Run the project's services as real child processes in integration tests.

``ServiceProcess`` starts ``python -m leaderboard.<service>`` (or, given a batch size,
``tests.support.batched``) with the stack's connection settings plus per-test overrides,
captures its output to a file (shown when a test fails), waits on its readiness probe,
and stops it with SIGTERM or SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from leaderboard.core.config import ENV_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[2]


#: Settings fields a child service must share with the test: where the servers are and
#: which topics and keys to use.
SHARED_FIELD_PREFIXES = ("kafka_", "topic_", "redis_", "postgres_", "score_")


def settings_env(settings: BaseSettings) -> dict[str, str]:
    """The ``LEADERBOARD_*`` variables that make a child see ``settings``' servers and topics."""
    env = {}
    for name in type(settings).model_fields:
        if not name.startswith(SHARED_FIELD_PREFIXES):
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict):  # the librdkafka pass-through: JSON
            env[f"{ENV_PREFIX}{name.upper()}"] = json.dumps(value)
            continue
        env[f"{ENV_PREFIX}{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports nothing listens on right now."""
    # Held open together, so the kernel cannot hand out the same port twice.
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    return free_ports(1)[0]


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    every: float = 0.1,
    details: Callable[[], str] | None = None,
):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``, with
    what ``details`` says then."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(every)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status code of GET ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def http_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def metric_value(metrics_text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The value of one sample in Prometheus text format (0 when absent): the one named
    ``name`` with exactly ``labels``, in whatever order the exposition writes them."""
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return float(sample.value)
    return 0.0


class ServiceProcess:
    """One service running as a child process."""

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        port: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.service = service
        self.command = (
            ["-m", f"leaderboard.{service}"]
            if batch_size is None
            else ["-m", "tests.support.batched", service, str(batch_size)]
        )
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "LEADERBOARD_LOG_FORMAT": "json",
            "LEADERBOARD_HTTP_PORT": str(self.port),
            **env,
        }
        self.log_path = log_dir / f"{service}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.command],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> ServiceProcess:
        def ready() -> bool:
            self.assert_running()
            return http_status(f"{self.base_url}/readyz") == 200

        wait_for(ready, timeout, f"{self.service} to be ready")
        return self

    def assert_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self.service} exited with {code}:\n{self.output()}")

    def metrics(self) -> str:
        return http_text(f"{self.base_url}/metrics")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
