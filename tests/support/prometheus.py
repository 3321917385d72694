"""Prometheus and promtool as `make prometheus-tools` builds them into the tools cache, and
a runner that fails a test with promtool's own output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.devstack.settings import DevstackSettings


def built_tool(name: str) -> Path:
    """The path of ``prometheus`` or ``promtool`` in the tools cache; the test fails (it is
    never skipped) when it has not been built."""
    path = load_settings(DevstackSettings).tools_bin_dir / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make prometheus-tools` to build it")
    return path


def promtool(*args: str | Path, cwd: Path | None = None) -> str:
    """Run promtool; its stdout, or the test fails with everything it printed."""
    result = subprocess.run(
        [str(built_tool("promtool")), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    if result.returncode != 0:
        pytest.fail(
            f"promtool {' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout
