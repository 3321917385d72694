"""``python -m leaderboard.ingest``: run the ingest API until SIGTERM or SIGINT.

Start-up: settings from the environment (a bad or missing value, such as no API keys,
ends the process with status 2 and one line per problem), logging, metrics, the app,
then uvicorn. On SIGTERM uvicorn stops accepting connections, lets in-flight requests
finish (bounded by ``LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS``), then the app's shutdown
flushes the Kafka producer (bounded too); the process exits 0.
"""

from __future__ import annotations

import math
import signal
import sys
from types import FrameType

import uvicorn

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.logging import configure_logging, get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.runtime import (
    EXIT_BAD_CONFIGURATION,
    EXIT_FAILED,
    EXIT_OK,
    help_requested,
)
from leaderboard.ingest.app import create_app
from leaderboard.ingest.settings import IngestSettings

log = get_logger("leaderboard.ingest")


def _after_shutdown(signum: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it stopped on once it has shut down, to let the previous
    # handler act; the default action would end the process with -SIGTERM instead of 0.
    log.info("stopped", signal=signal.Signals(signum).name)


def main() -> int:
    if help_requested(IngestSettings, "python -m leaderboard.ingest"):
        return EXIT_OK
    try:
        settings = load_settings(IngestSettings)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    metrics = Metrics(settings.service_name)
    try:
        app = create_app(settings, metrics)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_shutdown)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.ingest_host,
            port=settings.ingest_port,
            log_config=None,
            access_log=False,  # the app logs /api requests itself; probes would drown it
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
            lifespan="on",
        )
    )
    log.info("starting", url=f"http://{settings.ingest_host}:{settings.ingest_port}/docs")
    server.run()
    if not server.started:
        log.error("the HTTP server did not start", port=settings.ingest_port)
        return EXIT_FAILED
    log.info("shutdown complete")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
