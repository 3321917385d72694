"""The start-up and shutdown sequence every worker process shares.

A worker's ``__main__`` is one line, ``raise SystemExit(run_worker(Settings, work))``.
``run_worker`` builds the settings from the environment (a bad value ends the process
with status 2 and one line per problem, before anything connects anywhere), configures
logging, builds the metrics and health state, installs the graceful-shutdown handlers,
serves ``/livez``, ``/readyz`` and ``/metrics`` on the worker's port, then calls
``work(context)`` until it returns. An exception escaping ``work`` is logged (as one
structured line with its traceback) and ends the process with status 1; a clean return
after SIGTERM ends it with 0.

``--help`` (or ``-h``) on the command line prints the environment variables the service
reads, with their defaults and descriptions, and exits 0 without connecting anywhere
(``help_requested`` does the same for the web services' own mains).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from leaderboard.core.config import ENV_PREFIX, SettingsT, load_settings
from leaderboard.core.errors import ConfigurationError, LeaderboardError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import configure_logging, get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health, serve_worker_http

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIGURATION = 2

HELP_FLAGS = frozenset({"-h", "--help"})

log = get_logger(__name__)


@dataclass
class WorkerContext(Generic[SettingsT]):
    """What ``run_worker`` hands to a service's work function."""

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


def help_requested(
    settings_class: type[SettingsT], prog: str, argv: Sequence[str] | None = None
) -> bool:
    """Print ``settings_help`` and return True if the arguments ask for help."""
    arguments = sys.argv[1:] if argv is None else argv
    if not HELP_FLAGS.intersection(arguments):
        return False
    sys.stdout.write(settings_help(settings_class, prog))
    sys.stdout.flush()
    return True


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
    work: Callable[[WorkerContext[SettingsT]], None],
    argv: Sequence[str] | None = None,
) -> int:
    """Run one worker process from start-up to exit; returns the exit status.

    ``argv`` defaults to ``sys.argv[1:]``; only ``--help``/``-h`` means anything there.
    """
    prog = f"python -m {settings_class.__module__.rpartition('.')[0]}"
    if help_requested(settings_class, prog, argv):
        return EXIT_OK
    try:
        settings = load_settings(settings_class)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    context = WorkerContext(
        settings=settings,
        metrics=Metrics(settings.service_name),
        # Not ready until work() reaches its main loop; see Health.started().
        health=Health(starting=True),
        shutdown=Shutdown(settings.shutdown_timeout_seconds).install(),
    )
    server = serve_worker_http(
        context.metrics, context.health, settings.metrics_host, settings.metrics_port
    )
    log.info("started", metrics=f"http://{settings.metrics_host}:{server.server_port}/metrics")
    tune_garbage_collector()
    status = EXIT_OK
    try:
        work(context)
    except LeaderboardError as exc:
        log.exception("stopping on error", error=str(exc))
        status = EXIT_FAILED
    except Exception:  # a bug or an unwrapped client error: log it as JSON, not a traceback
        log.exception("stopping on an unexpected error")
        status = EXIT_FAILED
    finally:
        server.shutdown()
        server.server_close()
    context.metrics.shutdown_seconds.set(context.shutdown.elapsed())
    context.shutdown.complete()
    return status
