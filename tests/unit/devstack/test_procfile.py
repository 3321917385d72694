"""Procfile parsing, as ``make run`` reads it."""

from __future__ import annotations

from pathlib import Path

from leaderboard.devstack.procfile import parse_procfile, procfile_processes


def test_process_lines_are_read_in_order() -> None:
    text = "ingest: python -m leaderboard.ingest\n\nweb:   uvicorn app:api --port 8000  \n"
    assert parse_procfile(text) == {
        "ingest": "python -m leaderboard.ingest",
        "web": "uvicorn app:api --port 8000",
    }


def test_comments_blank_and_malformed_lines_are_ignored() -> None:
    text = "# services come later\n   # indented comment: x\n\nnot a process line\nname:\n"
    assert parse_procfile(text) == {}


def test_a_missing_procfile_has_no_processes(tmp_path: Path) -> None:
    assert procfile_processes(tmp_path / "Procfile") == {}


def test_a_procfile_on_disk_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("worker: python -m leaderboard.worker\n")
    assert procfile_processes(tmp_path / "Procfile") == {"worker": "python -m leaderboard.worker"}
