"""Which web pages may open the WebSocket: the Origin allow-list.

The rules and why they are safe behind a proxy: docs/api.md, "Origins".
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def normalise_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in canonical form, or None when it is not an origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _authority(origin: str) -> str:
    """``host[:port]`` of a normalised origin, with the default port made explicit."""
    scheme, _, authority = origin.partition("://")
    if authority.endswith("]") or ":" not in authority.rsplit("]", 1)[-1]:
        return f"{authority}:{DEFAULT_PORTS[scheme]}"
    return authority


def _host_authority(host: str, scheme: str) -> str | None:
    """A ``Host`` header value as ``host:port`` (default port of ``scheme`` when absent)."""
    origin = normalise_origin(f"{scheme}://{host.strip()}")
    return None if origin is None else _authority(origin)


@dataclass(frozen=True)
class OriginPolicy:
    """The allow-list decision for one WebSocket handshake."""

    allowed: frozenset[str] = frozenset()
    allow_any: bool = False
    allow_loopback: bool = True

    @classmethod
    def from_setting(cls, value: str, *, allow_loopback: bool) -> OriginPolicy:
        origins = [part.strip() for part in value.split(",") if part.strip()]
        normalised = {normalise_origin(origin) for origin in origins if origin != "*"}
        return cls(
            allowed=frozenset(origin for origin in normalised if origin),
            allow_any="*" in origins,
            allow_loopback=allow_loopback,
        )

    def permits(self, origin: str | None, host: str | None, forwarded_host: str | None) -> bool:
        """Whether a handshake with these ``Origin``, ``Host``, ``X-Forwarded-Host`` may go on."""
        if origin is None:
            return True
        canonical = normalise_origin(origin)
        if canonical is None:
            return False  # "null" (sandboxed or file:// pages) and garbage
        if self.allow_any or canonical in self.allowed:
            return True
        scheme = canonical.partition("://")[0]
        authority = _authority(canonical)
        if self.allow_loopback and authority.rsplit(":", 1)[0].strip("[]") in LOOPBACK_HOSTS:
            return True
        for header in (host, forwarded_host):
            if not header:
                continue
            # X-Forwarded-Host may list several hops; the first is what the browser used.
            candidate = header.split(",")[0]
            if _host_authority(candidate, scheme) == authority:
                return True
        return False
