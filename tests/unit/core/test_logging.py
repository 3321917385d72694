"""configure_logging() renders JSON off a terminal, binds context, and is idempotent."""

import io
import json
import logging

import structlog

from leaderboard.core.logging import configure_logging, get_logger


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_service_and_bound_context() -> None:
    stream = io.StringIO()
    configure_logging("ranker", stream=stream)
    with structlog.contextvars.bound_contextvars(topic="game-score", partition=3, offset=42):
        get_logger("test").info("applied batch", size=10)
    [line] = lines(stream)
    assert line["event"] == "applied batch"
    assert line["service"] == "ranker"
    assert (line["topic"], line["partition"], line["offset"]) == ("game-score", 3, 42)
    assert line["level"] == "info"
    assert line["size"] == 10
    assert line["timestamp"].endswith("Z")


def test_values_keyed_by_partition_number_are_rendered() -> None:
    stream = io.StringIO()
    configure_logging("gateway", stream=stream)
    get_logger("test").info("consuming snapshots", start_offsets={0: 1400, 3: 7})
    [line] = lines(stream)
    assert line["start_offsets"] == {"0": 1400, "3": 7}


def test_standard_library_records_use_the_same_renderer() -> None:
    stream = io.StringIO()
    configure_logging("gateway", stream=stream)
    logging.getLogger("uvicorn.error").warning("port %d busy", 8000)
    [line] = lines(stream)
    assert line == line | {"event": "port 8000 busy", "service": "gateway", "level": "warning"}


def test_exceptions_are_rendered_into_the_json_line() -> None:
    stream = io.StringIO()
    configure_logging("archiver", stream=stream)
    try:
        raise RuntimeError("database went away")
    except RuntimeError:
        get_logger("test").exception("insert failed")
    [line] = lines(stream)
    assert "RuntimeError: database went away" in line["exception"]


def test_calling_twice_does_not_duplicate_lines() -> None:
    stream = io.StringIO()
    configure_logging("ranker", stream=stream)
    configure_logging("ranker", stream=stream)
    get_logger("test").info("once")
    assert len(lines(stream)) == 1


def test_level_filters_lower_records() -> None:
    stream = io.StringIO()
    configure_logging("ranker", level="WARNING", stream=stream)
    get_logger("test").info("hidden")
    get_logger("test").warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_console_on_a_terminal() -> None:
    stream = TerminalStream()
    configure_logging("ranker", stream=stream)
    get_logger("test").info("readable", offset=7)
    output = stream.getvalue()
    assert not output.startswith("{")
    assert "readable" in output
    assert "offset" in output
