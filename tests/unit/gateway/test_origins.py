"""The WebSocket Origin allow-list."""

from __future__ import annotations

import pytest

from leaderboard.gateway.origins import OriginPolicy, normalise_origin


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://Games.Example.com", "https://games.example.com"),
        ("https://games.example.com:443", "https://games.example.com"),
        ("http://games.example.com:80", "http://games.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file://", None),
        ("http://host:99999", None),
        ("ftp://example.com", None),
    ],
)
def test_origins_are_normalised(origin: str, expected: str | None) -> None:
    assert normalise_origin(origin) == expected


STRICT = OriginPolicy.from_setting("https://games.example.com", allow_loopback=False)


def test_clients_without_an_origin_are_allowed() -> None:
    assert STRICT.permits(None, "gateway:8000", None)


def test_a_configured_origin_is_allowed_in_any_spelling() -> None:
    assert STRICT.permits("https://GAMES.example.com:443", "gateway:8000", None)


def test_another_site_is_refused() -> None:
    assert not STRICT.permits("https://evil.example.net", "gateway:8000", None)
    assert not STRICT.permits("null", "gateway:8000", None)


def test_the_page_of_the_gateway_itself_is_allowed() -> None:
    assert STRICT.permits("http://gateway:8000", "gateway:8000", None)
    assert STRICT.permits("https://lb.example.org", "lb.example.org", None)
    # Same host on another port is another origin.
    assert not STRICT.permits("http://gateway:9000", "gateway:8000", None)
    # A Host without a port means the origin's default one: behind a proxy that ends TLS
    # the gateway cannot know the browser's scheme, the Origin says it.
    assert STRICT.permits("https://gateway", "gateway", None)
    assert not STRICT.permits("https://gateway", "gateway:80", None)


def test_behind_a_proxy_the_forwarded_host_counts() -> None:
    assert STRICT.permits(
        "https://play.example.com", "10.0.0.7:8000", "play.example.com, proxy.internal"
    )
    assert not STRICT.permits("https://evil.example.net", "10.0.0.7:8000", "play.example.com")


def test_loopback_pages_are_allowed_unless_turned_off() -> None:
    relaxed = OriginPolicy.from_setting("", allow_loopback=True)
    for origin in ("http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080"):
        assert relaxed.permits(origin, "gateway:8000", None)
        assert not STRICT.permits(origin, "gateway:8000", None)


def test_a_star_allows_every_origin() -> None:
    anything = OriginPolicy.from_setting("*", allow_loopback=False)
    assert anything.permits("https://anywhere.example", "gateway:8000", None)
    assert not anything.permits("null", "gateway:8000", None)
