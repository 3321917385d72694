"""``ScoreStore.insert`` against the real PostgreSQL: what COPY stores is exactly what the
event said (awkward text included), and each event id is stored once per table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.archiver.rows import event_row
from leaderboard.archiver.store import ScoreStore
from leaderboard.core.database import database_url
from leaderboard.devstack.settings import DevstackSettings
from tests.support.scores import make_event

pytestmark = pytest.mark.integration

#: Text COPY's format would misread if it were not escaped, and some it must not touch.
AWKWARD_NAMES = [
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "ünïcødé 🎮",
    "NUL\x00inside",
    None,
]


@pytest.fixture(scope="module")
def engine(stack: DevstackSettings) -> Iterator[Engine]:
    engine = create_engine(database_url(stack))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def board(engine: Engine) -> Iterator[str]:
    name = f"store-{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM score_events WHERE leaderboard = :b"), {"b": name})


def stored(engine: Engine, board: str) -> dict[uuid.UUID, tuple]:
    query = text(
        "SELECT event_id, player_id, display_name, score, occurred_at, version, "
        "kafka_partition, kafka_offset, archived_at FROM score_events WHERE leaderboard = :b"
    )
    with engine.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(query, {"b": board})}


def test_copy_stores_every_value_as_the_event_had_it(engine: Engine, board: str) -> None:
    plus_two = timezone(timedelta(hours=2))
    events = [
        make_event(f"p{i}", 1_000_000 - i, board, display_name=name)
        for i, name in enumerate(AWKWARD_NAMES)
    ]
    events.append(
        make_event("p.tz", 5, board).model_copy(
            update={"occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=plus_two)}
        )
    )
    rows = [event_row(event, partition=3, offset=10**12 + i) for i, event in enumerate(events)]

    result = ScoreStore(engine).insert(rows)

    assert (result.inserted, result.duplicates) == (len(events), 0)
    found = stored(engine, board)
    for i, event in enumerate(events):
        player, name, score, occurred_at, version, partition, offset, archived_at = found[
            event.event_id
        ]
        expected_name = rows[i]["display_name"]  # NUL replaced, the rest verbatim
        assert (player, name, score, version) == (
            event.player_id,
            expected_name,
            event.score,
            1,
        )
        assert occurred_at == event.occurred_at  # the same instant, offset respected
        assert (partition, offset) == (3, 10**12 + i)
        assert archived_at is not None
    assert found[events[-1].event_id][3] == datetime(2026, 1, 2, 1, 4, 5, 678901, tzinfo=UTC)


def test_ids_already_stored_or_repeated_in_the_batch_are_counted_as_duplicates(
    engine: Engine, board: str
) -> None:
    store = ScoreStore(engine)
    first = [make_event(f"p{i}", 10, board) for i in range(5)]
    assert store.insert([event_row(e, 0, i) for i, e in enumerate(first)]).inserted == 5

    again = [*first[:2], *[make_event(f"q{i}", 7, board) for i in range(3)]]
    again.append(again[-1])  # the same id twice in one batch
    result = store.insert([event_row(e, 1, 100 + i) for i, e in enumerate(again)])

    assert (result.inserted, result.duplicates) == (3, 3)
    found = stored(engine, board)
    assert len(found) == 8
    # A duplicate never overwrites the row first stored.
    assert found[first[0].event_id][5:7] == (0, 0)


def test_a_failed_batch_leaves_nothing_and_the_next_one_works(engine: Engine, board: str) -> None:
    store = ScoreStore(engine)
    good = make_event("ok", 3, board)
    too_long = event_row(make_event("bad", 4, board), 0, 1) | {"leaderboard": "x" * 65}
    with pytest.raises(Exception, match="value too long"):
        store.insert([event_row(good, 0, 0), too_long])
    assert stored(engine, board) == {}

    assert store.insert([event_row(good, 0, 0)]).inserted == 1
    assert set(stored(engine, board)) == {good.event_id}
