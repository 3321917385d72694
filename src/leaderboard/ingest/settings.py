"""``IngestSettings``: the ingest API's address, API keys, limits and Kafka deadline.

API keys have no default: without ``LEADERBOARD_INGEST_API_KEYS`` the settings do not
build, so the service refuses to start (``load_settings`` raises ``ConfigurationError``
naming the variable) instead of accepting scores from anyone.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from leaderboard.core.config import LeaderboardSettings, Port
from leaderboard.ingest.auth import Keyring

MIB = 1024 * 1024


class IngestSettings(LeaderboardSettings):
    """Settings of ``python -m leaderboard.ingest``."""

    service_name: str = Field("ingest", description="Name on every log line and metric.")
    http_port: Port = Field(8001, description="Port of the API, the probes and `/metrics`.")
    ingest_api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated `name:key` pairs of the callers allowed to submit "
        "scores (secret; required, no default). Keys are at least 16 characters.",
    )
    ingest_disabled_keys: str | None = Field(
        None,
        description="Comma-separated names of keys that are refused with 403 "
        "(revoked without redeploying the secret).",
    )
    ingest_max_batch_events: int = Field(
        500, ge=1, le=10_000, description="Most events accepted in one request."
    )
    ingest_max_body_bytes: int = Field(
        MIB, ge=1024, le=64 * MIB, description="Largest request body accepted, in bytes."
    )
    ingest_request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Deadline for Kafka to acknowledge a request's events; past it the "
        "request answers 503 (also the producer's delivery timeout).",
    )
    ingest_kafka_check_timeout_seconds: float = Field(
        1.0, gt=0, le=30, description="Bound on one Kafka reachability check (readiness)."
    )
    ingest_kafka_check_cache_seconds: float = Field(
        3.0,
        ge=0,
        le=300,
        description="How long a Kafka reachability result is reused by /readyz and by "
        "requests while the brokers are reported down.",
    )

    @model_validator(mode="after")
    def _check_api_keys(self) -> IngestSettings:
        Keyring.parse(self.ingest_api_keys, self.ingest_disabled_keys or "")
        return self

    def keyring(self) -> Keyring:
        """The parsed API keys (validated when the settings were built)."""
        return Keyring.parse(self.ingest_api_keys, self.ingest_disabled_keys or "")
