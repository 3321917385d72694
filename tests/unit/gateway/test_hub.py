"""Fan-out: newest-only snapshots per leaderboard and the latest-wins mailbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.gateway.hub import Handoff, Hub, Mailbox, WatchingMailbox
from leaderboard.gateway.messages import PlayerUpdate, Update
from leaderboard.gateway.metrics import GatewayMetrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def update(
    board: str, version: int, *, generated_at: datetime | None = None, period: str = "all"
) -> Update:
    return Update.of(
        LeaderboardSnapshot(
            leaderboard=board,
            version=version,
            entries=[SnapshotEntry(rank=1, player_id="p1", score=version)],
            generated_at=generated_at or T0 + timedelta(seconds=version),
            newest_event_at=T0,
            period=period,
        )
    )


class Recorder:
    def __init__(self) -> None:
        self.got: list[Update] = []

    def offer(self, update: Update) -> None:
        self.got.append(update)


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(CollectorRegistry())


def test_only_newer_snapshots_are_kept_and_fanned_out(metrics: GatewayMetrics) -> None:
    hub = Hub(metrics)
    watcher, other = Recorder(), Recorder()
    hub.subscribe("a", watcher)
    hub.subscribe("b", other)
    assert hub.offer(update("a", 2))
    assert not hub.offer(update("a", 1))  # a replay of an older one
    assert not hub.offer(update("a", 2))  # the same one again (cache and topic)
    assert hub.offer(update("a", 3))
    assert [u.snapshot.version for u in watcher.got] == [2, 3]
    assert other.got == []
    assert hub.latest("a").snapshot.version == 3
    assert hub.leaderboards() == ["a"]
    assert metrics.snapshots_received.labels(outcome="stale")._value.get() == 2


def test_a_snapshot_of_another_period_is_announced(metrics: GatewayMetrics) -> None:
    hub = Hub(metrics)
    rolled: list[str] = []
    hub.on_new_period = rolled.append
    hub.offer(update("a", 1, period="2026-01-01"))  # the first one held: nothing to compare
    hub.offer(update("a", 2, period="2026-01-01"))
    hub.offer(update("a", 3, period="2026-01-02"))
    hub.offer(update("a", 2, period="2026-01-03"))  # stale: not held
    hub.offer(update("b", 1))
    assert rolled == ["a"]


def test_a_newer_generation_wins_after_the_version_counter_was_lost(
    metrics: GatewayMetrics,
) -> None:
    hub = Hub(metrics)
    hub.offer(update("a", 50))
    restarted = update("a", 1, generated_at=T0 + timedelta(hours=1))
    assert hub.offer(restarted)
    assert hub.latest("a") is restarted


def test_unsubscribed_clients_get_nothing_more(metrics: GatewayMetrics) -> None:
    hub = Hub(metrics)
    watcher = Recorder()
    hub.subscribe("a", watcher)
    assert hub.subscriber_count() == hub.subscriber_count("a") == 1
    hub.unsubscribe("a", watcher)
    hub.unsubscribe("a", watcher)  # twice is harmless
    hub.offer(update("a", 1))
    assert watcher.got == []
    assert hub.subscriber_count() == 0


def test_a_mailbox_keeps_only_the_newest_pending_update() -> None:
    async def scenario() -> None:
        coalesced = []
        mailbox = Mailbox(on_coalesce=lambda: coalesced.append(1))
        for version in (1, 2, 3):
            mailbox.offer(update("a", version))
        assert mailbox.has_pending
        taken = await mailbox.take(timeout=1)
        assert taken is not None
        assert taken.snapshot.version == 3
        assert len(coalesced) == 2
        assert not mailbox.has_pending

    asyncio.run(scenario())


def test_take_waits_for_an_offer_or_times_out() -> None:
    async def scenario() -> None:
        mailbox = Mailbox()
        assert await mailbox.take(timeout=0.01) is None
        waiter = asyncio.create_task(mailbox.take(timeout=10))
        await asyncio.sleep(0)
        mailbox.offer(update("a", 7))
        taken = await waiter
        assert taken is not None
        assert taken.snapshot.version == 7

    asyncio.run(scenario())


def test_the_handoff_keeps_the_newest_update_per_leaderboard_until_the_loop_drains(
    metrics: GatewayMetrics,
) -> None:
    hub = Hub(metrics)
    watcher = Recorder()
    hub.subscribe("a", watcher)
    scheduled: list = []
    handoff = Handoff(scheduled.append, hub, metrics)
    handoff.put([update("a", 1), update("b", 1)])
    handoff.put([update("a", 2)])  # the loop is busy: replaces a/1
    handoff.put([update("a", 1)])  # older than what is held: ignored
    assert len(scheduled) == 1  # one drain pending, whatever the number of puts
    scheduled.pop()()
    assert [u.snapshot.version for u in watcher.got] == [2]
    assert hub.leaderboards() == ["a", "b"]
    assert metrics.snapshots_received.labels(outcome="superseded")._value.get() == 1
    handoff.put([update("a", 3)])
    assert len(scheduled) == 1
    scheduled.pop()()
    assert [u.snapshot.version for u in watcher.got] == [2, 3]


def test_a_watching_mailbox_holds_a_snapshot_and_a_player_message_apart() -> None:
    async def scenario() -> None:
        mailbox = WatchingMailbox()
        assert await mailbox.take_any(timeout=0.01) is None
        first = PlayerUpdate.of("a", "me", None, [], total=0)
        newest = PlayerUpdate.of("a", "me", 1, [SnapshotEntry(rank=1, player_id="me", score=5)], 1)
        mailbox.offer_player(first)
        mailbox.offer(update("a", 1))
        mailbox.offer_player(newest)
        snapshot = await mailbox.take_any(timeout=1)
        assert isinstance(snapshot, Update)
        assert snapshot.snapshot.version == 1
        assert await mailbox.take_any(timeout=1) is newest  # latest wins
        assert await mailbox.take_any(timeout=0.01) is None
        waiter = asyncio.create_task(mailbox.take_any(timeout=10))
        await asyncio.sleep(0)
        mailbox.offer_player(first)
        assert await waiter is first

    asyncio.run(scenario())
