"""Live own rank: what a watcher is sent (diffing), and how changes are coalesced (pacing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError

from leaderboard.core.events import SnapshotEntry
from leaderboard.gateway.messages import PlayerUpdate
from leaderboard.gateway.rankings import Neighbourhood
from leaderboard.gateway.watch import BoardWatchers, PlayerWatch, Watcher


class Board:
    """Standings in memory, read as the gateway reads Redis (highest score first)."""

    def __init__(self, scores: dict[str, int] | None = None) -> None:
        self.scores = dict(scores or {})
        self.reads: list[dict[str, int]] = []
        self.failing = False

    def around(self, player: str, radius: int) -> Neighbourhood:
        ranked = sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))
        entries = [
            SnapshotEntry(rank=rank, player_id=pid, score=score)
            for rank, (pid, score) in enumerate(ranked, start=1)
        ]
        mine = next((e.rank for e in entries if e.player_id == player), None)
        if mine is None:
            return Neighbourhood(total=len(entries), rank=None, entries=[])
        near = [e for e in entries if abs(e.rank - mine) <= radius]
        return Neighbourhood(total=len(entries), rank=mine, entries=near)

    async def read(self, board: str, radii: dict[str, int]) -> dict[str, Neighbourhood]:
        self.reads.append(dict(radii))
        await asyncio.sleep(0)
        if self.failing:
            raise RedisConnectionError("Connection refused")
        return {player: self.around(player, radius) for player, radius in radii.items()}


class Inbox:
    """A connection's ``player`` messages, decoded, with when each was handed over."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.at: list[float] = []

    def __call__(self, update: PlayerUpdate) -> None:
        self.messages.append(orjson.loads(update.message))
        self.at.append(time.monotonic())

    @property
    def last(self) -> dict:
        return self.messages[-1]


def watcher(player: str, radius: int = 1, board: str = "b") -> tuple[Watcher, Inbox]:
    inbox = Inbox()
    return Watcher(board, player, radius, inbox), inbox


SCORES = {"a": 50, "b": 40, "c": 30, "d": 20, "e": 10}


# -- diffing ------------------------------------------------------------------------------


def test_the_first_message_has_the_documented_shape() -> None:
    state, board = BoardWatchers(), Board(SCORES)
    mine, _ = watcher("c", radius=1)
    state.watchers.add(mine)
    [(to, update)] = state.deliver("b", [mine], {"c": board.around("c", 1)}, now=0.0)
    assert to is mine
    assert orjson.loads(update.message) == {
        "type": "player",
        "protocol": 1,
        "leaderboard": "b",
        "player_id": "c",
        "rank": 3,
        "score": 30,
        "display_name": None,
        "entries": [
            {"rank": 2, "player_id": "b", "display_name": None, "score": 40},
            {"rank": 3, "player_id": "c", "display_name": None, "score": 30},
            {"rank": 4, "player_id": "d", "display_name": None, "score": 20},
        ],
        "total": 5,
    }


def test_a_player_without_a_score_gets_rank_null_once() -> None:
    state, board = BoardWatchers(), Board(SCORES)
    nobody, _ = watcher("zz")
    state.watchers.add(nobody)
    [(_, update)] = state.deliver("b", [nobody], {"zz": board.around("zz", 1)}, now=0.0)
    body = orjson.loads(update.message)
    assert (body["rank"], body["score"], body["entries"], body["total"]) == (None, None, [], 5)
    assert state.deliver("b", [nobody], {"zz": board.around("zz", 1)}, now=1.0) == []


def test_only_watchers_whose_view_changed_are_sent_anything() -> None:
    state, board = BoardWatchers(), Board(SCORES)
    top, _ = watcher("a", radius=1)
    bottom, _ = watcher("e", radius=1)
    state.watchers |= {top, bottom}
    both = [top, bottom]
    assert len(state.deliver("b", both, {p: board.around(p, 1) for p in "ae"}, 0.0)) == 2

    board.scores["d"] += 5  # 25: below e's neighbour d only
    sent = state.deliver("b", both, {p: board.around(p, 1) for p in "ae"}, 1.0)
    assert [to for to, _ in sent] == [bottom]

    board.scores["new"] = 1  # a new last player: only the total moves for a
    sent = state.deliver("b", both, {p: board.around(p, 1) for p in "ae"}, 2.0)
    assert [to for to, _ in sent] == [bottom]  # "new" is e's neighbour now
    assert orjson.loads(sent[0][1].message)["total"] == 6

    board.scores["zzz"] = 0  # below "new": outside both views
    assert state.deliver("b", both, {p: board.around(p, 1) for p in "ae"}, 3.0) == []


def test_watchers_of_one_player_with_one_radius_share_a_message_and_radii_are_trimmed() -> None:
    state, board = BoardWatchers(), Board(SCORES)
    first, _ = watcher("c", radius=1)
    second, _ = watcher("c", radius=1)
    wide, _ = watcher("c", radius=2)
    state.watchers |= {first, second, wide}
    radii = state.radii([first, second, wide])
    assert radii == {"c": 2}  # one read per player, with the largest radius
    sent = dict(state.deliver("b", [first, second, wide], {"c": board.around("c", 2)}, 0.0))
    assert sent[first] is sent[second]
    assert [e["rank"] for e in orjson.loads(sent[first].message)["entries"]] == [2, 3, 4]
    assert [e["rank"] for e in orjson.loads(sent[wide].message)["entries"]] == [1, 2, 3, 4, 5]


def test_a_watcher_served_less_than_an_interval_ago_waits_and_the_board_stays_dirty() -> None:
    state, board = BoardWatchers(interval=0.25), Board(SCORES)
    mine, _ = watcher("c")
    state.watchers.add(mine)
    assert state.deliver("b", [mine], {"c": board.around("c", 1)}, now=10.0)
    board.scores["c"] = 45
    assert state.deliver("b", [mine], {"c": board.around("c", 1)}, now=10.1) == []
    assert state.dirty
    [(_, update)] = state.deliver("b", [mine], {"c": board.around("c", 1)}, now=10.25)
    assert orjson.loads(update.message)["rank"] == 2


def test_a_watcher_that_left_during_the_read_is_sent_nothing() -> None:
    state, board = BoardWatchers(), Board(SCORES)
    gone, _ = watcher("c")
    assert state.deliver("b", [gone], {"c": board.around("c", 1)}, 0.0) == []


def test_the_next_read_waits_out_the_interval() -> None:
    state = BoardWatchers(interval=0.25)
    assert state.wait(5.0) == 0
    state.last_read = 5.0
    assert abs(state.wait(5.1) - 0.15) < 1e-9
    assert state.wait(5.3) == 0


# -- pacing: the board's task ---------------------------------------------------------------


def test_a_new_watcher_gets_its_first_message_at_once() -> None:
    async def scenario() -> None:
        board = Board(SCORES)
        watch = PlayerWatch(board.read, interval=10)
        mine, inbox = watcher("d")
        watch.add(mine)
        await until(lambda: inbox.messages)
        assert inbox.last["rank"] == 4
        # A second watcher is not held back by the first one's interval either.
        other, other_inbox = watcher("a")
        watch.add(other)
        await until(lambda: other_inbox.messages)
        assert board.reads == [{"d": 1}, {"a": 1}]
        await watch.stop()

    asyncio.run(scenario())


def test_a_burst_of_changes_is_coalesced_and_ends_on_the_newest_state() -> None:
    async def scenario() -> None:
        interval = 0.1
        board = Board(SCORES)
        counts: list[int] = []
        watch = PlayerWatch(board.read, interval=interval, on_watchers=counts.append)
        mine, inbox = watcher("e", radius=0)
        watch.add(mine)
        await until(lambda: inbox.messages)
        started = time.monotonic()
        for step in range(1, 41):  # e climbs one point per change, 40 changes
            board.scores["e"] = 10 + step
            watch.changed(["b", "another-board"])
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        await until(lambda: inbox.last["score"] == 50)
        reads = len(board.reads) - 1
        assert 2 <= reads <= elapsed / interval + 3, (reads, elapsed)
        gaps = [b - a for a, b in zip(inbox.at, inbox.at[1:], strict=False)]
        assert min(gaps) >= interval * 0.99, gaps
        assert counts == [1]
        watch.remove(mine)
        assert counts == [1, 0]
        assert watch.count == 0
        await watch.stop()

    asyncio.run(scenario())


def test_changes_to_boards_nobody_watches_read_nothing() -> None:
    async def scenario() -> None:
        board = Board(SCORES)
        watch = PlayerWatch(board.read, interval=0.01)
        watch.changed(["b"])
        mine, inbox = watcher("a", board="other")
        watch.add(mine)
        await until(lambda: inbox.messages)
        watch.remove(mine)
        watch.changed(["other"])
        await asyncio.sleep(0.05)
        assert board.reads == [{"a": 1}]
        await watch.stop()

    asyncio.run(scenario())


def test_a_failed_read_is_retried_and_the_first_message_still_comes() -> None:
    async def scenario() -> None:
        board = Board(SCORES)
        board.failing = True
        watch = PlayerWatch(board.read, interval=0.01, retry_seconds=0.05)
        mine, inbox = watcher("b")
        watch.add(mine)
        await until(lambda: len(board.reads) >= 2)
        assert inbox.messages == []
        board.failing = False
        await until(lambda: inbox.messages)
        assert inbox.last["rank"] == 2
        await watch.stop()

    asyncio.run(scenario())


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``condition`` on the event loop (``wait_for`` would block it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)
