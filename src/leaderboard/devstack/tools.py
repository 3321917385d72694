"""Programs the test suite needs besides the servers: a browser and a reverse proxy.

``ensure_test_tools()`` installs Debian's ``chromium`` and ``nginx`` when missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leaderboard.core.logging import get_logger
from leaderboard.devstack.packages import INSTALL_TIMEOUT_SECONDS, ensure_package, which
from leaderboard.devstack.settings import DevstackSettings

log = get_logger(__name__)


def _find(*candidates: str) -> Callable[[], Path | None]:
    """Look a program up on PATH, then at fixed paths (``/usr/sbin`` is not on every PATH)."""

    def find() -> Path | None:
        found = which(Path(candidates[0]).name)
        if found is not None:
            return found
        for candidate in candidates:
            path = Path(candidate)
            if path.is_absolute() and path.is_file():
                return path
        return None

    return find


@dataclass(frozen=True)
class TestTool:
    """One program of the test suite and the Debian package that provides it."""

    __test__ = False  # not a pytest test class despite its name

    name: str
    package: str
    what: str
    find: Callable[[], Path | None]


TEST_TOOLS = (
    TestTool(
        "chromium",
        "chromium",
        "Chromium (the browser of the end-to-end tests)",
        _find("chromium", "/usr/bin/chromium"),
    ),
    TestTool(
        "nginx",
        "nginx",
        "nginx (the reverse proxy of the end-to-end tests)",
        _find("nginx", "/usr/sbin/nginx"),
    ),
)


def ensure_test_tools(settings: DevstackSettings) -> dict[str, Path]:
    """Install the missing test tools; return each one's path."""
    found = {}
    for tool in TEST_TOOLS:
        found[tool.name] = ensure_package(
            tool.find,
            tool.package,
            what=tool.what,
            log_file=settings.logs_dir / "apt.log",
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
    log.info("test tools installed", **{name: str(path) for name, path in found.items()})
    return found
