"""Direct fan-out: writes when the socket takes them, latest wins when it does not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.gateway.direct import DirectSubscriber, FanOutStats, WatchingSubscriber
from leaderboard.gateway.messages import PlayerUpdate, Update, text_frame

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def update(version: int) -> Update:
    return Update.of(
        LeaderboardSnapshot(
            leaderboard="a",
            version=version,
            entries=[SnapshotEntry(rank=1, player_id="p1", score=version)],
            generated_at=T0,
            newest_event_at=T0,
        )
    )


class FakeChannel:
    """A socket that takes frames while ``open`` and not ``full``."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.full = False
        self.aborted = False
        self.resumed: Callable[[], None] | None = None

    def can_write(self) -> bool:
        return not self.full and not self.aborted

    def write_frame(self, frame: bytes) -> None:
        assert self.can_write()
        self.frames.append(frame)

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self.resumed = callback

    def abort(self) -> None:
        self.aborted = True

    def drain(self) -> None:
        self.full = False
        if self.resumed is not None:
            self.resumed()


class Deferred:
    def __init__(self) -> None:
        self.updates: list[Update] = []

    def __call__(self, update: Update) -> None:
        self.updates.append(update)


def subscriber() -> tuple[DirectSubscriber, FakeChannel, FanOutStats, Deferred]:
    channel, stats, deferred = FakeChannel(), FanOutStats(), Deferred()
    return DirectSubscriber(channel, stats, deferred), channel, stats, deferred


def test_nothing_is_written_before_start_then_the_newest_goes_first() -> None:
    direct, channel, stats, deferred = subscriber()
    direct.offer(update(1))
    direct.offer(update(2))
    assert channel.frames == []
    direct.start()
    assert channel.frames == [update(2).frame]
    assert stats.take() == (0, 1)
    assert [u.snapshot.version for u in deferred.updates] == [2]


def test_a_writable_client_gets_each_snapshot_at_once() -> None:
    direct, channel, stats, _ = subscriber()
    direct.start()
    for version in (1, 2, 3):
        direct.offer(update(version))
    assert channel.frames == [update(v).frame for v in (1, 2, 3)]
    assert stats.take() == (3, 0)


def test_a_full_socket_keeps_only_the_newest_until_it_drains() -> None:
    direct, channel, stats, deferred = subscriber()
    direct.start()
    channel.full = True
    for version in range(1, 101):
        direct.offer(update(version))
    assert channel.frames == []
    assert direct.has_pending
    assert stats.take() == (0, 99)
    channel.drain()
    assert channel.frames == [update(100).frame]
    assert not direct.has_pending
    assert [u.snapshot.version for u in deferred.updates] == [100]


def test_the_time_a_snapshot_waits_is_measured() -> None:
    direct, channel, _, _ = subscriber()
    direct.start()
    assert direct.stalled_for(now=1e12) == 0.0
    channel.full = True
    direct.offer(update(1))
    assert direct.stalled_for(now=1e12) > 0
    direct.abort()
    assert channel.aborted
    assert direct.aborted


def test_heartbeats_go_only_to_idle_clients() -> None:
    direct, channel, _, _ = subscriber()
    beat = text_frame(b'{"type":"heartbeat"}')
    assert not direct.heartbeat(beat)  # not started yet
    direct.start()
    direct.offer(update(1))
    assert not direct.heartbeat(beat)  # it just got a snapshot
    assert direct.heartbeat(beat)  # nothing since the last round
    assert channel.frames == [update(1).frame, beat]


def test_text_frames_follow_rfc_6455_lengths() -> None:
    assert text_frame(b"x" * 125)[:2] == bytes((0x81, 125))
    assert text_frame(b"x" * 126)[:4] == bytes((0x81, 126, 0, 126))
    assert text_frame(b"x" * 70_000)[:10] == bytes((0x81, 127)) + (70_000).to_bytes(8, "big")
    assert text_frame(b"abc")[2:] == b"abc"


def player(score: int) -> PlayerUpdate:
    row = SnapshotEntry(rank=3, player_id="me", score=score)
    return PlayerUpdate.of("a", "me", 3, [row], total=9)


def watching() -> tuple[WatchingSubscriber, FakeChannel, list[int]]:
    channel, written = FakeChannel(), []
    direct = WatchingSubscriber(channel, FanOutStats(), Deferred(), lambda: written.append(1))
    return direct, channel, written


def test_a_watching_client_gets_player_messages_after_start_and_alongside_snapshots() -> None:
    direct, channel, written = watching()
    direct.offer_player(player(1))
    direct.offer(update(1))
    assert channel.frames == []  # held until hello went out
    direct.start()
    assert channel.frames == [update(1).frame, player(1).frame]
    direct.offer_player(player(2))
    direct.offer(update(2))
    assert channel.frames[2:] == [player(2).frame, update(2).frame]
    assert len(written) == 2


def test_a_full_socket_keeps_the_newest_player_message_apart_from_the_snapshot() -> None:
    direct, channel, written = watching()
    direct.start()
    channel.full = True
    direct.offer(update(1))
    direct.offer_player(player(1))
    direct.offer_player(player(2))
    assert direct.stalled_for(now=1e12) > 0
    channel.drain()
    assert channel.frames == [update(1).frame, player(2).frame]
    assert written == [1]
    assert direct.stalled_for(now=1e12) == 0.0
    channel.full = True
    direct.offer_player(player(3))
    direct.stop()  # the session ended: what was pending is dropped
    channel.drain()
    assert len(channel.frames) == 2
