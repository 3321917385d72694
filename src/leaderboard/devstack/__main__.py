"""``python -m leaderboard.devstack {up,down,status,run,prometheus,tools}``: the local
stack's commands.

Each is described in docs/local-stack.md; bad settings exit 2, a stack error exits 1.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION, EXIT_FAILED, EXIT_FORCED
from leaderboard.core.logging import configure_logging, get_logger
from leaderboard.devstack import prometheus as local_prometheus
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.process import port_is_free
from leaderboard.devstack.procfile import procfile_processes
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from leaderboard.devstack.tools import ensure_test_tools

log = get_logger("leaderboard.devstack")


def up(settings: DevstackSettings) -> int:
    """Bring the stack up; idempotent."""
    Stack(settings).up()
    return 0


def down(settings: DevstackSettings) -> int:
    """Stop the stack, keeping its data."""
    Stack(settings).down()
    return 0


def status(settings: DevstackSettings) -> int:
    """Print one line per server, then the local Prometheus and its targets' health;
    0 if all servers answer, 1 otherwise (Prometheus runs only with `make run`)."""
    statuses = Stack(settings).status()
    for server_status in statuses:
        sys.stdout.write(server_status.line() + "\n")
    for line in local_prometheus.status_lines(settings.prometheus_port):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0 if all(server_status.healthy for server_status in statuses) else 1


def run(settings: DevstackSettings) -> int:
    """Start the services of ``./Procfile`` under honcho, or report that there are none."""
    unhealthy = [s.name for s in Stack(settings).status() if not s.healthy]
    if unhealthy:
        raise DevstackError(
            f"the local stack is not up ({', '.join(unhealthy)} not answering): "
            "run `make infra-up` first"
        )
    procfile = Path.cwd() / "Procfile"
    processes = procfile_processes(procfile)
    if not processes:
        log.info(
            "the local stack is up; no services exist yet (no Procfile with processes)",
            stop_with="make infra-down",
        )
        return 0
    prometheus_binary = settings.tools_bin_dir / "prometheus"
    if "prometheus" in processes and not prometheus_binary.is_file():
        # Else honcho would start the services and stop them all when Prometheus fails.
        raise DevstackError(
            f"{prometheus_binary} is missing: run `make prometheus-tools` to build it"
        )
    env = dict(os.environ)
    # Local runs read better as console lines than JSON (honcho's pipe is not a terminal).
    env.setdefault("LEADERBOARD_LOG_FORMAT", "console")
    if "LEADERBOARD_INGEST_API_KEYS" not in env:
        key_file = local_ingest_key(settings)
        env["LEADERBOARD_INGEST_API_KEYS"] = f"local:{key_file.read_text().strip()}"
        log.info("ingest API key for local callers", key_file=str(key_file), key_name="local")
    if "LEADERBOARD_INGEST_ADMIN_KEYS" not in env:
        key_file = local_admin_key(settings)
        env["LEADERBOARD_INGEST_ADMIN_KEYS"] = f"local-admin:{key_file.read_text().strip()}"
        log.info(
            "admin API key for local operators", key_file=str(key_file), key_name="local-admin"
        )
    log.info("starting services with honcho", procfile=str(procfile), services=list(processes))
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process, so honcho receives Ctrl-C itself and stops every service.
    os.execve(  # noqa: S606 - our own interpreter running honcho, no shell
        sys.executable, [sys.executable, "-m", "honcho", "start", "-f", str(procfile)], env
    )


def prometheus(settings: DevstackSettings) -> int:
    """Run the local Prometheus in the foreground, scraping every service (the Procfile's
    `prometheus` process): its configuration is written from the settings first."""
    binary = settings.tools_bin_dir / "prometheus"
    if not binary.is_file():
        raise DevstackError(f"{binary} is missing: run `make prometheus-tools` to build it")
    rules = Path.cwd() / local_prometheus.RULES_FILE
    if not rules.is_file():
        raise DevstackError(f"{rules} is missing: run this from the project's folder")
    port = settings.prometheus_port
    if not port_is_free(local_prometheus.HOST, port):
        raise DevstackError(
            f"port {port} on {local_prometheus.HOST} (for prometheus) is taken by another "
            "process: stop it or choose another port with LEADERBOARD_PROMETHEUS_PORT"
        )
    home = settings.devstack_dir / "prometheus"
    targets = local_prometheus.scrape_targets(settings)
    config = local_prometheus.write_config(
        home / "prometheus.yml", local_prometheus.prometheus_config(targets, [rules])
    )
    command = local_prometheus.prometheus_command(binary, config, home / "data", port)
    log.info("starting prometheus", api=local_prometheus.api_url(port), targets=targets)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process, so honcho's signals reach Prometheus itself.
    os.execv(binary, command)  # noqa: S606 - the tools cache's prometheus, no shell


def tools(settings: DevstackSettings) -> int:
    """Install the programs the tests need (a browser and a reverse proxy) if missing."""
    ensure_test_tools(settings)
    return 0


def local_ingest_key(settings: DevstackSettings) -> Path:
    """The file holding the local ingest API key, made with a random key the first time.

    There is no default key in code: each checkout gets its own, readable only by its owner.
    """
    return _local_key(settings.devstack_dir / "ingest-api-key")


def local_admin_key(settings: DevstackSettings) -> Path:
    """The file holding the local admin API key (its own random value, made once)."""
    return _local_key(settings.devstack_dir / "admin-api-key")


def _local_key(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(secrets.token_urlsafe(32) + "\n")
    return path


COMMANDS: dict[str, Callable[[DevstackSettings], int]] = {
    "up": up,
    "down": down,
    "status": status,
    "run": run,
    "prometheus": prometheus,
    "tools": tools,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command, build the settings, run it; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m leaderboard.devstack",
        description="The local Kafka, Redis and PostgreSQL servers (no Docker).",
    )
    parser.add_argument("command", choices=COMMANDS, help="what to do with the stack")
    arguments = parser.parse_args(argv)
    try:
        settings = load_settings(DevstackSettings)
    except ConfigurationError as exc:
        configure_logging("devstack", stream=sys.stderr)
        log.error("invalid configuration", problems=exc.problems)
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    try:
        return COMMANDS[arguments.command](settings)
    except DevstackError as exc:
        log.error(str(exc), command=arguments.command)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.warning("interrupted", command=arguments.command)
        return EXIT_FORCED


if __name__ == "__main__":
    sys.exit(main())
