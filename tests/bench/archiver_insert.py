"""``python -m tests.bench.archiver_insert``: the archiver's batch insert, and alternatives.

A micro-benchmark behind a recommendation in ``docs/benchmarks.md``: the same decoded
rows are inserted in batches into an empty ``score_events`` table (migrated by the
archiver's own Alembic scripts, in a PostgreSQL schema of its own that is dropped at the
end) by

- ``store``: ``ScoreStore.insert``, what the archiver does (SQLAlchemy "insertmanyvalues":
  a multi-row ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id``);
- ``execute_values``: the same statement through ``psycopg2.extras.execute_values``;
- ``copy``: ``COPY`` into a temporary staging table, then ``INSERT ... SELECT ... ON
  CONFLICT (event_id) DO NOTHING RETURNING event_id`` from it, in the same transaction
  (the same exactly-once behaviour: existing event ids are skipped and the inserted
  ones returned).

For each it reports the wall time per row, this process's CPU per row (the client side:
SQLAlchemy, psycopg2, building the COPY text) and PostgreSQL's (all its processes, from
``/proc``). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg2.extras
from sqlalchemy import Engine, create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.archiver.rows import event_row
from leaderboard.archiver.store import ScoreStore
from leaderboard.core.config import load_settings
from leaderboard.core.database import database_url
from leaderboard.core.events import ScoreBounds, decode_score_event
from leaderboard.core.logging import configure_logging
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from tests.bench.measure import group_cpu_seconds
from tests.bench.workload import generate

COLUMNS = (
    "event_id",
    "leaderboard",
    "player_id",
    "display_name",
    "score",
    "occurred_at",
    "version",
    "kafka_partition",
    "kafka_offset",
)
_COLUMN_LIST = ", ".join(COLUMNS)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

Rows = Sequence[dict[str, Any]]


def _copy_field(value: object) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return,union-attr]
    return str(value).translate(_ESCAPES)


def copy_insert(engine: Engine) -> Callable[[Rows], int]:
    """The ``copy`` method; returns a function inserting one batch, returning the count."""
    raw = engine.raw_connection()

    def insert(rows: Rows) -> int:
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS staging "
                "(LIKE score_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join(_copy_field(row[column]) for column in COLUMNS))
                buffer.write("\n")
            buffer.seek(0)
            cursor.copy_expert(f"COPY staging ({_COLUMN_LIST}) FROM STDIN", buffer)
            cursor.execute(
                f"INSERT INTO score_events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM staging "
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            )
            inserted = len(cursor.fetchall())
        raw.commit()
        return inserted

    insert.close = raw.close  # type: ignore[attr-defined]
    return insert


def values_insert(engine: Engine) -> Callable[[Rows], int]:
    """The ``execute_values`` method."""
    raw = engine.raw_connection()

    def insert(rows: Rows) -> int:
        with raw.cursor() as cursor:
            returned = psycopg2.extras.execute_values(
                cursor,
                f"INSERT INTO score_events ({_COLUMN_LIST}) VALUES %s "
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                [tuple(row[column] for column in COLUMNS) for row in rows],
                page_size=len(rows),
                fetch=True,
            )
        raw.commit()
        return len(returned)

    insert.close = raw.close  # type: ignore[attr-defined]
    return insert


def store_insert(engine: Engine) -> Callable[[Rows], int]:
    """The ``store`` method: what the archiver runs."""
    store = ScoreStore(engine)
    return lambda rows: store.insert(rows).inserted


def measure(
    engine: Engine, postgres_pid: int, insert: Callable[[Rows], int], rows: Rows, batch: int
) -> dict[str, float]:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE score_events"))
    postgres_before = group_cpu_seconds([postgres_pid], "tree")
    cpu_before = time.process_time()
    started = time.perf_counter()
    inserted = sum(insert(rows[start : start + batch]) for start in range(0, len(rows), batch))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    postgres = group_cpu_seconds([postgres_pid], "tree") - postgres_before
    if inserted != len(rows):
        raise RuntimeError(f"inserted {inserted} of {len(rows)} rows")
    per_row = 1e6 / len(rows)
    return {
        "wall_us_per_row": round(wall * per_row, 1),
        "rows_per_s": round(len(rows) / wall),
        "client_cpu_us_per_row": round(cpu * per_row, 1),
        "postgres_cpu_us_per_row": round(postgres * per_row, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.archiver_insert")
    parser.add_argument("--rows", type=int, default=100_000, help="rows to insert per method")
    parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
    args = parser.parse_args(argv)
    configure_logging("bench", "WARNING", "console", stream=sys.stderr)
    settings = load_settings(DevstackSettings)
    postgres_pid = next(s.pid for s in Stack(settings).status() if s.name == "postgres")
    if postgres_pid is None:
        raise RuntimeError("PostgreSQL of the local stack is not running: `make infra-up`")
    workload = generate(args.rows, 100_000, ["bench-0", "bench-1"], display_share=0.1)
    bounds = ScoreBounds()
    rows = [
        event_row(decode_score_event(value, bounds), index % 6, index)
        for index, value in enumerate(workload.values)
    ]
    schema = f"bench_insert_{uuid.uuid4().hex[:8]}"
    shared = create_engine(database_url(settings))
    engine = create_engine(
        database_url(settings), connect_args={"options": f"-c search_path={schema}"}
    )
    results: dict[str, Any] = {"rows": args.rows, "batch": args.batch}
    try:
        with shared.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        upgrade(engine)
        for name, factory in (
            ("store", store_insert),
            ("execute_values", values_insert),
            ("copy", copy_insert),
        ):
            insert = factory(engine)
            try:
                results[name] = measure(engine, postgres_pid, insert, rows, args.batch)
            finally:
                getattr(insert, "close", lambda: None)()
            figures = results[name]
            sys.stdout.write(
                f"{name:<15} {figures['wall_us_per_row']:>6} us/row "
                f"({figures['rows_per_s']:,} rows/s), client CPU "
                f"{figures['client_cpu_us_per_row']} us, PostgreSQL CPU "
                f"{figures['postgres_cpu_us_per_row']} us\n"
            )
    finally:
        engine.dispose()
        with shared.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        shared.dispose()
    sys.stdout.write(orjson.dumps(results).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
