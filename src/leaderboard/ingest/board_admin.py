"""The admin API's operations, in a safe order: a change is committed to PostgreSQL, the
standings in Redis follow it (resets, removals), the definitions topic and the publisher
hear of it; ``running_definitions`` holds the clients from start to shutdown.

Design: docs/services.md, "Admin API".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

from redis import Redis
from redis.exceptions import RedisError

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.core.definitions import definition_key
from leaderboard.core.erasures import PlayerErasure, erasure_key
from leaderboard.core.errors import DatabaseError, KafkaError
from leaderboard.core.events import ChangeNotice, LeaderboardChange, utc_now
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.web import shutdown_share
from leaderboard.ingest.auth import Keyring
from leaderboard.ingest.definitions import (
    DEFAULT_SORT,
    Change,
    DefinitionStore,
    PutResult,
    create_definitions_engine,
)
from leaderboard.ingest.erasure import Erased, ErasureStandings, ErasureStore
from leaderboard.ingest.producer import Record, ScoreProducer
from leaderboard.ingest.settings import IngestSettings
from leaderboard.ingest.standings import Removal, Standings

log = get_logger(__name__)

#: Pause between attempts to republish the stored definitions at start-up.
REPUBLISH_RETRY_SECONDS = 5.0


class RecordSink(Protocol):
    """Where definition records and change notices go; ``send_records`` returns once
    Kafka stored them all (``topic`` None: the definitions topic)."""

    def start(self) -> None: ...
    async def send_records(self, records: Sequence[Record], topic: str | None = None) -> None: ...
    async def close(self, timeout: float) -> None: ...


class NotPublishedError(Exception):
    """PostgreSQL committed the change but Kafka did not acknowledge it."""


class StandingsNotClearedError(Exception):
    """A reset is committed and published but Redis failed to clear the standings."""


class ErasureIncompleteError(Exception):
    """An erasure is committed and published but Redis failed to remove the standings."""


class NotAuditedError(Exception):
    """A player's standing was removed but its audit row could not be written."""


class Definitions:
    """Stores a change, then publishes it; one change at a time in this process, so the
    topic receives a board's records in the order PostgreSQL committed them. Resets and
    removals also change the standings in Redis (``standings``) and send a change notice
    to ``notices_topic`` so the publisher sends the board's new top N at once."""

    def __init__(
        self,
        store: DefinitionStore,
        sink: RecordSink,
        topic: str,
        standings: Standings,
        notices_topic: str,
        erasure: tuple[ErasureStore, ErasureStandings, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``erasure``: the PostgreSQL and Redis halves of player erasure and the erasures
        topic (None: erasure is not served); ``clock``: now, which decides a board's live
        period."""
        self.store = store
        self.sink = sink
        self.topic = topic
        self.standings = standings
        self.notices_topic = notices_topic
        self.erasure = erasure
        self.clock = clock
        self._lock = asyncio.Lock()

    async def put(
        self, board_id: str, spec: BoardSpec, actor: str, *, reset: bool = False
    ) -> PutResult:
        async with self._lock:
            result = await asyncio.to_thread(
                self.store.put,
                board_id,
                spec,
                actor,
                reset=reset,
                has_standings=lambda: self.standings.has_standings(board_id),
            )
            if result.change is not Change.UNCHANGED:
                log.info(
                    "board definition stored",
                    leaderboard=board_id,
                    change=result.change.value,
                    revision=result.definition.revision,
                    reset_at=result.definition.reset_at if reset else None,
                    actor=actor,
                )
            if reset:
                await self._reset_and_publish(result.definition, actor)
            else:
                # Published even when unchanged: a PUT repeated after a 503 publishes it.
                await self._publish_definition(result.definition)
            return result

    async def reset(
        self, board_id: str, actor: str, reason: str | None
    ) -> tuple[BoardDefinition, int | None] | None:
        """Reset a defined board: its new definition and the players removed (None: a
        later reset had cleared it); None when the board has no definition."""
        async with self._lock:
            definition = await asyncio.to_thread(self.store.reset, board_id, actor, reason)
            if definition is None:
                return None
            log.info(
                "board reset stored",
                leaderboard=board_id,
                revision=definition.revision,
                reset_at=definition.reset_at,
                actor=actor,
                reason=reason,
            )
            return definition, await self._reset_and_publish(definition, actor)

    async def remove_player(
        self, board_id: str, player_id: str, actor: str, reason: str
    ) -> Removal | None:
        """Remove a player's standings in every period of the board and audit the request
        (also when there were none); the removal reports its standing in the board's live
        period. None when the board is unknown (no definition and never ranked)."""
        definition = await asyncio.to_thread(self.store.get, board_id)
        if definition is None:
            sort, live = DEFAULT_SORT, ALL_TIME
        else:
            sort, live = definition.sort, definition.schedule.live_period(self.clock()).id
        removal = await asyncio.to_thread(
            self.standings.remove_player, board_id, player_id, sort, live
        )
        if definition is None and not removal.board_known and not removal.removed:
            return None
        detail = {
            "removed": removal.removed,
            "period": live,
            "score": removal.score,
            "reached_at": None if removal.reached_at is None else removal.reached_at.isoformat(),
            "periods": list(removal.periods),
        }
        try:
            await asyncio.to_thread(
                self.store.audit,
                actor,
                "remove_player",
                board_id,
                player_id=player_id,
                reason=reason,
                detail=detail,
            )
        except DatabaseError as error:
            if not removal.removed:
                raise
            log.error(
                "player removed from the standings but not audited",
                leaderboard=board_id,
                player_id=player_id,
                actor=actor,
                reason=reason,
                error=str(error),
                **detail,
            )
            raise NotAuditedError(str(error)) from error
        log.info(
            "player removal audited",
            leaderboard=board_id,
            player_id=player_id,
            actor=actor,
            reason=reason,
            **detail,
        )
        if removal.removed:
            await self._notify(board_id, utc_now())
        return removal

    async def erase_player(self, player_id: str, actor: str) -> Erased:
        """Erase a player everywhere, in an order that a failure and a repeat of the request
        can only complete: PostgreSQL (the suppression list, the archive, the audit), the
        erasures topic (what every ranker and a replay honour), then Redis (the standings
        and names, and the erased set the rankers' scripts check)."""
        assert self.erasure is not None, "erasure is wired in running_definitions"
        store, standings, topic = self.erasure
        recorded = await asyncio.to_thread(store.record, player_id, actor)
        player_hash = erasure_key(player_id)
        erasure = PlayerErasure(player_hash=player_hash, erased_at=recorded.erased_at)
        try:
            await self.sink.send_records([(player_hash.encode(), erasure.to_json())], topic=topic)
        except KafkaError as error:
            log.warning(
                "player erased in PostgreSQL but not published; it is republished at the next "
                "start or by repeating the request",
                player_hash=player_hash,
                error=str(error),
                **error.log_context(),
            )
            raise NotPublishedError(str(error)) from error
        try:
            boards = await asyncio.to_thread(standings.erase, player_id)
        except RedisError as error:
            log.warning(
                "player erased in PostgreSQL and Kafka but not yet in Redis; repeat the request",
                player_hash=player_hash,
                error=str(error),
            )
            raise ErasureIncompleteError(str(error)) from error
        # The log names the hash, never the player: logs outlive the erasure.
        log.info(
            "player erased",
            player_hash=player_hash,
            already_erased=recorded.already_erased,
            archived_rows_deleted=recorded.archived_rows_deleted,
            boards=len(boards),
            actor=actor,
        )
        for board in boards:
            await self._notify(board, utc_now())
        return Erased(recorded, boards)

    async def delete(self, board_id: str, actor: str) -> BoardDefinition | None:
        async with self._lock:
            deleted = await asyncio.to_thread(self.store.delete, board_id, actor)
            if deleted is None:
                return None
            log.info(
                "board definition deleted",
                leaderboard=board_id,
                revision=deleted.revision,
                actor=actor,
            )
            await self._publish([(definition_key(board_id), None)], board_id)
            return deleted

    async def republish(self) -> int:
        """Produce every stored definition and a tombstone for every deleted board, and
        every erasure, so the topics converge on PostgreSQL; returns how many records were
        produced."""
        async with self._lock:
            stored = await asyncio.to_thread(self.store.all)
            deleted = await asyncio.to_thread(self.store.deleted_ids)
            records: list[Record] = [
                (definition_key(definition.id), definition.to_json()) for definition in stored
            ]
            records += [(definition_key(board_id), None) for board_id in deleted]
            await self.sink.send_records(records)
            if self.erasure is None:
                return len(records)
            store, _, topic = self.erasure
            erasures = [
                (erasure.player_hash.encode(), erasure.to_json())
                for erasure in await asyncio.to_thread(store.all)
            ]
            await self.sink.send_records(erasures, topic=topic)
            return len(records) + len(erasures)

    async def republish_until_done(self) -> None:
        """``republish`` at start-up, retried until PostgreSQL and Kafka both answer."""
        while True:
            try:
                count = await self.republish()
            except (DatabaseError, KafkaError) as error:
                log.warning(
                    "cannot republish the board definitions yet; retrying",
                    topic=self.topic,
                    error=str(error),
                    retry_seconds=REPUBLISH_RETRY_SECONDS,
                )
                await asyncio.sleep(REPUBLISH_RETRY_SECONDS)
                continue
            log.info("board definitions republished", topic=self.topic, records=count)
            return

    async def _reset_and_publish(self, definition: BoardDefinition, actor: str) -> int | None:
        """After a committed reset: clear the standings, then publish the definition and
        notify the publisher; the players removed (None: a later reset had cleared them).

        Redis first: the rankers read the reset there too, so an event that occurs after
        it is never cleared away, and PostgreSQL already holds the reset, so the topic
        gets the definition even when Redis fails (the request answers 503 then)."""
        assert definition.reset_at is not None
        try:
            removed = await asyncio.to_thread(
                self.standings.reset, definition.id, definition.reset_at
            )
        except RedisError as error:
            log.warning(
                "board reset stored but the standings not cleared; repeat the request",
                leaderboard=definition.id,
                revision=definition.revision,
                error=str(error),
            )
            await self._publish_definition(definition)
            raise StandingsNotClearedError(str(error)) from error
        log.info(
            "board standings cleared",
            leaderboard=definition.id,
            players_removed=removed,
            superseded=removed is None,
            actor=actor,
        )
        await self._publish_definition(definition)
        await self._notify(definition.id, definition.reset_at)
        return removed

    async def _publish_definition(self, definition: BoardDefinition) -> None:
        await self._publish([(definition_key(definition.id), definition.to_json())], definition.id)

    async def _notify(self, board_id: str, at: datetime) -> None:
        """A change notice for the board, as the ranker sends: the publisher then sends
        its new top N at once. Lost, the live views catch up at the board's next score."""
        notice = ChangeNotice(
            changes=[LeaderboardChange(leaderboard=board_id, newest_event_at=at)],
            sent_at=utc_now(),
        )
        try:
            await self.sink.send_records(
                [(board_id.encode(), notice.to_json())], topic=self.notices_topic
            )
        except KafkaError as error:
            log.warning(
                "change notice not sent; live views show the change at the board's next score",
                leaderboard=board_id,
                error=str(error),
                **error.log_context(),
            )

    async def _publish(self, records: list[Record], board_id: str) -> None:
        try:
            await self.sink.send_records(records)
        except KafkaError as error:
            log.warning(
                "board change stored but not published; it is republished at the next "
                "start or by repeating the request",
                leaderboard=board_id,
                error=str(error),
                **error.log_context(),
            )
            raise NotPublishedError(str(error)) from error


@asynccontextmanager
async def running_definitions(
    settings: IngestSettings, admin_keys: Keyring
) -> AsyncIterator[Definitions]:
    """The admin side of the service from start to shutdown: its engine, Redis client and
    producer and the start-up republish, run in the background so that scores are
    accepted while PostgreSQL is away. Redis is connected to at the first admin request
    that needs it: scores never wait for it."""
    engine = create_definitions_engine(settings)
    redis = Redis(**settings.redis_client_kwargs())
    topic = settings.topic_leaderboard_definitions
    definitions = Definitions(
        DefinitionStore(engine),
        ScoreProducer(settings, topic=topic),
        topic,
        Standings(redis, RedisKeys(settings.redis_key_prefix)),
        settings.topic_leaderboard_change,
        (
            ErasureStore(engine),
            ErasureStandings(redis, RedisKeys(settings.redis_key_prefix)),
            settings.topic_player_erasures,
        ),
    )
    definitions.sink.start()
    republishing = asyncio.create_task(definitions.republish_until_done())
    log.info("admin API on", admin_keys=admin_keys.names, topic=topic)
    try:
        yield definitions
    finally:
        republishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await republishing
        await definitions.sink.close(shutdown_share(settings))
        redis.close()
        engine.dispose()
