"""``GatewaySettings``: where the gateway listens, who may connect, and how many; the
Redis of the live standings and the PostgreSQL of the closed periods' final standings."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from leaderboard.core.config import Port, PostgresSettings, RedisSettings


class GatewaySettings(RedisSettings, PostgresSettings):
    """Settings of ``python -m leaderboard.gateway``. PostgreSQL is read only for closed
    periods (``?period=``, ``/periods``): without it the live reads still work."""

    service_name: ClassVar[str] = "gateway"
    http_port: Port = Field(
        8000, description="Port of the page, the WebSocket, the REST API and the probes."
    )
    gateway_root_path: Annotated[str, Field(pattern=r"^(/[A-Za-z0-9._~-]+)*$")] = Field(
        "",
        description="Path prefix under which a reverse proxy publishes the gateway when it "
        "strips the prefix before forwarding (e.g. `/leaderboard`); only the OpenAPI page "
        "needs it, the web page uses relative URLs.",
    )
    gateway_forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses of reverse proxies trusted for "
        "X-Forwarded-For/-Proto (`*` trusts every peer: only behind a private network).",
    )

    gateway_allowed_origins: str = Field(
        "",
        description="Comma-separated extra origins (`https://games.example.com`) whose pages "
        "may open the WebSocket, or `*` for any. Same-origin pages and clients that send "
        "no Origin header (game servers, scripts) are always allowed.",
    )
    gateway_allow_loopback_origins: bool = Field(
        True,
        description="Also allow pages served from localhost, 127.0.0.1 or [::1] on any port "
        "(local development); turn off in production.",
    )
    gateway_max_connections: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Most WebSocket clients served at once; one more is accepted and closed "
        "at once with code 1013 (try again later).",
    )
    gateway_ping_interval_seconds: float = Field(
        20.0,
        gt=0,
        le=55,
        description="Interval of WebSocket ping frames and of `heartbeat` messages on an idle "
        "connection; well under the 60 s idle timeout of common proxies. A client that does "
        "not answer a ping within as long again is disconnected.",
    )

    @field_validator("gateway_allowed_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        for origin in filter(None, (part.strip() for part in value.split(","))):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must be `*` or start with http:// or https://")
        return value
