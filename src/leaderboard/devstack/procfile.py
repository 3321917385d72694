"""Reading the project's ``Procfile``: which services ``make run`` starts with honcho.

The format is honcho's (and Heroku's): one ``name: command`` per line; blank lines and
``#`` comments are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

# The same pattern honcho uses for a process line.
_PROCESS_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def parse_procfile(text: str) -> dict[str, str]:
    """The processes of a Procfile, name to command, in file order."""
    processes: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _PROCESS_LINE.match(line.strip())
        if match:
            processes[match.group(1)] = match.group(2).strip()
    return processes


def procfile_processes(path: Path) -> dict[str, str]:
    """The processes of the Procfile at ``path``; empty if there is no such file."""
    try:
        return parse_procfile(path.read_text())
    except FileNotFoundError:
        return {}
