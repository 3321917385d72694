"""The ranker's apply script counts every event exactly once, on a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from leaderboard.core.boards import Operator
from leaderboard.core.events import ScoreEvent
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import board_score, reach_code, reached_at, stored_score
from leaderboard.ranker.apply import (
    ApplyResult,
    BatchApplier,
    PartitionBatch,
    PendingApply,
    Scoring,
    split,
)
from tests.support.redis_keys import delete_keys

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
WINDOW = 300


@pytest.fixture
def keys(redis: Redis) -> Iterator[RedisKeys]:
    keys = RedisKeys(prefix=f"t{uuid.uuid4().hex[:12]}")
    yield keys
    delete_keys(redis, keys.prefix)


@pytest.fixture
def applier(redis: Redis, keys: RedisKeys) -> Iterator[BatchApplier]:
    applier = BatchApplier(redis, keys, "ranker", "game-score", WINDOW)
    yield applier
    applier.close()  # its pipelining connection, if a test used send()


def event(player: str, score: int, board: str = "global", **extra: object) -> ScoreEvent:
    return ScoreEvent(
        event_id=extra.pop("event_id", uuid.uuid4()),
        leaderboard=board,
        player_id=player,
        display_name=extra.pop("display_name", None),
        score=score,
        occurred_at=extra.pop("occurred_at", datetime(2026, 11, 27, tzinfo=UTC)),
        version=1,
    )


def batch(
    partition: int, first: int, events: list[ScoreEvent], **scoring: Scoring
) -> PartitionBatch:
    return PartitionBatch(
        partition,
        first,
        first + len(events) - 1,
        [(first + index, e) for index, e in enumerate(events)],
        scoring,
    )


def scores(redis: Redis, keys: RedisKeys, board: str = "global") -> dict[str, int]:
    """Each player's integer score as stored (negated on an ascending board)."""
    return {
        p.decode(): board_score(s)
        for p, s in redis.zrange(keys.board(board), 0, -1, withscores=True)
    }


def ranked(redis: Redis, keys: RedisKeys, board: str = "global") -> list[tuple[str, int]]:
    """(player, integer score as stored) from first to last, as the readers rank them."""
    return [
        (p.decode(), board_score(s))
        for p, s in redis.zrevrange(keys.board(board), 0, -1, withscores=True)
    ]


def test_deltas_are_added_per_player_and_board(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    [result] = applier.apply(
        [
            batch(
                0,
                0,
                [
                    event("ada", 5, display_name="Ada"),
                    event("bob", 3),
                    event("ada", 2),
                    event("ada", 1, board="weekly"),
                ],
            )
        ],
        NOW,
    )
    assert result.applied_per_board == {"global": 3, "weekly": 1}
    assert result.stored_next is None
    assert scores(redis, keys) == {"ada": 7.0, "bob": 3.0}
    assert scores(redis, keys, "weekly") == {"ada": 1.0}
    assert redis.hget(keys.names("global"), "ada") == b"Ada"
    assert redis.smembers(keys.boards()) == {b"global", b"weekly"}
    assert applier.stored_offsets([0, 1]) == {0: 4, 1: None}


def test_a_redelivered_batch_is_not_counted_again(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    first = batch(0, 10, [event("ada", 5), event("bob", 3)])
    applier.apply([first], NOW)
    [again] = applier.apply([first], NOW)
    assert (again.applied, again.already_applied) == (0, 2)
    assert scores(redis, keys) == {"ada": 5.0, "bob": 3.0}


def test_an_overlapping_batch_applies_only_the_new_part(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    events = [event("ada", 1), event("ada", 10), event("ada", 100), event("ada", 1000)]
    applier.apply([batch(2, 0, events[:2])], NOW)
    # A second consumer that still believed it owned partition 2 read offsets 0..3.
    [result] = applier.apply([batch(2, 0, events)], NOW)
    assert (result.applied, result.already_applied) == (2, 2)
    assert scores(redis, keys) == {"ada": 1111.0}
    assert applier.stored_offsets([2]) == {2: 4}


def test_a_batch_past_the_stored_offset_is_refused(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply([batch(1, 0, [event("ada", 1)])], NOW)
    [refused] = applier.apply([batch(1, 5, [event("ada", 50)])], NOW)
    assert refused.gap
    assert refused.stored_next == 1
    assert scores(redis, keys) == {"ada": 1.0}
    assert applier.stored_offsets([1]) == {1: 1}
    [accepted] = applier.apply([batch(1, 5, [event("ada", 50)])], NOW, frozenset({1}))
    assert accepted.applied == 1
    assert applier.stored_offsets([1]) == {1: 6}


def test_a_batch_that_expects_a_stored_offset_is_refused_when_redis_lost_it(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply([batch(1, 0, [event("ada", 1)])], NOW)
    [applied] = applier.apply([batch(1, 1, [event("ada", 2)])], NOW, expect_stored=frozenset({1}))
    assert (applied.gap, applied.applied) == (False, 1)

    redis.delete(keys.offsets("ranker", "game-score"))  # Redis lost its data
    [refused] = applier.apply([batch(1, 2, [event("bob", 5)])], NOW, expect_stored=frozenset({1}))

    assert refused.gap
    assert refused.stored_next is None
    assert redis.zscore(keys.board("global"), "bob") is None
    assert applier.stored_offsets([1]) == {1: None}


def test_a_retried_event_id_counts_once_within_the_window(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    retried = uuid.uuid4()
    [one] = applier.apply(
        [batch(0, 0, [event("ada", 5, event_id=retried), event("ada", 5, event_id=retried)])],
        NOW,
    )
    assert (one.applied, one.duplicates) == (1, 1)
    # The same id again later, at another offset and partition, still inside the window.
    [two] = applier.apply([batch(3, 0, [event("ada", 5, event_id=retried)])], NOW + WINDOW)
    assert two.duplicates == 1
    assert scores(redis, keys) == {"ada": 5.0}
    # Two windows later the id has been forgotten, as documented.
    [three] = applier.apply([batch(3, 1, [event("ada", 5, event_id=retried)])], NOW + 3 * WINDOW)
    assert three.applied == 1


def test_a_batch_without_valid_events_still_advances_the_offset(
    applier: BatchApplier, keys: RedisKeys
) -> None:
    [result] = applier.apply([PartitionBatch(4, 7, 9, [])], NOW)
    assert result.applied == 0
    assert applier.stored_offsets([4]) == {4: 10}


def test_partitions_are_applied_together_and_independently(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply([batch(0, 0, [event("ada", 1)])], NOW)
    results = applier.apply(
        [
            batch(0, 0, [event("ada", 1)]),
            batch(1, 0, [event("bob", 2)]),
            batch(2, 3, [event("cy", 3)]),
        ],
        NOW,
    )
    assert [(r.partition, r.applied, r.already_applied) for r in results] == [
        (0, 0, 1),
        (1, 1, 0),
        (2, 1, 0),
    ]
    assert scores(redis, keys) == {"ada": 1.0, "bob": 2.0, "cy": 3.0}


def client_id(applier: BatchApplier, redis: Redis) -> int:
    """The Redis client id of the applier's pipelining connection."""
    name = f"applier-{uuid.uuid4().hex[:8]}"
    connection = applier._pipelining_connection()  # the one send() writes to
    connection.send_command("CLIENT", "SETNAME", name)
    connection.read_response()
    [client] = [c for c in redis.client_list() if c.get("name") == name]
    return int(client["id"])


def test_sent_batches_are_read_back_in_order_while_the_next_is_queued(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    first = applier.send([batch(0, 0, [event("ada", 1), event("bob", 2)])], NOW)
    second = applier.send([batch(0, 2, [event("ada", 10)]), batch(1, 0, [event("cy", 3)])], NOW)

    [one] = applier.finish(first)
    two = applier.finish(second)

    assert (one.partition, one.applied, one.stored_next) == (0, 2, None)
    assert [(r.partition, r.applied, r.stored_next) for r in two] == [(0, 1, 2), (1, 1, None)]
    assert scores(redis, keys) == {"ada": 11.0, "bob": 2.0, "cy": 3.0}
    assert applier.stored_offsets([0, 1]) == {0: 3, 1: 1}


def pipelined(applier: BatchApplier, *batches: PartitionBatch) -> list[ApplyResult]:
    """Apply through send() and finish(), as the ranker does."""
    return applier.finish(applier.send(list(batches), NOW))


def finish_with_retry(applier: BatchApplier, pending: PendingApply) -> list[ApplyResult]:
    """What the ranker's retrier does: a lost connection is retried once it is noticed."""
    try:
        return applier.finish(pending)
    except RedisConnectionError:
        return applier.finish(pending)


def test_replies_lost_with_the_connection_are_not_guessed_the_batches_run_again(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    pipelined(applier, batch(0, 0, [event("ada", 1)]))
    redis.client_kill_filter(_id=client_id(applier, redis))

    # Sent into a connection Redis has closed: nothing of them arrives.
    first = applier.send([batch(0, 1, [event("ada", 2)])], NOW)
    second = applier.send([batch(0, 2, [event("ada", 4)])], NOW)
    [one] = finish_with_retry(applier, first)
    [two] = finish_with_retry(applier, second)

    assert (one.applied, one.stored_next) == (1, 1)
    assert (two.applied, two.stored_next) == (1, 2)
    assert scores(redis, keys) == {"ada": 7.0}
    assert applier.stored_offsets([0]) == {0: 3}
    # A new connection carries the next batch.
    [after] = pipelined(applier, batch(0, 3, [event("ada", 8)]))
    assert after.applied == 1
    assert scores(redis, keys) == {"ada": 15.0}


def test_a_batch_finished_twice_counts_once(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    pending = applier.send([batch(0, 0, [event("ada", 1)])], NOW)
    [first] = applier.finish(pending)
    [again] = applier.finish(pending)  # a retry after the reply was read: runs again
    assert (first.applied, again.applied, again.already_applied) == (1, 0, 1)
    assert scores(redis, keys) == {"ada": 1.0}


def test_a_script_cache_emptied_under_the_connection_is_loaded_again(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    pipelined(applier, batch(0, 0, [event("ada", 1)]))
    redis.script_flush()  # as after a Redis restart with the same connection

    [result] = pipelined(applier, batch(0, 1, [event("ada", 2)]))

    assert result.applied == 1
    assert scores(redis, keys) == {"ada": 3.0}


def test_a_batch_started_after_an_unsent_one_is_not_sent_ahead_of_it(
    applier: BatchApplier, redis: Redis, keys: RedisKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Partition 0 has no stored offset yet, so no fence would refuse the second batch:
    # only the order keeps the first one from being taken as applied already.
    reconnect = applier._pipelining_connection

    def refused():
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(applier, "_pipelining_connection", refused)
    first = applier.send([batch(0, 0, [event("ada", 1), event("bob", 2)])], NOW)
    monkeypatch.setattr(applier, "_pipelining_connection", reconnect)  # Redis is back
    second = applier.send([batch(0, 2, [event("ada", 10)])], NOW)

    [one] = applier.finish(first)
    [two] = applier.finish(second)

    assert (one.applied, two.applied) == (2, 1)
    assert scores(redis, keys) == {"ada": 11.0, "bob": 2.0}
    assert applier.stored_offsets([0]) == {0: 3}


def test_a_batch_started_after_a_refused_script_waits_for_the_batches_before_it(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    pipelined(applier, batch(0, 0, [event("ada", 1)]))
    redis.script_flush()
    first = applier.send([batch(0, 1, [event("ada", 2)])], NOW)
    second = applier.send([batch(0, 2, [event("ada", 4)])], NOW)
    [one] = applier.finish(first)  # NOSCRIPT: run again, which loads the script
    # Sent now, this batch would run before the second one is run again, and be refused
    # as starting past the stored offset.
    third = applier.send([batch(0, 3, [event("ada", 8)])], NOW)
    [two] = applier.finish(second)
    [three] = applier.finish(third)

    assert [(r.applied, r.gap) for r in (one, two, three)] == [(1, False)] * 3
    assert scores(redis, keys) == {"ada": 15.0}
    assert applier.stored_offsets([0]) == {0: 4}


def test_a_player_several_times_in_a_batch_gets_the_sum_and_the_newest_name(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply([batch(0, 0, [event("ada", 5, display_name="Ada")])], NOW)
    events = [
        event("ada", 1),
        event("ada", 2, display_name="Ada L."),
        event("bob", 3, board="weekly", display_name="Bob"),
        event("ada", 4, board="weekly"),
        event("ada", 8, display_name="Ada Lovelace"),
        event("ada", 16),
    ]
    [result] = applier.apply([batch(0, 1, events)], NOW)

    assert result.applied_per_board == {"global": 4, "weekly": 2}
    assert scores(redis, keys) == {"ada": 32.0}
    assert scores(redis, keys, "weekly") == {"bob": 3.0, "ada": 4.0}
    assert redis.hgetall(keys.names("global")) == {b"ada": b"Ada Lovelace"}
    assert redis.hgetall(keys.names("weekly")) == {b"bob": b"Bob"}


def test_batches_larger_than_one_redis_call_are_applied_whole(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    # More players, ids and names than one multi-member call of the script takes.
    events = [event(f"p{n % 2500}", 1, display_name=f"P{n}") for n in range(3000)]
    duplicate = event("p0", 100, event_id=events[0].event_id)
    [result] = applier.apply([batch(0, 0, [*events, duplicate])], NOW)

    assert (result.applied, result.duplicates) == (3000, 1)
    totals = scores(redis, keys)
    assert len(totals) == 2500
    assert (totals["p0"], totals["p499"], totals["p500"]) == (2.0, 2.0, 1.0)
    assert redis.hget(keys.names("global"), "p0") == b"P2500"


def test_a_batch_may_touch_thousands_of_leaderboards(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    boards = [f"b{n}" for n in range(9000)]
    [result] = applier.apply([batch(0, 0, [event("ada", 1, board=b) for b in boards])], NOW)
    assert result.applied == 9000
    assert redis.scard(keys.boards()) == 9000
    assert scores(redis, keys, "b8999") == {"ada": 1.0}


def test_large_totals_stay_exact(applier: BatchApplier, redis: Redis, keys: RedisKeys) -> None:
    applier.apply([batch(0, 0, [event("ada", 1)])], NOW)
    [stored] = redis.zrange(keys.board("global"), 0, 0)
    redis.zadd(keys.board("global"), {stored: 2**52})  # beyond what %.14g would keep exact
    applier.apply([batch(0, 1, [event("ada", 1), event("ada", 2)])], NOW)
    assert scores(redis, keys) == {"ada": 2**52 + 3}
    assert int(scores(redis, keys)["ada"]) == 4_503_599_627_370_499


def test_each_board_reports_its_newest_event_time_across_pieces_and_redeliveries(
    applier: BatchApplier,
) -> None:
    t = datetime(2026, 11, 27, tzinfo=UTC)
    # More events than one script takes, so the batch is applied as two scripts, and
    # both boards have events in both: "global"'s newest is in the first script,
    # "weekly"'s in the second, and neither is its board's first or last event.
    events = [event(f"p{n}", 1, occurred_at=t + timedelta(seconds=n % 7)) for n in range(2000)]
    events[3] = event("early", 1, occurred_at=t + timedelta(hours=1))
    events[5] = event("w0", 1, board="weekly", occurred_at=t + timedelta(minutes=1))
    events[9] = event("w1", 1, board="weekly", occurred_at=t)
    events += [
        event("w2", 1, board="weekly", occurred_at=t + timedelta(minutes=5)),
        event("late", 1, occurred_at=t),
        event("w3", 1, board="weekly", occurred_at=t + timedelta(minutes=2)),
    ]
    assert len(split(batch(0, 0, events))) == 2
    expected = {"global": t + timedelta(hours=1), "weekly": t + timedelta(minutes=5)}

    [first] = applier.apply([batch(0, 0, events)], NOW)
    assert first.applied == len(events)
    assert first.newest_event_at == expected

    # Redelivered (a lost reply, a crash before the commit): applied before, but the
    # change notice still names the boards with their newest event time.
    [again] = applier.apply([batch(0, 0, events)], NOW)
    assert (again.applied, again.already_applied) == (0, len(events))
    assert again.newest_event_at == expected

    # Refused as a gap: nothing applied, nothing to announce.
    [gap] = applier.apply([batch(0, len(events) + 10, events[:2])], NOW)
    assert gap.gap
    assert gap.newest_event_at == {}


# -- operators, sort and ties -----------------------------------------------------------

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_equal_totals_rank_the_player_who_reached_it_first_higher(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply(
        [batch(0, 0, [event("cy", 10, occurred_at=at(3)), event("ada", 10, occurred_at=at(5))])],
        NOW,
    )
    # bob reaches 10 last, in two steps; zed reaches it between cy and ada.
    applier.apply(
        [
            batch(
                0,
                2,
                [
                    event("bob", 4, occurred_at=at(1)),
                    event("zed", 10, occurred_at=at(4)),
                    event("bob", 6, occurred_at=at(9)),
                    event("top", 11, occurred_at=at(10)),
                ],
            )
        ],
        NOW,
    )
    assert [player for player, _ in ranked(redis, keys)] == ["top", "cy", "zed", "ada", "bob"]
    assert reached_at(redis.zscore(keys.board("global"), "bob") or 0) == at(9)
    assert redis.zscore(keys.board("global"), "cy") == stored_score(10, at(3))


def test_the_script_stores_scores_exactly_as_core_standings_encodes_them(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    magnitudes = [0, 1, 7, 8, 999, 83_456, 1_000_000, 2**31 - 1, 2**40 + 5, 2**52 + 1]
    times = [datetime(1970, 1, 1, tzinfo=UTC), at(0.000_001), at(86_400 * 365 * 5 + 0.123_457)]
    expected: dict[str, dict[str, float]] = {"global": {}, "laps": {}}
    events = []
    for n, score in enumerate([*magnitudes, *(-m for m in magnitudes if m)]):
        for k, when in enumerate(times):
            player = f"p{n}-{k}"
            events += [
                event(player, score, occurred_at=when),
                event(player, score, board="laps", occurred_at=when),
            ]
            expected["global"][player] = stored_score(score, when)
            expected["laps"][player] = stored_score(score, when, "asc")
    applier.apply([batch(0, 0, events, laps=Scoring("best", "asc"))], NOW)
    for board, wanted in expected.items():
        stored = redis.zrange(keys.board(board), 0, -1, withscores=True)
        assert {player.decode(): score for player, score in stored} == wanted


def test_a_sum_keeps_its_reach_when_only_zero_deltas_arrive(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    applier.apply([batch(0, 0, [event("ada", 1_000_000, occurred_at=at(1.5))])], NOW)
    applier.apply([batch(0, 1, [event("ada", 0, occurred_at=at(9))])], NOW)
    assert redis.zscore(keys.board("global"), "ada") == stored_score(1_000_000, at(1.5))
    # A change of magnitude keeps the reach as precisely as the old score held it.
    applier.apply([batch(0, 2, [event("ada", -999_990, occurred_at=at(3))])], NOW)
    assert redis.zscore(keys.board("global"), "ada") == stored_score(10, at(3))


def test_latest_tells_apart_events_closer_than_the_stored_reach_resolution(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    # A score of 2^40 keeps its reach to about 13 days; a latest board still keeps the
    # newest of events a microsecond apart, from its exact reach codes.
    latest = Scoring("latest", "desc")
    big = 2**40
    newest = event("ada", big + 1, occurred_at=at(0.000_002))
    older = [
        event("ada", big + 3, occurred_at=at(0.000_001)),
        event("ada", big + 2, occurred_at=at(0)),
    ]
    applier.apply([batch(0, 0, [newest], **{"global": latest})], NOW)
    applier.apply([batch(0, 1, older, **{"global": latest})], NOW)
    assert scores(redis, keys) == {"ada": big + 1}
    assert redis.hget(keys.reached("global"), "ada") == reach_code(at(0.000_002)).encode()


@pytest.mark.parametrize("operator", ["best", "latest"])
def test_a_retried_event_on_an_idempotent_board_is_applied_again_and_changes_nothing(
    applier: BatchApplier, redis: Redis, keys: RedisKeys, operator: Operator
) -> None:
    board = {"global": Scoring(operator, "desc")}
    retried = uuid.uuid4()
    first = event("ada", 50, occurred_at=at(5), event_id=retried)
    [one] = applier.apply([batch(0, 0, [first, first], **board)], NOW)
    assert (one.applied, one.duplicates) == (1, 1)  # a repeat inside a batch still counts once
    applier.apply([batch(0, 2, [event("ada", 70, occurred_at=at(6))], **board)], NOW)
    # The window is not consulted for these boards: the retry is applied again, and the
    # operator keeps the standing as it was.
    [two] = applier.apply([batch(3, 0, [first], **board)], NOW + WINDOW)
    assert (two.applied, two.duplicates) == (1, 0)
    assert scores(redis, keys) == {"ada": 70}
    # Its id is still recorded, so the board turned into a sum would not count it twice.
    [three] = applier.apply([batch(3, 1, [first])], NOW + WINDOW)
    assert three.duplicates == 1


def test_best_keeps_the_highest_score_and_when_it_was_first_reached(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    best = Scoring("best", "desc")
    events = [event("ada", 50, occurred_at=at(5)), event("ada", 70, occurred_at=at(6))]
    applier.apply([batch(0, 0, events, **{"global": best})], NOW)
    assert scores(redis, keys) == {"ada": 70}
    later = [
        event("ada", 60, occurred_at=at(7)),
        event("ada", 70, occurred_at=at(2)),  # the same best, reached earlier: keeps 70 from t=2
        event("bob", 70, occurred_at=at(4)),
    ]
    [result] = applier.apply([batch(0, 2, later, **{"global": best})], NOW)
    assert result.applied == 3
    assert ranked(redis, keys) == [("ada", 70), ("bob", 70)]
    assert reached_at(redis.zscore(keys.board("global"), "ada") or 0) == at(2)


def test_an_ascending_best_board_keeps_the_lowest_time_first(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    laps = Scoring("best", "asc")
    events = [
        event("ada", 83_456, occurred_at=at(1)),
        event("bob", 79_001, occurred_at=at(2)),
        event("ada", 90_000, occurred_at=at(3)),
        event("cy", 79_001, occurred_at=at(4)),
    ]
    applier.apply([batch(0, 0, events, **{"global": laps})], NOW)
    # Stored negated so that the first row is the fastest; equal times: bob set it first.
    assert ranked(redis, keys) == [("bob", -79_001), ("cy", -79_001), ("ada", -83_456)]


def test_latest_keeps_the_newest_event_whatever_order_they_arrive_in(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    latest = Scoring("latest", "desc")
    newest = event("ada", 3, occurred_at=at(30))
    older = [event("ada", 100, occurred_at=at(10)), event("ada", 200, occurred_at=at(20))]
    applier.apply([batch(0, 0, [older[0], newest], **{"global": latest})], NOW)
    assert scores(redis, keys) == {"ada": 3}
    # Older events arriving later, in another batch and on another partition, and a
    # redelivery of the newest one: none of them overwrites the newest value.
    applier.apply([batch(1, 0, [older[1]], **{"global": latest})], NOW)
    applier.apply([batch(0, 0, [older[0], newest], **{"global": latest})], NOW)
    assert scores(redis, keys) == {"ada": 3}
    # At equal times the better value is kept, so the order of arrival never matters.
    applier.apply([batch(1, 1, [event("ada", 2, occurred_at=at(30))], **{"global": latest})], NOW)
    applier.apply([batch(1, 2, [event("ada", 9, occurred_at=at(30))], **{"global": latest})], NOW)
    assert scores(redis, keys) == {"ada": 9}
    applier.apply([batch(1, 3, [event("ada", 1, occurred_at=at(31))], **{"global": latest})], NOW)
    assert scores(redis, keys) == {"ada": 1}


def test_events_before_a_boards_reset_do_not_count(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    redis.hset(keys.resets(), "global", reach_code(at(10)))
    events = [
        event("ada", 5, occurred_at=at(9)),
        event("ada", 7, occurred_at=at(10)),
        event("bob", 1, occurred_at=at(1)),
        event("cy", 2, occurred_at=at(11), board="weekly"),
    ]
    [result] = applier.apply([batch(0, 0, events)], NOW)
    assert (result.applied, result.before_reset) == (2, 2)
    assert scores(redis, keys) == {"ada": 7}
    assert scores(redis, keys, "weekly") == {"cy": 2}


def test_events_count_in_the_keys_of_their_period_and_the_period_is_listed(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    events = [
        event("ada", 5, board="daily"),
        event("bob", 7, board="daily"),
        event("ada", 2, board="daily"),
        event("cy", 1),  # an all-time board beside it
    ]
    piece = batch(0, 0, events)
    piece.periods = {0: "2026-11-26", 1: "2026-11-27", 2: "2026-11-27"}
    [result] = applier.apply([piece], NOW)
    assert result.applied_per_board == {"daily": 3, "global": 1}
    in_period = {
        period: {
            p.decode(): board_score(s)
            for p, s in redis.zrange(keys.board("daily", period), 0, -1, withscores=True)
        }
        for period in ("2026-11-26", "2026-11-27")
    }
    assert in_period == {"2026-11-26": {"ada": 5}, "2026-11-27": {"bob": 7, "ada": 2}}
    assert redis.zcard(keys.board("daily")) == 0  # nothing in the all-time keys
    assert redis.smembers(keys.periods("daily")) == {b"2026-11-26", b"2026-11-27"}
    assert scores(redis, keys) == {"cy": 1}
    assert redis.exists(keys.periods("global")) == 0


def test_a_closed_periods_events_are_refused_and_returned_for_the_dead_letters(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    redis.sadd(keys.closed(), "daily/2026-11-26")
    piece = batch(0, 10, [event("ada", 5, board="daily"), event("bob", 7, board="daily")])
    piece.periods = {10: "2026-11-26", 11: "2026-11-27"}
    [result] = applier.apply([piece], NOW)
    assert (result.applied, result.closed_offsets) == (1, [10])
    assert redis.zcard(keys.board("daily", "2026-11-26")) == 0
    assert redis.smembers(keys.periods("daily")) == {b"2026-11-27"}
    # The offset moved past both: the refused event is the ranker's to dead-letter.
    assert applier.stored_offsets([0]) == {0: 12}


def test_a_window_board_without_resets_keeps_its_all_time_keys_and_can_be_closed(
    applier: BatchApplier, redis: Redis, keys: RedisKeys
) -> None:
    piece = batch(0, 0, [event("ada", 5, board="cup")])
    piece.periods = {0: "all"}
    applier.apply([piece], NOW)
    assert scores(redis, keys, "cup") == {"ada": 5}
    assert redis.exists(keys.periods("cup")) == 0  # the all-time keys are never listed
    redis.sadd(keys.closed(), "cup/all")
    late = batch(0, 1, [event("bob", 1, board="cup")])
    late.periods = {1: "all"}
    [result] = applier.apply([late], NOW)
    assert (result.applied, result.closed_offsets) == (0, [1])
