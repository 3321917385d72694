"""The order of a reset's, a removal's and an erasure's steps, and what each failure
leaves done, with small fakes of PostgreSQL, Redis and Kafka (the real ones:
tests/integration/test_admin_standings.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from leaderboard.core.boards import BoardDefinition, Sort
from leaderboard.core.erasures import erasure_key
from leaderboard.core.errors import DatabaseError, KafkaError
from leaderboard.core.events import ChangeNotice
from leaderboard.ingest.board_admin import (
    Definitions,
    ErasureIncompleteError,
    NotAuditedError,
    NotPublishedError,
    StandingsNotClearedError,
)
from leaderboard.ingest.erasure import Recorded
from leaderboard.ingest.standings import Removal

RESET_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DEFINITIONS, NOTICES = "definitions", "notices"


class Steps:
    """What the fakes did, in order; ``failing`` names the steps that raise."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.failing: set[str] = set()

    def step(self, name: str, error: Exception) -> None:
        if name in self.failing:
            raise error
        self.done.append(name)


class FakeStore:
    def __init__(self, steps: Steps, defined: bool = True, **spec: Any) -> None:
        self.steps = steps
        self.defined = defined
        self.spec = spec  # fields of the stored definition beyond the defaults
        self.audited: list[dict[str, Any]] = []

    def reset(self, board_id: str, actor: str, reason: str | None) -> BoardDefinition | None:
        self.steps.step("postgres.reset", DatabaseError("down"))
        if not self.defined:
            return None
        return BoardDefinition(
            id=board_id, title="Laps", revision=4, updated_at=RESET_AT, reset_at=RESET_AT
        )

    def get(self, board_id: str) -> BoardDefinition | None:
        if not self.defined:
            return None
        return BoardDefinition(
            id=board_id, title="Laps", sort="asc", revision=4, updated_at=RESET_AT, **self.spec
        )

    def audit(self, actor: str, action: str, board_id: str, **fields: Any) -> None:
        self.steps.step("postgres.audit", DatabaseError("down"))
        self.audited.append({"action": action, **fields})


class FakeStandings:
    def __init__(self, steps: Steps, removal: Removal) -> None:
        self.steps = steps
        self.removal = removal
        self.sorts: list[Sort] = []
        self.live_periods: list[str] = []

    def reset(self, board_id: str, reset_at: datetime) -> int | None:
        self.steps.step("redis.reset", RedisConnectionError("refused"))
        return 3

    def remove_player(self, board_id: str, player_id: str, sort: Sort, live_period: str) -> Removal:
        self.steps.step("redis.remove", RedisConnectionError("refused"))
        self.sorts.append(sort)
        self.live_periods.append(live_period)
        return self.removal


class FakeSink:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.records: list[tuple[str, bytes, bytes | None]] = []

    async def send_records(
        self, records: Sequence[tuple[bytes, bytes | None]], topic: str | None = None
    ) -> None:
        name = f"kafka.{topic or DEFINITIONS}"
        self.steps.step(name, KafkaError("no ack", topic=topic or DEFINITIONS))
        self.records += [(topic or DEFINITIONS, key, value) for key, value in records]


REMOVED = Removal(
    board_known=True, removed=True, score=83456, reached_at=RESET_AT, periods=("all",)
)


def admin(
    steps: Steps,
    *,
    defined: bool = True,
    removal: Removal = REMOVED,
    now: datetime = RESET_AT,
    **spec: Any,
) -> tuple[Definitions, FakeStore, FakeStandings, FakeSink]:
    store, standings, sink = (
        FakeStore(steps, defined, **spec),
        FakeStandings(steps, removal),
        FakeSink(steps),
    )
    definitions = Definitions(
        store,  # type: ignore[arg-type]
        sink,
        DEFINITIONS,
        standings,  # type: ignore[arg-type]
        NOTICES,
        clock=lambda: now,
    )
    return definitions, store, standings, sink


def test_a_reset_clears_redis_before_it_publishes_then_tells_the_publisher() -> None:
    steps = Steps()
    definitions, _, _, sink = admin(steps)
    definition, removed = asyncio.run(definitions.reset("laps", "ops", "season 2")) or (None, None)
    assert removed == 3
    assert steps.done == ["postgres.reset", "redis.reset", "kafka.definitions", "kafka.notices"]
    assert BoardDefinition.from_json(sink.records[0][2] or b"") == definition
    notice = ChangeNotice.model_validate_json(sink.records[1][2] or b"")
    assert [(c.leaderboard, c.newest_event_at) for c in notice.changes] == [("laps", RESET_AT)]


def test_a_reset_redis_did_not_clear_is_still_published_and_answered_503() -> None:
    steps = Steps()
    steps.failing = {"redis.reset"}
    definitions, *_ = admin(steps)
    with pytest.raises(StandingsNotClearedError):
        asyncio.run(definitions.reset("laps", "ops", None))
    assert steps.done == ["postgres.reset", "kafka.definitions"]


def test_a_reset_kafka_did_not_take_has_cleared_redis_all_the_same() -> None:
    steps = Steps()
    steps.failing = {"kafka.definitions"}
    definitions, *_ = admin(steps)
    with pytest.raises(NotPublishedError):
        asyncio.run(definitions.reset("laps", "ops", None))
    assert steps.done == ["postgres.reset", "redis.reset"]


def test_a_lost_change_notice_does_not_fail_the_reset() -> None:
    steps = Steps()
    steps.failing = {"kafka.notices"}
    definitions, *_ = admin(steps)
    assert asyncio.run(definitions.reset("laps", "ops", None)) is not None


def test_an_undefined_board_is_not_reset() -> None:
    steps = Steps()
    definitions, *_ = admin(steps, defined=False)
    assert asyncio.run(definitions.reset("laps", "ops", None)) is None
    assert steps.done == ["postgres.reset"]


def test_a_removal_reads_the_board_s_sort_audits_then_notifies() -> None:
    steps = Steps()
    definitions, store, standings, _ = admin(steps)
    assert asyncio.run(definitions.remove_player("laps", "ada", "ops", "cheat")) == REMOVED
    assert (standings.sorts, standings.live_periods) == (["asc"], ["all"])
    assert steps.done == ["redis.remove", "postgres.audit", "kafka.notices"]
    assert store.audited == [
        {
            "action": "remove_player",
            "player_id": "ada",
            "reason": "cheat",
            "detail": {
                "removed": True,
                "period": "all",
                "score": 83456,
                "reached_at": RESET_AT.isoformat(),
                "periods": ["all"],
            },
        }
    ]


@pytest.mark.parametrize(
    ("now", "live"),
    [
        (datetime(2026, 5, 3, 21, 59, tzinfo=UTC), "2026-05-03"),  # 23:59 in Berlin
        (datetime(2026, 5, 3, 22, 0, tzinfo=UTC), "2026-05-04"),
        (datetime(2026, 4, 1, tzinfo=UTC), "2026-05-01"),  # before the window: its first
        (datetime(2026, 7, 1, tzinfo=UTC), "2026-05-31"),  # after it: its last
    ],
)
def test_a_removal_reports_the_standing_in_the_board_s_live_period_by_the_clock(
    now: datetime, live: str
) -> None:
    steps = Steps()
    removal = Removal(board_known=True, removed=True, periods=("2026-05-02",))
    definitions, store, standings, _ = admin(
        steps,
        removal=removal,
        now=now,
        reset="daily",
        timezone="Europe/Berlin",
        starts_at=datetime(2026, 4, 30, 22, 0, tzinfo=UTC),
        ends_at=datetime(2026, 5, 31, 22, 0, tzinfo=UTC),
    )
    assert asyncio.run(definitions.remove_player("laps", "ada", "ops", "cheat")) == removal
    assert standings.live_periods == [live]
    assert store.audited[0]["detail"] == {
        "removed": True,
        "period": live,
        "score": None,
        "reached_at": None,
        "periods": ["2026-05-02"],
    }
    assert steps.done[-1] == "kafka.notices"  # removed from a past period: still a change


def test_a_removal_not_audited_says_the_player_is_removed() -> None:
    steps = Steps()
    steps.failing = {"postgres.audit"}
    definitions, *_ = admin(steps)
    with pytest.raises(NotAuditedError):
        asyncio.run(definitions.remove_player("laps", "ada", "ops", "cheat"))
    # Nothing removed and nothing audited: a plain outage (nothing changed).
    nothing = Removal(board_known=True, removed=False)
    definitions, *_ = admin(steps, removal=nothing)
    with pytest.raises(DatabaseError):
        asyncio.run(definitions.remove_player("laps", "ada", "ops", "cheat"))


def test_a_repeated_removal_is_audited_without_a_notice() -> None:
    steps = Steps()
    definitions, store, _, _ = admin(steps, removal=Removal(board_known=True, removed=False))
    assert asyncio.run(definitions.remove_player("laps", "ada", "ops", "again")) is not None
    assert steps.done == ["redis.remove", "postgres.audit"]
    assert store.audited[0]["detail"] == {
        "removed": False,
        "period": "all",
        "score": None,
        "reached_at": None,
        "periods": [],
    }


def test_a_board_neither_defined_nor_ranked_is_unknown_and_not_audited() -> None:
    steps = Steps()
    unknown = Removal(board_known=False, removed=False)
    definitions, store, standings, _ = admin(steps, defined=False, removal=unknown)
    assert asyncio.run(definitions.remove_player("nope", "ada", "ops", "cheat")) is None
    assert store.audited == []
    # No definition: the default sort, and the one period of a board that never resets.
    assert (standings.sorts, standings.live_periods) == (["desc"], ["all"])


# -- erasure -----------------------------------------------------------------------------

ERASURES = "erasures"


class FakeErasureStore:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    def record(self, player_id: str, actor: str) -> Recorded:
        self.steps.step("postgres.erase", DatabaseError("down"))
        return Recorded(
            RESET_AT, already_erased=False, archived_rows_deleted=7, audit_rows_pseudonymised=1
        )


class FakeErasureStandings:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    def erase(self, player_id: str) -> list[str]:
        self.steps.step("redis.erase", RedisConnectionError("refused"))
        return ["laps", "points"]


def eraser(steps: Steps) -> tuple[Definitions, FakeSink]:
    sink = FakeSink(steps)
    erasure = (FakeErasureStore(steps), FakeErasureStandings(steps), ERASURES)
    definitions = Definitions(
        FakeStore(steps),  # type: ignore[arg-type]
        sink,
        DEFINITIONS,
        FakeStandings(steps, REMOVED),  # type: ignore[arg-type]
        NOTICES,
        erasure,  # type: ignore[arg-type]
    )
    return definitions, sink


def test_an_erasure_is_stored_then_published_then_applied_to_redis_then_notified() -> None:
    steps = Steps()
    definitions, sink = eraser(steps)
    erased = asyncio.run(definitions.erase_player("ada", "ops"))
    assert erased.boards == ["laps", "points"]
    assert steps.done == [
        "postgres.erase",
        "kafka.erasures",
        "redis.erase",
        "kafka.notices",
        "kafka.notices",
    ]
    topic, key, value = sink.records[0]
    assert (topic, key) == (ERASURES, erasure_key("ada").encode())
    assert b"ada" not in (value or b"")  # the hash only


@pytest.mark.parametrize(
    ("failing", "error", "done"),
    [
        ("postgres.erase", DatabaseError, []),
        ("kafka.erasures", NotPublishedError, ["postgres.erase"]),
        ("redis.erase", ErasureIncompleteError, ["postgres.erase", "kafka.erasures"]),
    ],
)
def test_a_failed_erasure_step_stops_the_later_ones(
    failing: str, error: type[Exception], done: list[str]
) -> None:
    steps = Steps()
    steps.failing = {failing}
    definitions, _ = eraser(steps)
    with pytest.raises(error):
        asyncio.run(definitions.erase_player("ada", "ops"))
    assert steps.done == done
