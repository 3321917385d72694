"""The list of a board's periods (``GET /api/leaderboards/{id}/periods``): the live one, those
still in Redis and the closed ones in PostgreSQL, merged newest first, a page per cursor.

Pure: the API reads the sources, this decides what is listed and in which order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from leaderboard.core.periods import PERIOD_ID, Period, PeriodState

#: Where a period that never ends sorts: after every end.
_NEVER: Final = datetime.max.replace(tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,20})_(.+)$")


@dataclass(frozen=True)
class ListedPeriod:
    """A period as the list shows it; ``players`` None when it is not known; ``final``
    when its standings were stored at its close (read from PostgreSQL)."""

    period: Period
    state: PeriodState
    players: int | None
    final: bool = False

    @property
    def key(self) -> tuple[datetime, str]:
        """Its place in the list, newest first: by end (never ending: first), then id."""
        return (self.period.end or _NEVER, self.period.id)


def cursor_of(key: tuple[datetime, str]) -> str:
    """The opaque cursor that continues a list after the period of ``key``."""
    end, period_id = key
    return f"{(end - _EPOCH) // timedelta(microseconds=1)}_{period_id}"


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    """The key a cursor continues after; ValueError when it is none of ours."""
    match = _CURSOR.match(cursor)
    if match is None or not re.match(PERIOD_ID, match[2]):
        raise ValueError("is not a cursor of this list: pass back `next_cursor` as it came")
    try:
        end = _EPOCH + timedelta(microseconds=int(match[1]))
    except OverflowError:
        raise ValueError(
            "is not a cursor of this list: pass back `next_cursor` as it came"
        ) from None
    return min(end, _NEVER), match[2]


def merge_periods(
    live: ListedPeriod,
    in_redis: Iterable[ListedPeriod],
    closed: Iterable[ListedPeriod],
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[ListedPeriod], str | None]:
    """One page of the list and the cursor of the next (None at the end).

    ``closed`` (read with ``limit + 1`` rows after ``after``) wins over Redis for a period
    in both, as between its close and the deletion of its keys; a period in which nobody
    scored is left out, except the live one.
    """
    found: dict[str, ListedPeriod] = {}
    for item in (live, *in_redis):
        if item is live or item.players:
            found[item.period.id] = item
    found |= {item.period.id: item for item in closed}
    ordered = sorted(
        (item for item in found.values() if after is None or item.key < after),
        key=lambda item: item.key,
        reverse=True,
    )
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, cursor_of(page[-1].key) if more and page else None


def redis_periods(
    counts: Mapping[str, int], named: Mapping[str, Period | None], now: datetime, grace: timedelta
) -> list[ListedPeriod]:
    """The periods of a board's Redis periods set, with their number of players
    (``counts``) and bounds (``named``: from the schedule; None when it has no such period
    any more, which are left out)."""
    listed = []
    for period_id, players in counts.items():
        period = named.get(period_id)
        if period is not None:
            listed.append(ListedPeriod(period, period.state(now, grace), players))
    return listed
