"""One pass of the closer: close every period whose grace is over, then announce every
stored close not yet on Kafka. Every step can be repeated after a crash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from confluent_kafka import KafkaException
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError

from leaderboard.closer.kafka import Announcer, RankerProgress
from leaderboard.closer.metrics import CloserMetrics
from leaderboard.closer.store import ClosedPeriods, Closing, Unannounced
from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import BoardRegistry
from leaderboard.core.errors import LeaderboardError
from leaderboard.core.events import ClosedEntry, PeriodClosed, period_close_key
from leaderboard.core.kafka import DELIVERY_TIMEOUT_MS
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME, Period
from leaderboard.core.standings import PAGE_SCRIPT, board_score, page_args, reach_time, reached_at

log = get_logger(__name__)

#: Players read from Redis (and inserted) per step of a close.
PAGE_ROWS = 1000
#: How long after a period's grace its close waits before taking the fence: a record
#: stamped (CreateTime) before the grace ended may reach the topic up to the producers'
#: delivery timeout later, and must still count.
LATE_RECORDS = timedelta(milliseconds=DELIVERY_TIMEOUT_MS) + timedelta(seconds=5)
#: Failures that stop a whole pass (the next one retries): a server is unreachable.
OUTAGES = (RedisConnectionError, RedisTimeoutError, OperationalError, KafkaException)

# KEYS: 1 closed set, 2 the board's periods set, 3 its standings, 4 its reach codes,
# 5 and 6 their frozen copies. ARGV: 1 `<board>/<period>`, 2 the period ('' for the
# all-time period, which has no member in the periods set).
# Freezes the period (the apply script refuses its events from now on) and copies its
# standings, which admin removals or resets may still change, for the close to read.
# Returns the frozen players, or -1 when Redis no longer lists the period (it lost its
# data since the period was found due; the rankers rebuild it first).
FREEZE_SCRIPT = """
local listed
if ARGV[2] == '' then
  listed = redis.call('EXISTS', KEYS[3]) == 1
else
  listed = redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1
end
if not listed then return -1 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[5], KEYS[6])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('COPY', KEYS[3], KEYS[5]) end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('COPY', KEYS[4], KEYS[6]) end
return redis.call('ZCARD', KEYS[5])
"""


class FrozenStandingsError(LeaderboardError):
    """The frozen copy changed while it was read: Redis lost its data."""


@dataclass(frozen=True)
class Due:
    """A period whose grace is over and that is not known to be closed."""

    definition: BoardDefinition
    period: Period

    @property
    def key(self) -> str:
        return f"{self.definition.id}/{self.period.id}"


class Closer:
    """Closes periods: fence, freeze, store, clean up; then announces."""

    def __init__(
        self,
        registry: BoardRegistry,
        redis: Redis,
        keys: RedisKeys,
        store: ClosedPeriods,
        progress: RankerProgress,
        announcer: Announcer,
        metrics: CloserMetrics,
        clock: Callable[[], datetime],
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        """``heartbeat``: called while a long step (a large period) makes progress."""
        self._registry = registry
        self._redis = redis
        self._keys = keys
        self._store = store
        self._progress = progress
        self._announcer = announcer
        self._metrics = metrics
        self._clock = clock
        self._heartbeat = heartbeat
        self._page = redis.register_script(PAGE_SCRIPT)
        self._freeze = redis.register_script(FREEZE_SCRIPT)
        # The score topic's ends when each waiting close first looked: a close waits for
        # the rankers to reach them, not a target that moves on under load.
        self._fences: dict[str, dict[int, int]] = {}

    def restore_closed(self) -> int:
        """Put every stored close back in Redis's closed set unless Redis still has the
        mark that it holds them all (it lost its data otherwise): the rankers must never
        reopen a closed period. Returns the number of members added."""
        if self._redis.exists(self._keys.closed_complete()):
            return 0
        members = self._store.closed_keys()
        added = 0
        for start in range(0, len(members), PAGE_ROWS):
            added += int(self._redis.sadd(self._keys.closed(), *members[start : start + PAGE_ROWS]))
        self._redis.set(self._keys.closed_complete(), b"1")
        if added:
            log.warning("restored closed periods in Redis", added=added)
        return added

    def run_once(self) -> None:
        due = self.due(self._clock())
        keys = {item.key for item in due}
        self._fences = {key: ends for key, ends in self._fences.items() if key in keys}
        waiting = 0
        for item in due:
            if self._isolated(item.key, partial(self.close, item)) is False:
                waiting += 1
        self._metrics.waiting.set(waiting)
        for pending in self._store.unannounced():
            self._isolated(
                f"{pending.leaderboard}/{pending.period}", partial(self.announce, pending)
            )

    def _isolated(self, key: str, step: Callable[[], bool]) -> bool | None:
        """``step()``, or None when it failed on one period's data (logged and counted,
        and the other periods go on); an outage stops the whole pass."""
        try:
            return step()
        except (*OUTAGES, LeaderboardError):
            raise
        except Exception:
            self._metrics.failures.inc()
            log.exception("a period's close failed; it is retried next pass", period=key)
            return None

    def due(self, now: datetime) -> list[Due]:
        """Periods with standings in Redis whose end plus grace (plus the time late
        records may take) is not after ``now``."""
        found: list[Due] = []
        for definition in self._registry.all():
            schedule = definition.schedule
            if not schedule.closes:
                continue
            grace = timedelta(seconds=definition.grace) + LATE_RECORDS
            if schedule.resets:
                members = self._redis.smembers(self._keys.periods(definition.id))
                names = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            elif self._redis.exists(self._keys.board(definition.id)):
                names = [ALL_TIME]
            else:
                names = []
            for name in names:
                period = schedule.period_named(name)
                if period is None:
                    log.warning(
                        "a period in Redis is not one of its board's schedule; left open",
                        leaderboard=definition.id,
                        period=name,
                    )
                    continue
                if period.end is not None and period.end + grace <= now:
                    found.append(Due(definition, period))
        return found

    def close(self, due: Due) -> bool:
        """Close ``due``; False while the rankers still have events it may hold."""
        board, period = due.definition.id, due.period
        assert period.end is not None
        if not self._store.is_closed(board, period.id):
            if due.key not in self._fences:
                self._fences[due.key] = self._progress.ends()
            behind = self._progress.behind(self._fences[due.key])
            if behind:
                log.info("waiting for the rankers", period=due.key, events_behind=behind)
                return False
            started = time.perf_counter()
            frozen = self._freeze_period(due)
            if frozen is None:
                log.warning("a due period is gone from Redis; waiting for it", period=due.key)
                self._fences.pop(due.key, None)
                return False
            closing = Closing(
                board, period.id, period.start, period.end, due.definition.model_dump(mode="json")
            )
            players = self._store.store(closing, self._pages(due, frozen))
            if players is not None:
                self._metrics.closed.inc()
                self._metrics.players.inc(players)
                self._metrics.close_seconds.observe(time.perf_counter() - started)
                grace_end = period.end + timedelta(seconds=due.definition.grace)
                self._metrics.lateness_seconds.observe(
                    max(0.0, (self._clock() - grace_end).total_seconds())
                )
                log.info("closed a period", period=due.key, players=players)
        # Also after a crash between storing and here: the freeze, then the cleanup.
        self._redis.sadd(self._keys.closed(), due.key)
        self._redis.unlink(
            self._keys.board(board, period.id),
            self._keys.reached(board, period.id),
            self._keys.closing(board, period.id),
            self._keys.closing_reached(board, period.id),
        )
        if period.id != ALL_TIME:
            self._redis.srem(self._keys.periods(board), period.id)
        self._fences.pop(due.key, None)
        return True

    def _freeze_period(self, due: Due) -> int | None:
        """Mark the period closed and copy its standings; their count, or None when
        Redis no longer lists the period."""
        board, period = due.definition.id, due.period.id
        frozen = int(
            self._freeze(
                keys=[
                    self._keys.closed(),
                    self._keys.periods(board),
                    self._keys.board(board, period),
                    self._keys.reached(board, period),
                    self._keys.closing(board, period),
                    self._keys.closing_reached(board, period),
                ],
                args=[due.key, "" if period == ALL_TIME else period],
            )
        )
        return None if frozen < 0 else frozen

    def _pages(self, due: Due, frozen: int) -> Iterator[list[ClosedEntry]]:
        """The frozen standings, page by page, in rank order."""
        board, period = due.definition.id, due.period.id
        sort = due.definition.sort
        latest = due.definition.operator == "latest"
        keys = [self._keys.closing(board, period), self._keys.names(board)]
        offset = 0
        while offset < frozen:
            self._heartbeat()
            reply = self._page(keys=keys, args=page_args(offset, PAGE_ROWS))
            if int(reply[0]) != frozen:
                raise FrozenStandingsError(
                    f"the frozen standings of {due.key} went from {frozen} to {reply[0]} "
                    "players while they were read (Redis lost its data?)"
                )
            rows = reply[1:]
            players = [rows[index] for index in range(0, len(rows), 3)]
            # ``latest`` boards keep the exact reach; the stored score holds it roughly.
            exact = (
                self._redis.hmget(self._keys.closing_reached(board, period), players)
                if latest
                else [None] * len(players)
            )
            page: list[ClosedEntry] = []
            for index in range(0, len(rows), 3):
                player, stored, name = rows[index : index + 3]
                code = exact[index // 3]
                page.append(
                    ClosedEntry(
                        rank=offset + index // 3 + 1,
                        player_id=player.decode(),
                        display_name=name.decode() or None,
                        score=board_score(stored, sort),
                        reached_at=reached_at(stored) if code is None else reach_time(code),
                    )
                )
            yield page
            offset += len(page)

    def announce(self, pending: Unannounced) -> bool:
        """Make sure exactly one ``PeriodClosed`` message of a stored close is on Kafka.

        The scan start is recorded once, before any closer may produce the message; each
        producer fences off the older ones when it starts, then looks from there for a
        message an older one committed before producing one itself."""
        board, period = pending.leaderboard, pending.period
        start = pending.announce_from
        if start is None:
            start = self._store.record_announce_from(board, period, self._announcer.ends())
        self._announcer.ensure_started()
        key = period_close_key(board, period)
        found = self._announcer.find(start, [key], self._heartbeat).get(key)
        if found is not None:
            self._store.record_announced(board, period, *found)
            log.info("found the period-closed message of a previous closer", period=key.decode())
            return True
        closing, players, closed_at, top = self._store.message_of(board, period)
        message = PeriodClosed(
            leaderboard=closing.leaderboard,
            period=closing.period,
            starts_at=closing.starts_at,
            ends_at=closing.ends_at,
            closed_at=closed_at,
            players=players,
            top=top,
            sort=closing.definition.get("sort", "desc"),
            format=closing.definition.get("format", "integer"),
            operator=closing.definition.get("operator", "sum"),
        )
        at = self._announcer.announce(message)
        self._store.record_announced(board, period, *at)
        self._metrics.announced.inc()
        log.info("announced a closed period", period=key.decode())
        return True
