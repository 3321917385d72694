"""The gateway process: ``leaderboard-gateway`` or ``python -m leaderboard.gateway``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leaderboard.core.web import run_web_service
from leaderboard.gateway.app import create_app
from leaderboard.gateway.live import PER_MESSAGE_DEFLATE
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.gateway.transport import websocket_protocol

#: Largest message a client may send (clients send nothing meaningful yet).
WS_MAX_INCOMING_BYTES = 64 * 1024
#: Pending TCP connections; a reconnect storm after a restart arrives all at once.
LISTEN_BACKLOG = 4096


def server_options(settings: GatewaySettings) -> dict[str, Any]:
    """uvicorn's options for the gateway: its WebSocket protocol (bounded write buffers,
    dead clients aborted; see ``transport``), keepalive pings, the proxy in front."""
    return {
        "root_path": settings.gateway_root_path,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.gateway_forwarded_allow_ips,
        "ws": websocket_protocol(),
        "ws_ping_interval": settings.gateway_ping_interval_seconds,
        "ws_ping_timeout": settings.gateway_ping_interval_seconds,
        "ws_per_message_deflate": PER_MESSAGE_DEFLATE,
        "ws_max_size": WS_MAX_INCOMING_BYTES,
        "backlog": LISTEN_BACKLOG,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the gateway until it is stopped; returns the exit status."""
    return run_web_service(GatewaySettings, create_app, argv, server_options=server_options)
