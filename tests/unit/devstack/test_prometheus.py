"""The local Prometheus's configuration, made from the services' settings, and its status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.devstack import prometheus
from leaderboard.devstack.procfile import procfile_processes
from leaderboard.devstack.prometheus import TargetHealth
from leaderboard.devstack.settings import DevstackSettings
from tests.support.services import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_every_service_is_one_job_named_after_it_on_its_own_port() -> None:
    targets = prometheus.scrape_targets(DevstackSettings())
    assert targets == {
        "simulator": "127.0.0.1:9104",
        "ingest": "127.0.0.1:8001",
        "ranker": "127.0.0.1:9101",
        "archiver": "127.0.0.1:9102",
        "publisher": "127.0.0.1:9103",
        "closer": "127.0.0.1:9105",
        "gateway": "127.0.0.1:8000",
    }


def test_the_ports_are_those_the_services_listen_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", "local:" + "k" * 32)
    targets = prometheus.scrape_targets(DevstackSettings())
    for service in prometheus.SCRAPED_SERVICES:
        settings = load_settings(service)
        assert targets[service.service_name] == f"127.0.0.1:{settings.http_port}"


def test_the_procfile_runs_prometheus_and_it_scrapes_every_other_process() -> None:
    processes = procfile_processes(REPO_ROOT / "Procfile")
    assert processes["prometheus"] == "exec python -m leaderboard.devstack prometheus"
    assert set(prometheus.scrape_targets(DevstackSettings())) == set(processes) - {"prometheus"}


def test_services_bound_to_every_address_are_scraped_on_loopback() -> None:
    settings = DevstackSettings(http_host="0.0.0.0")
    assert set(prometheus.scrape_targets(settings).values()) == {
        f"127.0.0.1:{port}" for port in (8000, 8001, 9101, 9102, 9103, 9104, 9105)
    }


def test_the_config_has_the_rules_and_one_metrics_job_per_target(tmp_path: Path) -> None:
    rules = REPO_ROOT / prometheus.RULES_FILE
    config = prometheus.prometheus_config({"ranker": "127.0.0.1:9101"}, [rules])
    assert config["global"]["scrape_interval"] == "5s"
    assert config["rule_files"] == [str(rules)]
    assert config["scrape_configs"] == [
        {
            "job_name": "ranker",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": ["127.0.0.1:9101"]}],
        }
    ]
    written = prometheus.write_config(tmp_path / "prometheus" / "prometheus.yml", config)
    text = written.read_text()
    assert text.startswith("# Written by leaderboard.devstack")
    assert json.loads(text.split("\n", 1)[1]) == config  # JSON: YAML that Prometheus reads


def test_the_rules_file_the_local_prometheus_loads_is_the_charts() -> None:
    assert (REPO_ROOT / prometheus.RULES_FILE).is_file()
    assert prometheus.RULES_FILE.parts[:2] == ("charts", "leaderboard")


def test_the_command_listens_on_loopback_with_its_data_in_the_stack_folder(tmp_path: Path) -> None:
    command = prometheus.prometheus_command(
        tmp_path / "prometheus", tmp_path / "p.yml", tmp_path / "data", 9090
    )
    assert command[0] == str(tmp_path / "prometheus")
    assert f"--config.file={tmp_path / 'p.yml'}" in command
    assert f"--storage.tsdb.path={tmp_path / 'data'}" in command
    assert "--web.listen-address=127.0.0.1:9090" in command


def test_the_binary_is_looked_for_in_the_tools_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADERBOARD_CACHE_DIR", str(tmp_path / "cache"))
    assert load_settings(DevstackSettings).tools_bin_dir == tmp_path / "cache" / "tools" / "bin"
    monkeypatch.delenv("LEADERBOARD_CACHE_DIR")
    default = load_settings(DevstackSettings).tools_bin_dir
    assert default == Path.home() / ".cache" / "leaderboard" / "tools" / "bin"


def test_status_says_a_stopped_prometheus_is_started_by_make_run() -> None:
    port = free_port()
    (line,) = prometheus.status_lines(port)
    assert line.split()[:2] == ["prometheus", "stopped"]
    assert f"127.0.0.1:{port}" in line
    assert "make run" in line


def test_status_lists_each_target_with_its_health_and_last_error() -> None:
    lines = prometheus.describe_targets(
        "127.0.0.1:9090",
        [
            TargetHealth("gateway", "http://127.0.0.1:8000/metrics", "up", ""),
            TargetHealth("ranker", "http://127.0.0.1:9101/metrics", "down", "connection\nrefused"),
        ],
    )
    assert lines[0].split()[:2] == ["prometheus", "running"]
    assert lines[0].endswith("1/2 targets up")
    assert lines[1].split() == ["gateway", "up", "http://127.0.0.1:8000/metrics"]
    assert lines[2].split() == [
        "ranker",
        "down",
        "http://127.0.0.1:9101/metrics",
        "(connection",
        "refused)",
    ]
