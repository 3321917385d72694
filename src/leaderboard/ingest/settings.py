"""``IngestSettings``: the ingest API's address, API keys, batch limit and Kafka deadline.

API keys have no default: without them the service refuses to start.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from leaderboard.core.config import LeaderboardSettings, Port
from leaderboard.ingest.auth import Keyring

MIB = 1024 * 1024
#: Request body allowed per event of the largest batch (an event is well under 1 KiB).
BODY_BYTES_PER_EVENT = 2048


class IngestSettings(LeaderboardSettings):
    """Settings of ``python -m leaderboard.ingest``."""

    service_name: ClassVar[str] = "ingest"
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
    ingest_request_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Deadline for Kafka to acknowledge a request's events; past it the "
        "request answers 503 (also the producer's delivery timeout).",
    )

    @model_validator(mode="after")
    def _check_api_keys(self) -> IngestSettings:
        Keyring.parse(self.ingest_api_keys, self.ingest_disabled_keys or "")
        return self

    @property
    def max_body_bytes(self) -> int:
        """Largest request body accepted: 1 MiB, or more for a larger batch limit."""
        return max(MIB, self.ingest_max_batch_events * BODY_BYTES_PER_EVENT)

    def keyring(self) -> Keyring:
        """The parsed API keys (validated when the settings were built)."""
        return Keyring.parse(self.ingest_api_keys, self.ingest_disabled_keys or "")
