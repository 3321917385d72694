"""API keys: parsing the configured pairs and deciding on the key a request presents."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from leaderboard.ingest.auth import Decision, Keyring, Outcome, decide_role, presented_key

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


ADMIN_KEY = "admin-key-0123456789abcdef"


def admin_keyring() -> Keyring:
    return Keyring.parse(f"ops:{ADMIN_KEY}", variable="LEADERBOARD_INGEST_ADMIN_KEYS")


def test_admin_routes_take_only_admin_keys() -> None:
    admin, scores = admin_keyring(), keyring(disabled="old")
    assert decide_role(admin, scores, ADMIN_KEY) == Decision(Outcome.ACCEPTED, "ops")
    assert decide_role(admin, scores, None) == Decision(Outcome.MISSING)
    assert decide_role(admin, scores, "unknown-key-0123456789") == Decision(Outcome.UNKNOWN)
    # A real key of the other role is told apart (403) from an unknown one (401).
    assert decide_role(admin, scores, GAME_KEY) == Decision(Outcome.WRONG_ROLE, "game")
    assert decide_role(admin, scores, OLD_KEY) == Decision(Outcome.WRONG_ROLE, "old")


def test_score_routes_refuse_admin_keys() -> None:
    admin, scores = admin_keyring(), keyring()
    assert decide_role(scores, admin, GAME_KEY) == Decision(Outcome.ACCEPTED, "game")
    assert decide_role(scores, admin, ADMIN_KEY) == Decision(Outcome.WRONG_ROLE, "ops")
    assert decide_role(scores, None, ADMIN_KEY) == Decision(Outcome.UNKNOWN)


def test_without_admin_keys_no_key_is_accepted_on_admin_routes() -> None:
    assert decide_role(None, keyring(), None) == Decision(Outcome.MISSING)
    assert decide_role(None, keyring(), GAME_KEY) == Decision(Outcome.WRONG_ROLE, "game")
    assert decide_role(None, keyring(), ADMIN_KEY) == Decision(Outcome.UNKNOWN)


def test_keys_shared_by_two_keyrings_are_named() -> None:
    both = Keyring.parse(f"root:{GAME_KEY}", variable="LEADERBOARD_INGEST_ADMIN_KEYS")
    assert both.shared_with(keyring()) == [("root", "game")]
    assert admin_keyring().shared_with(keyring()) == []


def test_admin_key_errors_name_the_admin_variable() -> None:
    with pytest.raises(ValueError, match=r"^LEADERBOARD_INGEST_ADMIN_KEYS: the key named 'ops'"):
        Keyring.parse("ops:short", variable="LEADERBOARD_INGEST_ADMIN_KEYS")
