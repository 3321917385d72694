"""The closer's PostgreSQL half: the lock that makes one closer active, the transaction
that stores a closed period, and the bookkeeping of its period-closed message."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from leaderboard.core.board_tables import ERASURE_LOCK, erased_players
from leaderboard.core.database import without_nul
from leaderboard.core.erasures import erasure_key
from leaderboard.core.events import ClosedEntry
from leaderboard.core.period_tables import period_closes, period_standings

#: The lock session's server-side TCP keepalives (seconds; libpq's only cover the client).
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 10,
    "tcp_keepalives_interval": 5,
    "tcp_keepalives_count": 3,
}


def lock_key(prefix: str) -> int:
    """The advisory lock of the deployment with Redis key prefix ``prefix``: a signed
    64-bit number derived from it, so deployments sharing a database do not share it."""
    digest = hashlib.sha256(f"leaderboard-closer:{prefix}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class Closing:
    """What a stored close records besides its standings."""

    leaderboard: str
    period: str
    starts_at: datetime | None
    ends_at: datetime
    definition: dict[str, Any]


@dataclass(frozen=True)
class Unannounced:
    """A stored close whose period-closed message is not known to be on Kafka."""

    leaderboard: str
    period: str
    #: Partition -> the topic's end offset before the message was first produced; None:
    #: never produced.
    announce_from: dict[int, int] | None


class LeaderLock:
    """A session advisory lock held on a connection of its own: the holder is the active
    closer until it unlocks or its connection dies (then PostgreSQL releases the lock)."""

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it."""
        if self._connection is not None:
            return True
        connection = self._engine.connect()
        try:
            taken = connection.execute(select(func.pg_try_advisory_lock(self._key))).scalar_one()
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        try:
            # The server drops a vanished holder's session (and lock) within about 25 s,
            # not after the kernel's two-hour keepalive default.
            for setting, value in SERVER_KEEPALIVES.items():
                connection.execute(text(f"SET {setting} = {value}"))
            connection.commit()
        except BaseException:
            self._connection = connection
            self.release()
            raise
        self._connection = connection
        return True

    def check(self) -> bool:
        """Whether the lock is still held: its connection still answers."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1")).scalar_one()
            self._connection.commit()
        except Exception:
            self.release()
            return False
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # Closing a pooled connection would hand the session back with the lock.
            connection.invalidate()
        finally:
            connection.close()


class ClosedPeriods:
    """The ``period_closes`` and ``period_standings`` tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_closed(self, leaderboard: str, period: str) -> bool:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(period_closes.c.period).where(
                    period_closes.c.leaderboard == leaderboard, period_closes.c.period == period
                )
            ).first()
        return found is not None

    def store(self, closing: Closing, pages: Iterable[Sequence[ClosedEntry]]) -> int | None:
        """Store a closed period and its standings in one transaction; the number of
        players stored, or None when the period was stored before (nothing changes).

        The erasure lock is shared, so an erasure either committed before (its player is
        left out here) or waits and then deletes the rows this stores."""
        with self.engine.begin() as connection:
            connection.execute(select(func.pg_advisory_xact_lock_shared(ERASURE_LOCK)))
            created = connection.execute(
                pg_insert(period_closes)
                .values(
                    leaderboard=closing.leaderboard,
                    period=closing.period,
                    starts_at=closing.starts_at,
                    ends_at=closing.ends_at,
                    players=0,
                    definition=closing.definition,
                )
                .on_conflict_do_nothing(index_elements=["leaderboard", "period"])
                .returning(period_closes.c.period)
            ).first()
            if created is None:
                return None
            players = 0
            for page in pages:
                rows = _kept(connection, page)
                if rows:
                    connection.execute(
                        period_standings.insert(),
                        [
                            {
                                "leaderboard": closing.leaderboard,
                                "period": closing.period,
                                "rank": players + index + 1,
                                "player_id": entry.player_id,
                                "display_name": None
                                if entry.display_name is None
                                else without_nul(entry.display_name),
                                "score": entry.score,
                                "reached_at": entry.reached_at,
                            }
                            for index, entry in enumerate(rows)
                        ],
                    )
                players += len(rows)
            connection.execute(
                update(period_closes)
                .where(
                    period_closes.c.leaderboard == closing.leaderboard,
                    period_closes.c.period == closing.period,
                )
                .values(players=players)
            )
        return players

    def closed_keys(self) -> list[str]:
        """``<board>/<period>`` of every closed period (what Redis's closed set holds)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(period_closes.c.leaderboard, period_closes.c.period))
            return [f"{board}/{period}" for board, period in rows]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(period_closes)).scalar_one()
            )

    def unannounced(self) -> list[Unannounced]:
        """Stored closes whose message is not recorded as on Kafka, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(
                    period_closes.c.leaderboard,
                    period_closes.c.period,
                    period_closes.c.announce_from,
                )
                .where(period_closes.c.announced_offset.is_(None))
                .order_by(period_closes.c.closed_at)
            )
            return [
                Unannounced(
                    board,
                    period,
                    None if start is None else {int(p): int(o) for p, o in start.items()},
                )
                for board, period, start in rows
            ]

    def message_of(
        self, leaderboard: str, period: str
    ) -> tuple[Closing, int, datetime, list[ClosedEntry]]:
        """A stored close as its message needs it: the close, its player count, its close
        time and its first ``top_n`` rows (``top_n`` from its definition)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(period_closes).where(
                    period_closes.c.leaderboard == leaderboard, period_closes.c.period == period
                )
            ).one()
            top_n = int(row.definition.get("top_n") or DEFAULT_TOP_N)
            top = connection.execute(
                select(period_standings)
                .where(
                    period_standings.c.leaderboard == leaderboard,
                    period_standings.c.period == period,
                )
                .order_by(period_standings.c.rank)
                .limit(top_n)
            )
            entries = [
                ClosedEntry(
                    rank=entry.rank,
                    player_id=entry.player_id,
                    display_name=entry.display_name,
                    score=entry.score,
                    reached_at=entry.reached_at,
                )
                for entry in top
            ]
        closing = Closing(leaderboard, period, row.starts_at, row.ends_at, dict(row.definition))
        return closing, int(row.players), row.closed_at, entries

    def record_announce_from(
        self, leaderboard: str, period: str, offsets: dict[int, int]
    ) -> dict[int, int]:
        """Record where a scan for the period's message starts, unless a closer already
        did (the first one recorded stays: it is before any message); the one recorded."""
        with self.engine.begin() as connection:
            connection.execute(
                update(period_closes)
                .where(
                    period_closes.c.leaderboard == leaderboard,
                    period_closes.c.period == period,
                    period_closes.c.announce_from.is_(None),
                )
                .values(announce_from={str(p): o for p, o in offsets.items()})
            )
            recorded = connection.execute(
                select(period_closes.c.announce_from).where(
                    period_closes.c.leaderboard == leaderboard, period_closes.c.period == period
                )
            ).scalar_one()
        return {int(p): int(o) for p, o in recorded.items()}

    def record_announced(self, leaderboard: str, period: str, partition: int, offset: int) -> None:
        self._set(leaderboard, period, announced_partition=partition, announced_offset=offset)

    def _set(self, leaderboard: str, period: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(period_closes)
                .where(period_closes.c.leaderboard == leaderboard, period_closes.c.period == period)
                .values(**values)
            )


#: Rows of a message's ``top`` when the board's definition sets no ``top_n``.
DEFAULT_TOP_N = 10


def _kept(connection: Connection, page: Sequence[ClosedEntry]) -> list[ClosedEntry]:
    """``page`` without the players erased so far."""
    hashes = {erasure_key(entry.player_id): entry for entry in page}
    erased = set(
        connection.execute(
            select(erased_players.c.player_hash).where(
                erased_players.c.player_hash.in_(list(hashes))
            )
        ).scalars()
    )
    return [entry for entry in page if erasure_key(entry.player_id) not in erased]
