"""The local Prometheus for real: the configuration devstack writes, loaded by the binary
`make prometheus-tools` builds, scrapes a real `/metrics` and loads the chart's alerts.

Needs no Kafka, Redis nor PostgreSQL; every port is a free one, never the standard ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from leaderboard.core.metrics import Metrics
from leaderboard.devstack import prometheus
from leaderboard.devstack.prometheus import TargetHealth, target_health
from leaderboard.devstack.settings import DevstackSettings
from tests.support.prometheus import built_tool, promtool
from tests.support.services import free_port, http_text, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Prometheus starts in about a second; its first scrape follows within one interval (5 s).
STARTUP_TIMEOUT = 60.0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api(port: int, path: str, **query: str) -> Any:
    url = f"{prometheus.api_url(port)}{path}?{urllib.parse.urlencode(query)}"
    body = json.loads(http_text(url))
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def metrics_port() -> Iterator[int]:
    """A real `/metrics` endpoint serving the metrics every service registers."""
    registry = CollectorRegistry()
    Metrics("simulator", registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_prometheus_scrapes_a_target_of_the_generated_config_and_loads_the_alerts(
    metrics_port: int, tmp_path: Path
) -> None:
    rules = REPO_ROOT / prometheus.RULES_FILE
    config = prometheus.write_config(
        tmp_path / "prometheus.yml",
        prometheus.prometheus_config({"simulator": f"127.0.0.1:{metrics_port}"}, [rules]),
    )
    assert "SUCCESS" in promtool("check", "config", config)
    port = free_port()
    command = prometheus.prometheus_command(
        built_tool("prometheus"), config, tmp_path / "data", port
    )
    log_file = tmp_path / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:

        def scraped() -> list[TargetHealth] | None:
            assert process.poll() is None, log_file.read_text()
            try:
                targets = target_health(prometheus.api_url(port))
            except OSError:
                return None
            return targets if targets and targets[0].health == "up" else None

        (target,) = wait_for(
            scraped, STARTUP_TIMEOUT, "the target to be up", every=0.5, details=log_file.read_text
        )
        assert target == TargetHealth(
            "simulator", f"http://127.0.0.1:{metrics_port}/metrics", "up", ""
        )
        # The service's own series, as the dashboards and alerts query them.
        result = wait_for(
            lambda: _api(port, "/api/v1/query", query='leaderboard_build_info{job="simulator"}')[
                "result"
            ],
            STARTUP_TIMEOUT,
            "leaderboard_build_info in Prometheus",
            every=0.5,
        )
        assert result[0]["metric"]["service"] == "simulator"
        rule_groups = _api(port, "/api/v1/rules", type="alert")["groups"]
        alerts = {rule["name"]: rule["health"] for g in rule_groups for rule in g["rules"]}
        assert len(alerts) == 7
        assert "LeaderboardConsumerLagGrowing" in alerts
        status = prometheus.status_lines(port)
        assert status[0].split()[:2] == ["prometheus", "running"]
        assert status[0].endswith("1/1 targets up")
    finally:
        _stop(process)
    assert process.returncode == 0, log_file.read_text()


def test_the_devstack_command_runs_prometheus_with_one_job_per_service(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LEADERBOARD_DEVSTACK_DIR": str(tmp_path / "stack"),
        "LEADERBOARD_PROMETHEUS_PORT": str(port),
        "LEADERBOARD_LOG_FORMAT": "json",
    }
    built_tool("prometheus")
    log_file = tmp_path / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "leaderboard.devstack", "prometheus"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def listed() -> list[TargetHealth] | None:
            assert process.poll() is None, log_file.read_text()
            try:
                return target_health(prometheus.api_url(port)) or None
            except OSError:
                return None

        targets = wait_for(
            listed, STARTUP_TIMEOUT, "Prometheus's targets", every=0.5, details=log_file.read_text
        )
        expected = prometheus.scrape_targets(DevstackSettings())
        # Whether each is up depends on what runs on those ports; the jobs do not.
        assert {t.job: t.url for t in targets} == {
            job: f"http://{address}/metrics" for job, address in expected.items()
        }
        assert (tmp_path / "stack" / "prometheus" / "prometheus.yml").is_file()
        assert (tmp_path / "stack" / "prometheus" / "data").is_dir()
    finally:
        _stop(process)
    # The devstack process became Prometheus (exec), so SIGTERM stopped Prometheus cleanly.
    assert process.returncode == 0, log_file.read_text()
