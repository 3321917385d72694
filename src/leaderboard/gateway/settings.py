"""``GatewaySettings``: where the gateway listens, who may connect, and its fan-out bounds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from leaderboard.core.config import Port, RedisSettings


class GatewaySettings(RedisSettings):
    """Settings of ``python -m leaderboard.gateway``."""

    service_name: str = Field("gateway", description="Name on every log line and metric.")
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
        "connection; well under the 60 s idle timeout of common proxies.",
    )
    gateway_ping_timeout_seconds: float = Field(
        20.0,
        gt=0,
        le=120,
        description="A client that does not answer a ping within this time is disconnected.",
    )
    gateway_send_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A client whose socket accepts no data for this long (it stopped "
        "reading) is disconnected; until then it only ever has the newest snapshot pending.",
    )
    gateway_ws_write_buffer_bytes: int = Field(
        32 * 1024,
        ge=4 * 1024,
        le=4 * 1024 * 1024,
        description="Bytes buffered in the process for one client before sends to it wait "
        "(bounds the memory a slow client can hold).",
    )
    gateway_ws_per_message_deflate: bool = Field(
        False,
        description="Offer permessage-deflate compression; it costs about 64 KiB of zlib "
        "state per connection, so it is off.",
    )
    gateway_rest_default_limit: int = Field(
        10, ge=1, le=1000, description="Page size of `/top` when `limit` is not given."
    )
    gateway_rest_max_limit: int = Field(
        100, ge=1, le=1000, description="Largest `limit` accepted by `/top` (more is a 422)."
    )
    gateway_rest_max_radius: int = Field(
        25, ge=0, le=500, description="Largest `radius` accepted by `/around` (more is a 422)."
    )
    gateway_kafka_replay_messages: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Snapshots re-read per partition of the `leaderboard` topic at start, "
        "before its end: covers snapshots published while the gateway started (on Kafka but "
        "not yet in the Redis cache). Versions make the replay harmless.",
    )

    @field_validator("gateway_allowed_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        for origin in filter(None, (part.strip() for part in value.split(","))):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must be `*` or start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _check_limits(self) -> GatewaySettings:
        if self.gateway_rest_default_limit > self.gateway_rest_max_limit:
            raise ValueError(
                "LEADERBOARD_GATEWAY_REST_DEFAULT_LIMIT must not exceed "
                "LEADERBOARD_GATEWAY_REST_MAX_LIMIT"
            )
        return self
