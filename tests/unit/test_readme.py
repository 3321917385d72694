"""The README documents every environment variable any settings class reads."""

import importlib
import pkgutil
import re
from pathlib import Path

import leaderboard
from leaderboard.core.config import ENV_PREFIX, LeaderboardSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def all_settings_classes() -> set[type[LeaderboardSettings]]:
    for module in pkgutil.walk_packages(leaderboard.__path__, "leaderboard."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, pending = set(), [LeaderboardSettings]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def documented_rows() -> dict[str, tuple[str, str]]:
    """Variable -> (default cell, description cell) from the README's table."""
    rows = re.findall(
        r"^\| `(LEADERBOARD_[A-Z0-9_]+)` \| ([^|]*) \| [^|]* \| ([^\n]*) \|$",
        README.read_text(),
        re.M,
    )
    return {name: (default.strip(), description) for name, default, description in rows}


def shown(default: object) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def code_defaults() -> dict[str, set[str]]:
    defaults: dict[str, set[str]] = {}
    for cls in all_settings_classes():
        for name, field in cls.model_fields.items():
            defaults.setdefault(f"{ENV_PREFIX}{name.upper()}", set()).add(shown(field.default))
    return defaults


def test_every_environment_variable_is_in_the_readme_table() -> None:
    missing = sorted(set(code_defaults()) - set(documented_rows()))
    assert not missing, "README.md lacks rows for: " + ", ".join(missing)


def test_no_stale_variables_in_the_readme_table() -> None:
    stale = sorted(set(documented_rows()) - set(code_defaults()))
    assert not stale, "README.md documents variables no code reads: " + ", ".join(stale)


def test_documented_defaults_match_the_code() -> None:
    rows = documented_rows()
    for variable, defaults in code_defaults().items():
        default_cell, description = rows[variable]
        if len(defaults) == 1:
            assert {default_cell} == defaults, f"{variable}: README {default_cell}, code {defaults}"
        else:
            # A per-service default: the description lists every value.
            for value in defaults - {default_cell}:
                assert value in description, f"{variable}: README does not mention {value}"
