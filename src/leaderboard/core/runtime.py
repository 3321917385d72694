"""The start-up and shutdown every service shares, and ``run_worker`` for the workers
(``web.run_web_service`` does the same for the web services). docs/services.md describes
the sequence and the exit statuses."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic

from leaderboard.core.config import ENV_PREFIX, SettingsT, load_settings
from leaderboard.core.errors import ConfigurationError, LeaderboardError
from leaderboard.core.lifecycle import (
    EXIT_BAD_CONFIGURATION,
    EXIT_FAILED,
    EXIT_OK,
    Shutdown,
)
from leaderboard.core.logging import configure_logging, get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health, serve_worker_http

HELP_FLAGS = frozenset({"-h", "--help"})

log = get_logger(__name__)


@dataclass
class ServiceContext(Generic[SettingsT]):
    """What ``run_worker`` hands to a worker's ``work`` function."""

    settings: SettingsT
    metrics: Metrics
    health: Health
    shutdown: Shutdown


def settings_help(settings_class: type[SettingsT], prog: str) -> str:
    """The usage text of a service: every environment variable it reads, documented."""
    summary = (settings_class.__doc__ or "").strip().splitlines()[0:1]
    lines = [f"usage: {prog} [--help]", "", *summary, ""]
    lines.append("Configured only by environment variables (an empty one counts as unset):")
    for name, field in settings_class.model_fields.items():
        if field.is_required():
            default = "required"
        elif "SecretStr" in repr(field.annotation):
            default = "secret, unset"
        else:
            default = f"default {field.default!r}"
        lines.append(f"  {ENV_PREFIX}{name.upper()}  ({default})")
        lines.append(f"      {field.description or ''}")
    return "\n".join(lines) + "\n"


#: Allocations between two collections of the youngest generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for batch loops.

    Each batch allocates thousands of short-lived objects (messages, events, arguments)
    that reference counting frees; with the default threshold the collector still runs
    several times per batch and, every few runs, walks every long-lived object the
    libraries created at import (a tenth of the ranker's CPU in a profile). Freezing
    those moves them out of its sight, and a higher threshold lets it run per few
    batches instead. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_worker(
    settings_class: type[SettingsT],
    work: Callable[[ServiceContext[SettingsT]], None],
    argv: Sequence[str] | None = None,
) -> int:
    """Run a worker from start-up to exit: probes and ``/metrics`` on its HTTP address,
    then ``work(context)`` until it returns; returns the exit status."""
    started = start_service(settings_class, argv)
    if isinstance(started, int):
        return started
    settings, metrics, shutdown = started
    # Not ready until work() reaches its main loop; see Health.started().
    context = ServiceContext(settings, metrics, Health(starting=True), shutdown)
    try:
        server = serve_worker_http(metrics, context.health, settings.http_host, settings.http_port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        log.error("the HTTP server did not start", port=settings.http_port, error=str(exc))
        return finish(metrics, shutdown, EXIT_FAILED)
    log.info("started", url=f"http://{settings.http_host}:{server.server_port}/metrics")
    tune_garbage_collector()
    try:
        status = run_guarded(lambda: work(context))
    finally:
        server.shutdown()
        server.server_close()
    return finish(metrics, shutdown, status)


def start_service(
    settings_class: type[SettingsT], argv: Sequence[str] | None
) -> tuple[SettingsT, Metrics, Shutdown] | int:
    """Help, settings, logging, metrics and signal handlers; an exit status instead when
    the process must stop here (help printed, or a bad setting)."""
    arguments = sys.argv[1:] if argv is None else argv
    if HELP_FLAGS.intersection(arguments):
        script = Path(sys.argv[0]).name
        package = settings_class.__module__.rpartition(".")[0]
        prog = script if script.startswith("leaderboard-") else f"python -m {package}"
        sys.stdout.write(settings_help(settings_class, prog))
        sys.stdout.flush()
        return EXIT_OK
    try:
        settings = load_settings(settings_class)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    shutdown = Shutdown(settings.shutdown_timeout_seconds).install()
    return settings, Metrics(settings.service_name), shutdown


def run_guarded(run: Callable[[], None]) -> int:
    """Run the service's main part; an error ends it with ``EXIT_FAILED``, logged as JSON."""
    try:
        run()
    except LeaderboardError as exc:
        log.exception("stopping on error", error=str(exc))
        return EXIT_FAILED
    except SystemExit as exc:  # uvicorn's own exit (address in use, lifespan failed)
        log.error("the service exited", status=exc.code)
        return EXIT_FAILED
    except Exception:  # a bug or an unwrapped client error: log it as JSON, not a traceback
        log.exception("stopping on an unexpected error")
        return EXIT_FAILED
    return EXIT_OK


def finish(metrics: Metrics, shutdown: Shutdown, status: int) -> int:
    metrics.shutdown_seconds.set(shutdown.elapsed())
    shutdown.complete()
    return status
