"""The PostgreSQL URL the services connect with."""

import pytest

from leaderboard.core.config import PostgresSettings, load_settings
from leaderboard.core.database import database_url


def test_the_database_url_quotes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_POSTGRES_PASSWORD", "p@ss/w:rd")
    monkeypatch.setenv("LEADERBOARD_POSTGRES_HOST", "db")
    url = database_url(load_settings(PostgresSettings))
    assert url.password == "p@ss/w:rd"
    assert (url.host, url.drivername) == ("db", "postgresql+psycopg2")
    assert "p@ss" not in url.render_as_string(hide_password=True)
