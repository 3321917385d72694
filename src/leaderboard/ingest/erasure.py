"""Erasing a player everywhere (``DELETE /api/admin/players/{player_id}``): the suppression
list and the archive in PostgreSQL, the erasures topic, then every board in Redis.

Order and guarantees: docs/services.md, "Erasure".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.commands.core import Script
from sqlalchemy import Engine, delete, exc, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from leaderboard.core.board_tables import ERASURE_LOCK, admin_audit, erased_players
from leaderboard.core.erasures import PlayerErasure, erasure_key, redis_erasure_key
from leaderboard.core.errors import DatabaseError
from leaderboard.core.keys import RedisKeys
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.ingest.standings import BOARD_PERIODS_LUA

# The boards to visit come from the set of boards inside the script, so a board the ranker
# creates meanwhile is either visited or never sees the player (it checks the erased set);
# likewise each board's periods. Their keys are built here from prefixes: all share the
# deployment's hash tag, hence one Redis Cluster slot.
ERASE_SCRIPT = (
    BOARD_PERIODS_LUA
    + """
redis.call('SADD', KEYS[1], ARGV[1])
local touched = {}
for _, board in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local ranked = 0
  for _, period in ipairs(periods_of(ARGV[6] .. board)) do
    local suffix = period_suffix(period)
    ranked = ranked + redis.call('ZREM', ARGV[3] .. board .. suffix, ARGV[2])
    redis.call('HDEL', ARGV[4] .. board .. suffix, ARGV[2])
  end
  local named = redis.call('HDEL', ARGV[5] .. board, ARGV[2])
  if ranked > 0 or named == 1 then
    touched[#touched + 1] = board
  end
end
return touched
"""
)
# KEYS: 1 the erased set, 2 the set of boards. ARGV: 1 the player's Redis erasure key,
# 2 the player id, 3-6 the key prefixes of boards' sorted sets, reach codes, names and
# periods sets.
# Returns the boards the player was on (in any period).

# The archive's rows of one player, found through the (leaderboard, player_id) index: the
# distinct boards by a loose index scan, then one index lookup per board.
_DELETE_ARCHIVED = text(
    """
WITH RECURSIVE boards(leaderboard) AS (
  (SELECT leaderboard FROM score_events ORDER BY leaderboard LIMIT 1)
  UNION ALL
  SELECT (SELECT s.leaderboard FROM score_events s WHERE s.leaderboard > b.leaderboard
          ORDER BY s.leaderboard LIMIT 1)
  FROM boards b WHERE b.leaderboard IS NOT NULL
)
DELETE FROM score_events
WHERE player_id = :player
  AND leaderboard IN (SELECT leaderboard FROM boards WHERE leaderboard IS NOT NULL)
"""
)


# Earlier audit rows (moderations) keep what was done, with the player's hash for its id.
_PSEUDONYMISE_AUDIT = text(
    "UPDATE admin_audit SET player_id = NULL, "
    "detail = coalesce(detail, '{}'::jsonb) || jsonb_build_object('player_hash', :hash) "
    "WHERE player_id = :player"
)


@dataclass(frozen=True)
class Recorded:
    """What PostgreSQL holds after an erasure."""

    erased_at: datetime
    already_erased: bool
    archived_rows_deleted: int
    audit_rows_pseudonymised: int


class ErasureStore:
    """The PostgreSQL half: blocking (run it from a worker thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, player_id: str, actor: str) -> Recorded:
        """In one transaction, under the erasure lock the archiver shares: add the player
        to the suppression list (kept if there), delete its archived events, replace its
        id by its hash in earlier audit rows, and audit the erasure."""
        player_hash = erasure_key(player_id)
        try:
            with self.engine.begin() as connection:
                connection.execute(select(func.pg_advisory_xact_lock(ERASURE_LOCK)))
                added = connection.execute(
                    pg_insert(erased_players)
                    .values(player_hash=player_hash)
                    .on_conflict_do_nothing(index_elements=["player_hash"])
                    .returning(erased_players.c.erased_at)
                ).first()
                erased_at = (
                    added[0]
                    if added is not None
                    else connection.execute(
                        select(erased_players.c.erased_at).where(
                            erased_players.c.player_hash == player_hash
                        )
                    ).scalar_one()
                )
                deleted = connection.execute(_DELETE_ARCHIVED, {"player": player_id}).rowcount
                # Closed periods keep the others' ranks: the final standings were paid out.
                closed = connection.execute(
                    delete(period_standings)
                    .where(period_standings.c.player_id == player_id)
                    .returning(period_standings.c.leaderboard, period_standings.c.period)
                ).all()
                for board, period in closed:
                    connection.execute(
                        update(period_closes)
                        .where(
                            period_closes.c.leaderboard == board, period_closes.c.period == period
                        )
                        .values(players=period_closes.c.players - 1)
                    )
                standings = len(closed)
                pseudonymised = connection.execute(
                    _PSEUDONYMISE_AUDIT, {"player": player_id, "hash": player_hash}
                ).rowcount
                connection.execute(
                    insert(admin_audit).values(
                        actor=actor,
                        action="erase_player",
                        detail={
                            "player_hash": player_hash,
                            "already_erased": added is None,
                            "archived_rows_deleted": deleted,
                            "closed_standings_deleted": standings,
                            "audit_rows_pseudonymised": pseudonymised,
                        },
                    )
                )
        except exc.SQLAlchemyError as error:
            raise DatabaseError(f"cannot erase a player: {type(error).__name__}") from error
        return Recorded(erased_at, added is None, deleted, pseudonymised)

    def all(self) -> list[PlayerErasure]:
        """Every erasure recorded, oldest first (the start-up republish)."""
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(erased_players.c.player_hash, erased_players.c.erased_at).order_by(
                        erased_players.c.id
                    )
                ).all()
        except exc.SQLAlchemyError as error:
            raise DatabaseError(f"cannot read the erasures: {type(error).__name__}") from error
        return [PlayerErasure(player_hash=h, erased_at=at) for h, at in rows]


@dataclass(frozen=True)
class Erased:
    """What an erasure did, everywhere."""

    recorded: Recorded
    boards: list[str]  # the Redis boards the player was removed from


class ErasureStandings:
    """The Redis half: blocking; raises ``redis.exceptions.RedisError`` when Redis fails."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.keys = keys
        self._erase: Script = redis.register_script(ERASE_SCRIPT)

    def erase(self, player_id: str) -> list[str]:
        """Mark the player erased and remove it from every period of every board; the
        boards it was on."""
        keys = self.keys
        reply = self._erase(
            keys=[keys.erased(), keys.boards()],
            args=[
                redis_erasure_key(player_id),
                player_id,
                keys.board(""),
                keys.reached(""),
                keys.names(""),
                keys.periods(""),
            ],
        )
        return sorted(board.decode() for board in reply)
