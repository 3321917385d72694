"""``python -m leaderboard.gateway``: serve the live page, WebSockets and REST API until SIGTERM.

Start-up: settings from the environment (a bad value ends the process with status 2 and
one line per problem), logging, metrics, the app, then uvicorn with the gateway's
WebSocket protocol (bounded write buffers, dead clients aborted; see ``transport``),
keepalive pings and no per-message compression unless configured. On SIGTERM uvicorn
stops accepting connections, closes every WebSocket with 1012 (service restart), waits
for the sessions to end (bounded by ``LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS``), then the
app stops its Kafka consumer thread; the process exits 0.
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
from leaderboard.gateway.app import create_app
from leaderboard.gateway.live import PER_MESSAGE_DEFLATE
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.gateway.transport import websocket_protocol

log = get_logger("leaderboard.gateway")

#: Largest message a client may send (clients send nothing meaningful yet).
WS_MAX_INCOMING_BYTES = 64 * 1024
#: Pending TCP connections; a reconnect storm after a restart arrives all at once.
LISTEN_BACKLOG = 4096


def _after_shutdown(signum: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it stopped on once it has shut down, to let the previous
    # handler act; the default action would end the process with -SIGTERM instead of 0.
    log.info("stopped", signal=signal.Signals(signum).name)


def uvicorn_config(settings: GatewaySettings, metrics: Metrics) -> uvicorn.Config:
    """The server configuration of one gateway process."""
    return uvicorn.Config(
        create_app(settings, metrics),
        host=settings.gateway_host,
        port=settings.gateway_port,
        root_path=settings.gateway_root_path,
        proxy_headers=True,
        forwarded_allow_ips=settings.gateway_forwarded_allow_ips,
        ws=websocket_protocol(),
        ws_ping_interval=settings.gateway_ping_interval_seconds,
        ws_ping_timeout=settings.gateway_ping_interval_seconds,
        ws_per_message_deflate=PER_MESSAGE_DEFLATE,
        ws_max_size=WS_MAX_INCOMING_BYTES,
        backlog=LISTEN_BACKLOG,
        log_config=None,
        access_log=False,  # one line per page view and probe would drown the useful ones
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
        lifespan="on",
    )


def main() -> int:
    if help_requested(GatewaySettings, "python -m leaderboard.gateway"):
        return EXIT_OK
    try:
        settings = load_settings(GatewaySettings)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    metrics = Metrics(settings.service_name)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_shutdown)
    server = uvicorn.Server(uvicorn_config(settings, metrics))
    log.info(
        "starting",
        url=f"http://{settings.gateway_host}:{settings.gateway_port}/",
        docs=f"http://{settings.gateway_host}:{settings.gateway_port}/docs",
    )
    server.run()
    if not server.started:
        log.error("the HTTP server did not start", port=settings.gateway_port)
        return EXIT_FAILED
    log.info("shutdown complete")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
