"""The Procfile's processes as ``make run`` reads them (with honcho's parser)."""

from __future__ import annotations

from pathlib import Path

from leaderboard.devstack.procfile import procfile_processes


def test_process_lines_are_read_in_order_without_comments_or_blank_lines(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "# services come later\n   # indented: comment\n\ningest: python -m leaderboard.ingest\n"
        "not a process line\nweb:   uvicorn app:api --port 8000\n"
    )
    assert procfile_processes(procfile) == {
        "ingest": "python -m leaderboard.ingest",
        "web": "uvicorn app:api --port 8000",
    }


def test_a_missing_procfile_has_no_processes(tmp_path: Path) -> None:
    assert procfile_processes(tmp_path / "Procfile") == {}
