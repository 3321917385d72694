"""Settings read from ``LEADERBOARD_*`` variables: the shared base and the Redis/PostgreSQL bases.

Each service builds its subclass in ``main()``; a bad value fails with one line per variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from leaderboard.core.errors import ConfigurationError
from leaderboard.core.events import SafeInteger

ENV_PREFIX = "LEADERBOARD_"

Port = Annotated[int, Field(ge=1, le=65535)]
TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]

#: librdkafka properties the pass-through settings may not set: the offset and
#: exactly-once guarantees depend on them, or another setting owns them (aliases included).
PROTECTED_KAFKA_PROPERTIES = frozenset(
    {
        "group.id",
        "enable.auto.offset.store",
        "enable.auto.commit",
        "auto.commit.enable",
        "auto.offset.reset",
        "isolation.level",
        "partition.assignment.strategy",
        "enable.idempotence",
        "acks",
        "request.required.acks",
        "transactional.id",
        "bootstrap.servers",
        "metadata.broker.list",
        "security.protocol",
        "sasl.mechanism",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
    }
)


def _parse_kafka_properties(value: object) -> object:
    """A JSON object from the environment (or a mapping from code) of plain values."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object of librdkafka properties") from None
    if not isinstance(value, Mapping):
        raise ValueError("must be a JSON object of librdkafka properties")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"has a key {key!r} that is not a property name")
        if not isinstance(item, str | int | float | bool):
            kind = type(item).__name__
            raise ValueError(f"sets {key!r} to {kind}: use a string, number or boolean")
    return dict(value)


def _refuse_protected(value: dict[str, Any]) -> dict[str, Any]:
    refused = sorted(PROTECTED_KAFKA_PROPERTIES.intersection(value))
    if refused:
        raise ValueError(
            f"may not set {', '.join(refused)}: the services set it themselves (a guarantee "
            "depends on it, or a LEADERBOARD_KAFKA_* setting owns it)"
        )
    return value


#: Extra librdkafka properties; values are never echoed, as they may hold credentials.
KafkaProperties = Annotated[
    dict[str, bool | int | float | str],
    NoDecode,
    BeforeValidator(_parse_kafka_properties),
    AfterValidator(_refuse_protected),
]


class LeaderboardSettings(BaseSettings):
    """Settings shared by every process: logging, HTTP address, shutdown, Kafka and topics."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
        # An empty variable means "not set", so `FOO=` never becomes an empty password.
        env_ignore_empty=True,
    )

    #: Name on every log line and metric and the Kafka client id: each service sets its own.
    service_name: ClassVar[str] = "leaderboard"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`auto` is console on a terminal and JSON lines otherwise."
    )
    http_host: str = Field(
        "127.0.0.1",
        description="Address the process's HTTP server binds (0.0.0.0 in pods): the API, "
        "probes and `/metrics` of a web service; probes and `/metrics` of a worker.",
    )
    http_port: Port = Field(9100, description="Port of the process's HTTP server.")
    shutdown_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Bound on graceful shutdown after SIGTERM/SIGINT."
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated `host:port` list of Kafka brokers."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="librdkafka `security.protocol`."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    kafka_ssl_ca_location: str | None = Field(
        None, description="CA bundle path for SSL/SASL_SSL brokers."
    )
    kafka_consumer_config: KafkaProperties = Field(
        {},
        description="JSON object of extra librdkafka properties for every consumer, e.g. "
        '`{"session.timeout.ms": 10000}` (45000 by default); they override the project\'s '
        "and the service's defaults. Properties the delivery guarantees depend on or another "
        "setting owns (group.id, offsets, isolation.level, acks, idempotence, brokers, "
        "security) are refused.",
    )
    kafka_producer_config: KafkaProperties = Field(
        {},
        description="JSON object of extra librdkafka properties for every producer, e.g. "
        '`{"linger.ms": 20}`; the same rules as `LEADERBOARD_KAFKA_CONSUMER_CONFIG`.',
    )

    topic_game_score: TopicName = Field("game-score", description="Score events topic.")
    topic_game_score_dlq: TopicName = Field(
        "game-score.dlq", description="Dead-letter topic for invalid score events."
    )
    topic_leaderboard_change: TopicName = Field(
        "leaderboard-change", description="Change notices topic."
    )
    topic_leaderboard: TopicName = Field(
        "leaderboard", description="Compacted topic of leaderboard snapshots."
    )
    topic_leaderboard_definitions: TopicName = Field(
        "leaderboard-definitions", description="Compacted topic of board definitions."
    )
    topic_player_erasures: TopicName = Field(
        "player-erasures", description="Compacted topic of erased players (hashed ids)."
    )
    topic_period_closed: TopicName = Field(
        "leaderboard-period-closed",
        description="Topic of closed periods' final standings (one message per period).",
    )

    score_min: SafeInteger = Field(
        1,
        description="Smallest score of one event on a board whose definition sets no "
        "`score_min` (at least -(2**53 - 1)).",
    )
    score_max: SafeInteger = Field(
        1_000_000,
        description="Largest score of one event on a board whose definition sets no "
        "`score_max` (at most 2**53 - 1).",
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap_servers(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"must be a comma-separated host:port list, not {server!r}")
        return value

    @model_validator(mode="after")
    def _check_score_bounds(self) -> LeaderboardSettings:
        if self.score_min > self.score_max:
            raise ValueError(
                f"{ENV_PREFIX}SCORE_MIN={self.score_min} is above "
                f"{ENV_PREFIX}SCORE_MAX={self.score_max}"
            )
        return self

    @model_validator(mode="after")
    def _check_sasl_credentials(self) -> LeaderboardSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                f"{ENV_PREFIX}KAFKA_SASL_USERNAME and {ENV_PREFIX}KAFKA_SASL_PASSWORD"
            )
        return self


class RedisSettings(LeaderboardSettings):
    """Connection to the Redis server that holds the sorted sets and snapshot cache."""

    redis_host: str = Field("127.0.0.1", description="Redis host.")
    redis_port: Port = Field(6379, description="Redis port.")
    redis_db: Annotated[int, Field(ge=0, le=15)] = Field(0, description="Redis database number.")
    redis_username: str | None = Field(None, description="Redis ACL user (optional).")
    redis_password: SecretStr | None = Field(None, description="Redis password (secret).")
    redis_ssl: bool = Field(False, description="Use TLS to reach Redis.")
    redis_key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = Field(
        "lb", description="Hash tag and prefix of every Redis key the project writes."
    )

    def redis_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis`` (password unwrapped only here)."""
        return {
            "host": self.redis_host,
            "port": self.redis_port,
            "db": self.redis_db,
            "username": self.redis_username,
            "password": self.redis_password.get_secret_value() if self.redis_password else None,
            "ssl": self.redis_ssl,
            "socket_timeout": 10.0,
            "socket_connect_timeout": 5.0,
            "health_check_interval": 30,
        }


class PostgresSettings(LeaderboardSettings):
    """Connection to the PostgreSQL database that archives every score event."""

    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host.")
    postgres_port: Port = Field(5432, description="PostgreSQL port.")
    postgres_user: str = Field("leaderboard", min_length=1, description="PostgreSQL role.")
    postgres_password: SecretStr | None = Field(
        None, description="PostgreSQL password (secret); the local stack trusts loopback."
    )
    postgres_database: str = Field("leaderboard", min_length=1, description="Database name.")


SettingsT = TypeVar("SettingsT", bound=LeaderboardSettings)


def load_settings(settings_class: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build ``settings_class`` from the environment, or raise ``ConfigurationError``.

    ``overrides`` take precedence over the environment (tests use them).
    """
    try:
        return settings_class(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(settings_class, exc)) from None


#: Fields whose values may hold credentials (librdkafka properties), never echoed.
_PASS_THROUGH_FIELDS = frozenset({"kafka_consumer_config", "kafka_producer_config"})

_KIND_MESSAGES: Mapping[str, str] = {
    "int_parsing": "is not an integer",
    "int_from_float": "is not an integer",
    "float_parsing": "is not a number",
    "bool_parsing": "is not a boolean (use true or false)",
    "missing": "is required but not set",
}


def describe_validation_error(
    settings_class: type[LeaderboardSettings], exc: ValidationError
) -> list[str]:
    """One line per problem, naming the environment variable and what was wrong with it."""
    problems = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        field = str(error["loc"][0])
        variable = f"{ENV_PREFIX}{field.upper()}"
        annotation = (
            settings_class.model_fields[field].annotation
            if field in (settings_class.model_fields)
            else None
        )
        secret = field in _PASS_THROUGH_FIELDS or (
            annotation is not None and "SecretStr" in repr(annotation)
        )
        shown = "<hidden>" if secret else repr(error.get("input"))
        kind = error["type"]
        if kind in _KIND_MESSAGES:
            what = _KIND_MESSAGES[kind]
        elif kind == "literal_error":
            what = f"is not one of {error.get('ctx', {}).get('expected')}"
        else:
            what = str(error["msg"]).removeprefix("Value error, ")
            what = what.replace("Input should be", "must be").replace("String should", "must")
        problems.append(f"{variable}={shown} {what}")
    return problems
