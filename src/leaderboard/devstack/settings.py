"""``DevstackSettings``: what the local stack serves and where it keeps its files.

Its connection fields are the very ones services read, so the stack serves what they expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from leaderboard.core.config import Port, PostgresSettings, RedisSettings


class DevstackSettings(RedisSettings, PostgresSettings):
    """Settings of ``python -m leaderboard.devstack``: the servers' addresses plus its own."""

    service_name: ClassVar[str] = "devstack"

    devstack_dir: Path = Field(
        Path(".devstack"),
        description="Folder of the local stack's data, logs and pid files (kept by `down`).",
    )
    devstack_cache_dir: Path | None = Field(
        None,
        description="Download cache (Kafka jars, Maven repository); `<devstack_dir>/cache` "
        "when unset. Several stacks can share one.",
    )
    cache_dir: Path = Field(
        Path("~/.cache/leaderboard"),
        description="Cache of the tools `k8s/install-tools.sh` builds from the Go module "
        "proxy (`make prometheus-tools`, `make kube-tools`), outside the clone; the local "
        "Prometheus runs `<cache_dir>/tools/bin/prometheus`.",
    )
    prometheus_port: Port = Field(
        9090,
        description="Port of the HTTP API of the Prometheus `make run` starts (on 127.0.0.1).",
    )

    # Absolute paths, fixed when the settings are built: they are compared with the command
    # lines of running processes, which must not depend on the caller's current directory
    # nor on a symlink on the way.
    @field_validator("devstack_dir", "devstack_cache_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @property
    def downloads_dir(self) -> Path:
        """The download cache in use: ``devstack_cache_dir`` or ``<devstack_dir>/cache``."""
        return self.devstack_cache_dir or self.devstack_dir / "cache"

    @property
    def logs_dir(self) -> Path:
        """Where each server's stdout and stderr are appended, one file per server."""
        return self.devstack_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Where the pid files live."""
        return self.devstack_dir / "run"

    @property
    def tools_bin_dir(self) -> Path:
        """Where `k8s/install-tools.sh` puts the binaries it builds."""
        return self.cache_dir / "tools" / "bin"
