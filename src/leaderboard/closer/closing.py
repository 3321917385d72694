"""One pass of the closer: close every period whose grace is over, then announce every
stored close not yet on Kafka. Every step can be repeated after a crash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

from leaderboard.closer.kafka import Announcer, RankerProgress
from leaderboard.closer.metrics import CloserMetrics
from leaderboard.closer.store import ClosedPeriods, Closing
from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import BoardRegistry
from leaderboard.core.events import ClosedEntry, PeriodClosed, period_close_key
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME, Period
from leaderboard.core.standings import (
    PAGE_SCRIPT,
    board_score,
    page_args,
    reach_time,
    reached_at,
    script_keys,
)

log = get_logger(__name__)

#: Players read from Redis (and inserted) per step of a close.
PAGE_ROWS = 1000


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
    ) -> None:
        self._registry = registry
        self._redis = redis
        self._keys = keys
        self._store = store
        self._progress = progress
        self._announcer = announcer
        self._metrics = metrics
        self._clock = clock
        self._page = redis.register_script(PAGE_SCRIPT)
        # The score topic's ends when each waiting close first looked: a close waits for
        # the rankers to reach them, not a target that moves on under load.
        self._fences: dict[str, dict[int, int]] = {}

    def restore_closed(self) -> int:
        """Put every stored close back in Redis's closed set when Redis has fewer (it lost
        its data): the rankers must never reopen a closed period. Returns the number added."""
        closed_key = self._keys.closed()
        if int(self._redis.scard(closed_key)) >= self._store.count():
            return 0
        members = self._store.closed_keys()
        added = 0
        for start in range(0, len(members), PAGE_ROWS):
            added += int(self._redis.sadd(closed_key, *members[start : start + PAGE_ROWS]))
        if added:
            log.warning("restored closed periods in Redis", added=added)
        return added

    def run_once(self) -> None:
        now = self._clock()
        waiting = 0
        for due in self.due(now):
            if not self.close(due):
                waiting += 1
        self._metrics.waiting.set(waiting)
        self.announce_pending()

    def due(self, now: datetime) -> list[Due]:
        """Periods with standings in Redis whose end plus grace is not after ``now``."""
        found: list[Due] = []
        for definition in self._registry.all():
            schedule = definition.schedule
            if not schedule.closes:
                continue
            grace = timedelta(seconds=definition.grace)
            if schedule.resets:
                names = sorted(
                    member.decode() if isinstance(member, bytes) else member
                    for member in self._redis.smembers(self._keys.periods(definition.id))
                )
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
            targets = self._fences.setdefault(due.key, self._progress.ends())
            behind = self._progress.behind(targets)
            if behind:
                log.info("waiting for the rankers", period=due.key, events_behind=behind)
                return False
            started = time.perf_counter()
            # From here on the rankers refuse the period's events: its standings are final.
            self._redis.sadd(self._keys.closed(), due.key)
            closing = Closing(
                board, period.id, period.start, period.end, due.definition.model_dump(mode="json")
            )
            players = self._store.store(closing, self._pages(due))
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
        self._redis.unlink(self._keys.board(board, period.id), self._keys.reached(board, period.id))
        if period.id != ALL_TIME:
            self._redis.srem(self._keys.periods(board), period.id)
        self._fences.pop(due.key, None)
        return True

    def _pages(self, due: Due) -> Iterator[list[ClosedEntry]]:
        """The frozen standings, page by page, in rank order."""
        board, period = due.definition.id, due.period.id
        sort = due.definition.sort
        latest = due.definition.operator == "latest"
        offset = 0
        while True:
            reply = self._page(
                keys=script_keys(self._keys, board, period), args=page_args(offset, PAGE_ROWS)
            )
            rows = reply[1:]
            if not rows:
                return
            players = [rows[index] for index in range(0, len(rows), 3)]
            # ``latest`` boards keep the exact reach; the stored score holds it roughly.
            exact = (
                self._redis.hmget(self._keys.reached(board, period), players)
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

    def announce_pending(self) -> None:
        """Announce every stored close whose message is not recorded as on Kafka; after a
        crash, first look for the messages a previous closer committed."""
        pending = self._store.unannounced()
        if not pending:
            return
        scanned = [item for item in pending if item.announce_from is not None]
        if scanned:
            start: dict[int, int] = {}
            for item in scanned:
                assert item.announce_from is not None
                for partition, offset in item.announce_from.items():
                    start[partition] = min(offset, start.get(partition, offset))
            # The fence first: afterwards no older producer can still commit a message.
            self._announcer.start()
            found = self._announcer.find(
                start, [period_close_key(item.leaderboard, item.period) for item in scanned]
            )
            for item in scanned:
                at = found.get(period_close_key(item.leaderboard, item.period))
                if at is not None:
                    self._store.record_announced(item.leaderboard, item.period, *at)
                    log.info(
                        "found a period-closed message", period=f"{item.leaderboard}/{item.period}"
                    )
        for item in self._store.unannounced():
            if item.announce_from is None:
                self._store.record_announce_from(
                    item.leaderboard, item.period, self._announcer.ends()
                )
            closing, players, closed_at, top = self._store.message_of(item.leaderboard, item.period)
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
            partition, offset = self._announcer.announce(message)
            self._store.record_announced(item.leaderboard, item.period, partition, offset)
            self._metrics.announced.inc()
            log.info("announced a closed period", period=f"{item.leaderboard}/{item.period}")
