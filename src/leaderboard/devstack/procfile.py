"""The services of the project's ``Procfile``, read with honcho's own parser (honcho runs
them), so ``run`` sees exactly the processes ``honcho start`` will start."""

from __future__ import annotations

from pathlib import Path

from honcho.environ import parse_procfile  # type: ignore[import-untyped]


def procfile_processes(path: Path) -> dict[str, str]:
    """The processes of the Procfile at ``path``, name to command; empty if there is no file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return dict(parse_procfile(text).processes)
