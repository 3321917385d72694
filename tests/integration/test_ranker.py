"""The ranker process keeps exact totals in Redis through crashes, rebalances and poison."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from redis import Redis

from leaderboard.core.boards import Operator, Sort
from leaderboard.core.erasures import PlayerErasure, erasure_key, redis_erasure_key
from leaderboard.core.events import ChangeNotice
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.redis import RedisServer
from leaderboard.devstack.settings import DevstackSettings
from tests.support.boards import board_definition, define_boards, expected_standings
from tests.support.outages import own_server, through_an_outage
from tests.support.pipeline import read_dead_letters
from tests.support.scores import (
    make_event,
    produce,
    produce_in_background,
    random_events,
    redis_totals,
    totals,
)
from tests.support.services import (
    ServiceProcess,
    free_port,
    http_status,
    metric_value,
    wait_for,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6
OUTAGE_SECONDS = 10.0


@pytest.fixture
def rankers(pipeline: DevstackSettings, tmp_path: Path) -> Iterator:
    started: list[ServiceProcess] = []
    group = f"ranker-{uuid.uuid4().hex[:8]}"

    def start(batch_size: int = 50, redis_port: int | None = None, **extra: str) -> ServiceProcess:
        env = {
            "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS": pipeline.kafka_bootstrap_servers,
            "LEADERBOARD_REDIS_PORT": str(redis_port or pipeline.redis_port),
            "LEADERBOARD_REDIS_KEY_PREFIX": pipeline.redis_key_prefix,
            "LEADERBOARD_TOPIC_GAME_SCORE": pipeline.topic_game_score,
            "LEADERBOARD_TOPIC_GAME_SCORE_DLQ": pipeline.topic_game_score_dlq,
            "LEADERBOARD_TOPIC_LEADERBOARD_CHANGE": pipeline.topic_leaderboard_change,
            "LEADERBOARD_TOPIC_LEADERBOARD_DEFINITIONS": pipeline.topic_leaderboard_definitions,
            "LEADERBOARD_TOPIC_PLAYER_ERASURES": pipeline.topic_player_erasures,
            "LEADERBOARD_RANKER_GROUP_ID": group,
            # A SIGKILLed member keeps its partitions this long: keep the test short.
            "LEADERBOARD_KAFKA_CONSUMER_CONFIG": '{"session.timeout.ms": 6000}',
            **extra,
        }
        service = ServiceProcess("ranker", env, tmp_path, batch_size=batch_size)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.close()


def wait_for_totals(redis, settings, expected, timeout=90.0, sort: Sort = "desc") -> None:
    keys = RedisKeys(settings.redis_key_prefix)
    boards = sorted(expected)
    wait_for(
        lambda: redis_totals(redis, keys, boards, dict.fromkeys(boards, sort)) == expected,
        timeout,
        f"Redis totals to match {sum(sum(c.values()) for c in expected.values())} points",
    )


def test_totals_are_exact_and_poison_goes_to_the_dlq(
    pipeline: DevstackSettings, rankers, redis: Redis
) -> None:
    boards = [f"alpha-{uuid.uuid4().hex[:6]}", f"beta-{uuid.uuid4().hex[:6]}"]
    events = random_events(400, boards, players=30)
    valid = orjson.loads(events[0].to_json())
    poison = [
        b"{not json",
        orjson.dumps({key: value for key, value in valid.items() if key != "player_id"}),
        orjson.dumps(valid | {"event_id": str(uuid.uuid4()), "score": 0}),
        orjson.dumps(valid | {"event_id": str(uuid.uuid4()), "version": 2}),
    ]
    produce(pipeline, events[:200], raw=poison[:2])
    ranker = rankers()
    produce(pipeline, events[200:], raw=poison[2:])

    wait_for_totals(redis, pipeline, totals(events))
    ranker.wait_ready()

    dead = read_dead_letters(pipeline, 4)
    reasons = Counter(dict(message.headers())["reason"].decode() for message in dead)
    assert reasons == {
        "invalid_json": 1,
        "invalid_fields": 1,
        "score_out_of_bounds": 1,
        "unknown_version": 1,
    }
    for message in dead:
        headers = dict(message.headers())
        assert headers["source-topic"].decode() == pipeline.topic_game_score
        assert int(headers["source-partition"]) in range(PARTITIONS)
        assert int(headers["source-offset"]) >= 0
    assert {message.value() for message in dead} == set(poison)
    text = ranker.metrics()
    assert (
        metric_value(
            text, "leaderboard_ranker_events_dead_lettered_total", {"reason": "invalid_json"}
        )
        == 1
    )
    assert metric_value(text, "leaderboard_ranker_events_applied_total") == len(events)


def test_a_defined_board_takes_its_own_bounds_and_forgets_what_came_before_its_reset(
    pipeline: DevstackSettings, rankers, redis: Redis
) -> None:
    board, undefined = f"def-{uuid.uuid4().hex[:6]}", f"undef-{uuid.uuid4().hex[:6]}"
    reset_at = datetime.now(UTC) - timedelta(minutes=1)
    define_boards(
        pipeline, [board_definition(board, score_min=-10, score_max=10, reset_at=reset_at)]
    )
    before = reset_at - timedelta(seconds=1)
    events = [
        make_event("ada", -5, board),
        make_event("ada", 10, board),
        make_event("bob", 7, board, occurred_at=before),  # before the reset: not counted
        make_event("ada", 11, board),  # above the board's maximum
        make_event("ada", 1, undefined),  # no definition: dead-lettered with this setting
    ]
    produce(pipeline, events)
    ranker = rankers(LEADERBOARD_RANKER_UNDEFINED_BOARDS="dead_letter")

    wait_for_totals(redis, pipeline, {board: Counter({"ada": 5})})
    dead = read_dead_letters(pipeline, 2)
    assert {(dict(m.headers())["reason"].decode(), m.value()) for m in dead} == {
        ("score_out_of_bounds", events[3].to_json()),
        ("unknown_leaderboard", events[4].to_json()),
    }
    assert redis.zcard(RedisKeys(pipeline.redis_key_prefix).board(undefined)) == 0
    wait_for(
        lambda: metric_value(ranker.metrics(), "leaderboard_ranker_events_before_reset_total") == 1,
        30,
        "the event before the reset to be counted as such",
    )


def test_a_scheduled_board_counts_each_event_in_its_period_until_the_grace_is_over(
    pipeline: DevstackSettings, rankers, redis: Redis
) -> None:
    board = f"minutely-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    starts_at = now - timedelta(hours=1)
    definition = board_definition(board, reset="* * * * *", starts_at=starts_at, grace=300)
    define_boards(pipeline, [definition])
    recent, in_grace = now, now - timedelta(minutes=3)
    events = [
        make_event("ada", 5, board, occurred_at=recent),
        make_event("bob", 7, board, occurred_at=recent),
        make_event("ada", 2, board, occurred_at=in_grace),  # its period ended < 300 s ago
        make_event("cy", 9, board, occurred_at=now - timedelta(minutes=10)),  # grace over
        make_event("dan", 1, board, occurred_at=starts_at - timedelta(seconds=1)),  # too early
        make_event("eve", 3, board, occurred_at=now + timedelta(hours=1)),  # a wrong clock
    ]
    produce(pipeline, events)
    ranker = rankers()

    keys = RedisKeys(pipeline.redis_key_prefix)
    periods = [definition.schedule.period_at(at) for at in (recent, in_grace)]
    assert periods[0] is not None
    assert periods[1] is not None
    expected = {periods[0].id: {"ada": 5.0, "bob": 7.0}, periods[1].id: {"ada": 2.0}}

    def standings() -> dict[str, dict[str, float]]:
        return {
            period: {
                player.decode(): float(int(score))
                for player, score in redis.zrange(keys.board(board, period), 0, -1, withscores=True)
            }
            for period in expected
        }

    wait_for(lambda: standings() == expected, 60, "each event in its period's standings")
    assert redis.smembers(keys.periods(board)) == {p.encode() for p in expected}
    dead = read_dead_letters(pipeline, 3)
    assert {(dict(m.headers())["reason"].decode(), m.value()) for m in dead} == {
        ("period_closed", events[3].to_json()),
        ("outside_window", events[4].to_json()),
        ("occurred_in_future", events[5].to_json()),
    }
    assert redis.zcard(keys.board(board)) == 0
    wait_for(
        lambda: (
            metric_value(
                ranker.metrics(),
                "leaderboard_ranker_events_dead_lettered_total",
                {"reason": "period_closed"},
            )
            == 1
        ),
        30,
        "the late event to be counted as period_closed",
    )


def test_the_grace_is_judged_by_when_an_event_reached_kafka_not_when_it_is_ranked(
    pipeline: DevstackSettings, rankers, redis: Redis
) -> None:
    board = f"minutely-{uuid.uuid4().hex[:6]}"
    definition = board_definition(board, reset="* * * * *", grace=60)
    define_boards(pipeline, [definition])
    period = definition.schedule.period_at(datetime.now(UTC) - timedelta(minutes=10))
    assert period is not None
    assert period.start is not None
    assert period.end is not None
    on_time = make_event("ada", 5, board, occurred_at=period.start)
    late = make_event("bob", 7, board, occurred_at=period.start)
    # Ranked ten minutes after the period's grace, as after a ranker outage or a replay.
    produce(pipeline, [on_time], arrived=period.end + timedelta(seconds=59))
    produce(pipeline, [late], arrived=period.end + timedelta(seconds=60))
    rankers()

    key = RedisKeys(pipeline.redis_key_prefix).board(board, period.id)
    wait_for(lambda: redis.zrange(key, 0, -1) == [b"ada"], 60, "the on-time event ranked")
    [dead] = read_dead_letters(pipeline, 1)
    assert (dict(dead.headers())["reason"], dead.value()) == (b"period_closed", late.to_json())


def test_an_erased_players_events_are_dead_lettered_and_never_counted(
    pipeline: DevstackSettings, rankers, redis: Redis
) -> None:
    board = f"erase-{uuid.uuid4().hex[:6]}"
    # One erasure the ranker reads from Kafka at start; one only Redis knows of yet (the
    # admin API writes Redis before the ranker hears of it from the topic).
    producer = Producer(producer_config(pipeline))
    erasure = PlayerErasure(player_hash=erasure_key("gone-a"), erased_at=datetime.now(UTC))
    producer.produce(
        pipeline.topic_player_erasures, key=erasure.player_hash, value=erasure.to_json()
    )
    assert producer.flush(30) == 0
    redis.sadd(RedisKeys(pipeline.redis_key_prefix).erased(), redis_erasure_key("gone-b"))
    kept = [make_event("ada", 5, board), make_event("bob", 3, board)]
    gone = [make_event("gone-a", 9, board), make_event("gone-b", 8, board)]
    produce(pipeline, [kept[0], gone[0], gone[1], kept[1]])
    rankers()

    wait_for_totals(redis, pipeline, {board: Counter({"ada": 5, "bob": 3})})
    dead = read_dead_letters(pipeline, 2)
    assert {(dict(m.headers())["reason"], m.value()) for m in dead} == {
        (b"erased_player", event.to_json()) for event in gone
    }
    assert redis.zscore(RedisKeys(pipeline.redis_key_prefix).board(board), "gone-b") is None


def test_each_change_notice_names_its_boards_newest_event_time(
    pipeline: DevstackSettings, rankers
) -> None:
    boards = [f"time-{uuid.uuid4().hex[:6]}", f"time-{uuid.uuid4().hex[:6]}"]
    # Game servers' clocks disagree: event times are shuffled (a fixed permutation of
    # 0-299 seconds ago), so a board's newest event is neither its first nor its last.
    start = datetime.now(UTC)
    events = [
        event.model_copy(update={"occurred_at": start - timedelta(seconds=(n * 37 + 150) % 300)})
        for n, event in enumerate(random_events(300, boards, players=30, seed=17))
    ]
    expected = {
        board: max(e.occurred_at for e in events if e.leaderboard == board) for board in boards
    }
    produce(pipeline, events)
    rankers(batch_size=50)

    reader = Consumer(consumer_config(pipeline, f"notice-reader-{uuid.uuid4().hex[:6]}"))
    reader.subscribe([pipeline.topic_leaderboard_change])
    newest: dict[str, datetime] = {}

    def announced() -> bool:
        for message in reader.consume(50, 0.5):
            if message.error() is not None:
                continue
            for change in ChangeNotice.model_validate_json(message.value()).changes:
                board, at = change.leaderboard, change.newest_event_at
                if board in expected and (board not in newest or at > newest[board]):
                    newest[board] = at
        return newest == expected

    try:
        wait_for(announced, 60, "change notices naming each board's newest event time")
    finally:
        reader.close()


#: Each operator with the sort that makes it least like the others' (asc: negated scores).
SCORINGS = [("sum", "desc"), ("best", "asc"), ("latest", "desc")]


def define(pipeline: DevstackSettings, prefix: str, operator: Operator, sort: Sort) -> list[str]:
    """Two boards of the test's own, defined with ``operator`` and ``sort``."""
    boards = [f"{prefix}-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    define_boards(pipeline, [board_definition(b, operator=operator, sort=sort) for b in boards])
    return boards


@pytest.mark.parametrize(("operator", "sort"), SCORINGS)
def test_sigkill_mid_stream_loses_and_doubles_nothing(
    pipeline: DevstackSettings, rankers, redis: Redis, operator: Operator, sort: Sort
) -> None:
    boards = define(pipeline, "kill", operator, sort)
    events = random_events(3000, boards, players=100, seed=11)
    ranker = rankers(batch_size=20)
    producer = produce_in_background(pipeline, [events[i : i + 100] for i in range(0, 3000, 100)])
    try:
        ranker.wait_ready()
        wait_for(
            lambda: (
                metric_value(ranker.metrics(), "leaderboard_ranker_events_applied_total") >= 300
            ),
            60,
            "the ranker to apply part of the stream",
            every=0.02,
        )
        ranker.kill()
        ranker.start()
    finally:
        producer.join()
    wait_for_totals(redis, pipeline, expected_standings(events, operator, sort), sort=sort)
    # The restarted ranker resumed from Redis's offsets: a redelivery shows up as
    # already-applied events, never as applied twice (the totals above prove that).
    assert ranker.starts == 2


@pytest.mark.parametrize(("operator", "sort"), SCORINGS)
def test_a_rebalance_between_two_rankers_keeps_totals_exact(
    pipeline: DevstackSettings, rankers, redis: Redis, operator: Operator, sort: Sort
) -> None:
    boards = define(pipeline, "reb", operator, sort)
    events = random_events(3000, boards, players=100, seed=13)
    first = rankers(batch_size=20)
    producer = produce_in_background(pipeline, [events[i : i + 100] for i in range(0, 3000, 100)])
    try:
        first.wait_ready()
        wait_for(
            lambda: metric_value(first.metrics(), "leaderboard_ranker_events_applied_total") >= 200,
            60,
            "the first ranker to apply part of the stream",
            every=0.02,
        )
        second = rankers(batch_size=20).wait_ready()
        # The group rebalances: partitions move to the second ranker mid-stream.
        wait_for(
            lambda: metric_value(second.metrics(), "leaderboard_consumer_assigned_partitions") > 0,
            60,
            "the second ranker to get partitions",
        )
        assert first.stop() == 0  # and move back to the second one alone
    finally:
        producer.join()
    wait_for_totals(redis, pipeline, expected_standings(events, operator, sort), sort=sort)
    assert metric_value(second.metrics(), "leaderboard_consumer_assigned_partitions") == PARTITIONS


def test_a_retried_event_is_counted_once(pipeline: DevstackSettings, rankers, redis) -> None:
    board = f"retry-{uuid.uuid4().hex[:6]}"
    event = make_event("ada", 40, board)
    produce(pipeline, [event, event, make_event("ada", 2, board)])
    rankers()
    wait_for_totals(redis, pipeline, {board: Counter({"ada": 42})})


@pytest.fixture
def own_redis(stack: DevstackSettings, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own: the one the outage tests stop."""
    with own_server(
        RedisServer, stack, tmp_path, redis_host="127.0.0.1", redis_port=free_port()
    ) as server:
        yield server


def test_a_redis_outage_delays_ranking_but_loses_and_doubles_nothing(
    pipeline: DevstackSettings, rankers, own_redis: RedisServer
) -> None:
    board = f"outage-{uuid.uuid4().hex[:10]}"
    events = random_events(2400, [board], players=60, seed=31)
    chunks = [events[i : i + 100] for i in range(0, len(events), 100)]
    port = own_redis.settings.redis_port
    ranker = rankers(batch_size=100, redis_port=port).wait_ready()
    for chunk in chunks[:4]:
        produce(pipeline, chunk)
    redis = Redis(host="127.0.0.1", port=port)
    try:
        wait_for_totals(redis, pipeline, totals(events[:400]))

        # A clean shutdown: the append-only file keeps what was applied.
        through_an_outage(ranker, own_redis, pipeline, chunks[4:], OUTAGE_SECONDS)
        # Batches whose replies were lost with the connection ran again: exact anyway.
        wait_for_totals(redis, pipeline, totals(events))
        assert ranker.starts == 1  # it rode the outage out, no restart needed
        assert '"Redis unavailable; retrying"' in ranker.output()
        assert ranker.stop() == 0
    finally:
        redis.close()


def test_a_ranker_started_while_redis_is_down_waits_for_it(
    pipeline: DevstackSettings, rankers, own_redis: RedisServer
) -> None:
    board = f"late-{uuid.uuid4().hex[:10]}"
    events = random_events(500, [board], players=40, seed=37)
    port = own_redis.settings.redis_port
    own_redis.stop()
    produce(pipeline, events[:250])
    ranker = rankers(batch_size=100, redis_port=port)
    readyz = f"{ranker.base_url}/readyz"
    # Assigned partitions need their applied offsets from Redis before anything is read.
    wait_for(lambda: '"Redis unavailable; retrying"' in ranker.output(), 60, "the ranker to wait")
    ranker.assert_running()
    assert http_status(readyz) == 503

    own_redis.up()
    produce(pipeline, events[250:])
    redis = Redis(host="127.0.0.1", port=port)
    try:
        wait_for_totals(redis, pipeline, totals(events))
    finally:
        redis.close()
    ranker.wait_ready()
    assert ranker.starts == 1
    assert ranker.stop() == 0


def test_sigterm_during_a_redis_outage_exits_cleanly(
    pipeline: DevstackSettings, rankers, own_redis: RedisServer
) -> None:
    board = f"term-{uuid.uuid4().hex[:10]}"
    ranker = rankers(batch_size=100, redis_port=own_redis.settings.redis_port).wait_ready()
    own_redis.stop()
    produce(pipeline, random_events(100, [board], players=10, seed=41))
    wait_for(lambda: '"Redis unavailable; retrying"' in ranker.output(), 60, "the ranker to retry")
    assert ranker.stop() == 0
    assert '"stopped during a Redis outage' in ranker.output()
