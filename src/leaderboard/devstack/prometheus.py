"""The Prometheus ``make run`` starts beside the services: its configuration, made from the
services' settings, its command line, and its targets' health for ``status``.

It runs from the Procfile, so it lives exactly as long as the services it scrapes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.closer.settings import CloserSettings
from leaderboard.core.config import LeaderboardSettings
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.ingest.settings import IngestSettings
from leaderboard.publisher.settings import PublisherSettings
from leaderboard.ranker.settings import RankerSettings
from leaderboard.simulator.settings import SimulatorSettings

#: Every service of the Procfile; each is one scrape job, named after the service.
SCRAPED_SERVICES: tuple[type[LeaderboardSettings], ...] = (
    SimulatorSettings,
    IngestSettings,
    RankerSettings,
    ArchiverSettings,
    PublisherSettings,
    CloserSettings,
    GatewaySettings,
)
#: As often as the chart's ServiceMonitors scrape.
SCRAPE_INTERVAL = "5s"
EVALUATION_INTERVAL = "15s"
#: Local data is for looking at today's run, not for keeping.
RETENTION = "2d"
#: The chart's alerting rules, one copy for the chart, promtool and this Prometheus.
RULES_FILE = Path("charts") / "leaderboard" / "rules" / "alerts.yaml"
#: Prometheus only ever listens on loopback here.
HOST = "127.0.0.1"


def scrape_targets(settings: DevstackSettings) -> dict[str, str]:
    """Job name -> ``host:port`` of each service's `/metrics`, as ``make run`` starts them.

    The port is each settings class's default: the services share one environment, so a
    ``LEADERBOARD_HTTP_PORT`` would give them all the same port and cannot be meant.
    """
    host = HOST if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host  # noqa: S104 - compared, not bound
    return {
        service.service_name: f"{host}:{service.model_fields['http_port'].default}"
        for service in SCRAPED_SERVICES
    }


def prometheus_config(targets: Mapping[str, str], rule_files: Sequence[Path]) -> dict[str, Any]:
    """A prometheus.yml: the rule files and one job per target."""
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": EVALUATION_INTERVAL,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
            }
            for job, target in targets.items()
        ],
    }


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` to ``path`` as JSON, which is YAML too (no YAML library needed);
    rewritten on every start, so edits are not kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by leaderboard.devstack on every start; edits are overwritten.\n"
    path.write_text(header + json.dumps(config, indent=2) + "\n")
    return path


def prometheus_command(binary: Path, config_file: Path, data_dir: Path, port: int) -> list[str]:
    """The foreground command line of the local Prometheus."""
    return [
        str(binary),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={HOST}:{port}",
    ]


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}"


@dataclass(frozen=True, order=True)
class TargetHealth:
    """One scrape target as Prometheus's /api/v1/targets reports it."""

    job: str
    url: str
    health: str  # up, down or unknown (not scraped yet)
    last_error: str


def target_health(url: str, timeout: float = 2.0) -> list[TargetHealth]:
    """The active targets of the Prometheus at ``url``, by job; raises if it does not answer."""
    request = f"{url}/api/v1/targets?state=active"
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http URL of our own
        body = json.load(response)
    if body.get("status") != "success":
        raise ValueError(f"{request} answered {body!r}")
    return sorted(
        TargetHealth(
            target["labels"].get("job", ""),
            target["scrapeUrl"],
            target["health"],
            target.get("lastError", ""),
        )
        for target in body["data"]["activeTargets"]
    )


def status_lines(port: int) -> list[str]:
    """What ``status`` prints about the local Prometheus: one line, then one per target."""
    address = f"{HOST}:{port}"
    try:
        targets = target_health(api_url(port))
    except (OSError, ValueError, KeyError) as exc:
        refused = isinstance(exc, urllib.error.URLError) and isinstance(
            exc.reason, ConnectionRefusedError
        )
        reason = "`make run` starts it" if refused else f"not answering: {exc}"
        return [f"{'prometheus':<9} {'stopped':<9} {'pid -':<10} {address:<21} ({reason})"]
    return describe_targets(address, targets)


def describe_targets(address: str, targets: Sequence[TargetHealth]) -> list[str]:
    """A running Prometheus's status line, then one line per target (with its last error)."""
    up = sum(target.health == "up" for target in targets)
    summary = f"{up}/{len(targets)} targets up"
    lines = [f"{'prometheus':<9} {'running':<9} {'pid -':<10} {address:<21} {summary}"]
    for target in targets:
        error = f"  ({' '.join(target.last_error.split())})" if target.last_error else ""
        lines.append(f"  {target.job:<11} {target.health:<7} {target.url}{error}")
    return lines
