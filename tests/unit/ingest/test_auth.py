"""API keys: parsing the configured pairs and deciding on the key a request presents."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from leaderboard.ingest.auth import Decision, Keyring, Outcome, presented_key

GAME_KEY = "game-key-0123456789abcdef"
OLD_KEY = "old-key-0123456789abcdef"


def keyring(disabled: str = "") -> Keyring:
    return Keyring.parse(SecretStr(f"game:{GAME_KEY}, old:{OLD_KEY}"), disabled)


def test_a_configured_key_is_accepted_and_named() -> None:
    assert keyring().authenticate(GAME_KEY) == Decision(Outcome.ACCEPTED, "game")
    assert keyring().authenticate(OLD_KEY) == Decision(Outcome.ACCEPTED, "old")


def test_no_key_an_unknown_key_and_a_disabled_key_are_told_apart() -> None:
    ring = keyring(disabled="old")
    assert ring.authenticate(None) == Decision(Outcome.MISSING)
    assert ring.authenticate("") == Decision(Outcome.MISSING)
    assert ring.authenticate(GAME_KEY + "x") == Decision(Outcome.UNKNOWN)
    assert ring.authenticate(OLD_KEY) == Decision(Outcome.DISABLED, "old")
    assert ring.authenticate(GAME_KEY) == Decision(Outcome.ACCEPTED, "game")


def test_the_names_and_disabled_names_are_listed_without_the_keys() -> None:
    ring = keyring(disabled="old")
    assert ring.names == ["game", "old"]
    assert ring.disabled_names == ["old"]
    assert GAME_KEY not in repr(ring._keys)


def test_a_key_may_contain_colons_and_whitespace_around_pairs_is_ignored() -> None:
    ring = Keyring.parse(" a : x:y:0123456789abcdef ,, ", "")
    assert ring.authenticate("x:y:0123456789abcdef") == Decision(Outcome.ACCEPTED, "a")


@pytest.mark.parametrize(
    ("raw", "disabled", "message"),
    [
        (None, "", "LEADERBOARD_INGEST_API_KEYS is required"),
        ("   ", "", "LEADERBOARD_INGEST_API_KEYS is required"),
        (",,", "", "holds no name:key pair"),
        (f"game{GAME_KEY}", "", "entry 1 is not a name:key pair"),
        (f"game:{GAME_KEY},:{OLD_KEY}", "", "entry 2 is not a name:key pair"),
        ("game:", "", "entry 1 is not a name:key pair"),
        (f"bad name:{GAME_KEY}", "", "bad name 'bad name'"),
        ("game:short", "", "the key named 'game' is shorter than 16 characters"),
        (f"game:{GAME_KEY},game:{OLD_KEY}", "", "the name 'game' appears twice"),
        (f"game:{GAME_KEY},copy:{GAME_KEY}", "", "'game' and 'copy' are the same key"),
        (f"game:{GAME_KEY}", "gmae", "LEADERBOARD_INGEST_DISABLED_KEYS names keys that"),
    ],
)
def test_bad_configuration_says_what_is_wrong_without_echoing_keys(
    raw: str | None, disabled: str, message: str
) -> None:
    with pytest.raises(ValueError, match="LEADERBOARD_INGEST") as caught:
        Keyring.parse(raw, disabled)
    assert message in str(caught.value)
    assert GAME_KEY not in str(caught.value)
    assert "short" not in str(caught.value).replace("shorter", "")


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        (f"Bearer {GAME_KEY}", None, GAME_KEY),
        (f"bearer   {GAME_KEY} ", None, GAME_KEY),
        (None, GAME_KEY, GAME_KEY),
        (f"Bearer {GAME_KEY}", OLD_KEY, GAME_KEY),
        (f"Basic {GAME_KEY}", None, None),
        (f"Basic {GAME_KEY}", OLD_KEY, OLD_KEY),
        ("Bearer ", None, None),
        (None, "  ", None),
        (None, None, None),
    ],
)
def test_the_presented_key_comes_from_the_bearer_header_then_x_api_key(
    authorization: str | None, x_api_key: str | None, expected: str | None
) -> None:
    assert presented_key(authorization, x_api_key) == expected
