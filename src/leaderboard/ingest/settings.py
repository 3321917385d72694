"""``IngestSettings``: the ingest API's address, API and admin keys, batch limit, Kafka
deadline, and the PostgreSQL (board definitions) and Redis (standings) of the admin API.

API keys have no default: without them the service refuses to start.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from leaderboard.core.config import Port, PostgresSettings, RedisSettings
from leaderboard.ingest.auth import ADMIN_KEYS_VARIABLE, KEYS_VARIABLE, Keyring

MIB = 1024 * 1024
#: Request body allowed per event of the largest batch (an event is well under 1 KiB).
BODY_BYTES_PER_EVENT = 2048


class IngestSettings(RedisSettings, PostgresSettings):
    """Settings of ``python -m leaderboard.ingest``. Only the admin API uses PostgreSQL
    and Redis: without admin keys the service connects to neither."""

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
    ingest_admin_keys: SecretStr | None = Field(
        None,
        description="Comma-separated `name:key` pairs of the operators allowed to use "
        "the admin API `/api/admin/` (secret; keys of at least 16 characters, none shared "
        "with `LEADERBOARD_INGEST_API_KEYS`). Unset: the admin routes answer 503.",
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
        keyring = self.keyring()
        admin = self.admin_keyring()
        if admin is not None and (shared := admin.shared_with(keyring)):
            # One key for both roles would let a game server reconfigure boards.
            pairs = ", ".join(f"{mine!r} (admin) and {theirs!r}" for mine, theirs in shared)
            raise ValueError(
                f"{ADMIN_KEYS_VARIABLE} and {KEYS_VARIABLE} share a key: {pairs}; "
                "an admin key must not submit scores, give it its own value"
            )
        return self

    @property
    def max_body_bytes(self) -> int:
        """Largest request body accepted: 1 MiB, or more for a larger batch limit."""
        return max(MIB, self.ingest_max_batch_events * BODY_BYTES_PER_EVENT)

    def keyring(self) -> Keyring:
        """The parsed API keys (validated when the settings were built)."""
        return Keyring.parse(self.ingest_api_keys, self.ingest_disabled_keys or "")

    def admin_keyring(self) -> Keyring | None:
        """The parsed admin keys, or None when none are configured (admin API off)."""
        raw = self.ingest_admin_keys
        if raw is None or not raw.get_secret_value().strip():
            return None
        return Keyring.parse(raw, variable=ADMIN_KEYS_VARIABLE)
