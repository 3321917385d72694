"""The WebSocket endpoint ``/ws/leaderboards/{leaderboard_id}``: one client's session.

Handshake checks, ``hello``, then snapshots on the direct or the portable path, and, with
``?player=``, that player's ``player`` messages (``watch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable

from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from leaderboard.core.events import PlayerId
from leaderboard.core.logging import get_logger
from leaderboard.gateway.api import DEFAULT_RADIUS, MAX_RADIUS
from leaderboard.gateway.direct import DirectSubscriber, FanOutStats, WatchingSubscriber
from leaderboard.gateway.hub import Hub, Mailbox, Subscriber, WatchingMailbox
from leaderboard.gateway.messages import (
    PlayerUpdate,
    Update,
    heartbeat_message,
    hello_message,
    text_frame,
)
from leaderboard.gateway.metrics import GatewayMetrics, close_code_label
from leaderboard.gateway.origins import OriginPolicy
from leaderboard.gateway.rankings import Rankings, parse_cached
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.gateway.transport import Channel, channel_of
from leaderboard.gateway.watch import PlayerWatch, Watcher

log = get_logger(__name__)

#: Why a session ended (a ``disconnects`` reason) and its close code, when one was seen.
Ended = tuple[str, int | None]

LEADERBOARD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PLAYER_ID: TypeAdapter[str] = TypeAdapter(PlayerId)

#: Close codes (RFC 6455 and the IANA registry); reasons stay under 123 bytes.
CLOSE_ABNORMAL = 1006
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013
#: Most time between two sweeps of the direct clients (heartbeats, stalled clients).
SWEEP_SECONDS = 1.0
#: A client whose socket accepts no data for this long (it stopped reading) is
#: disconnected; until then it only ever has the newest snapshot pending.
SEND_TIMEOUT_SECONDS = 10.0
#: permessage-deflate costs about 64 KiB of zlib state per connection, and direct frame
#: writes bypass it: off.
PER_MESSAGE_DEFLATE = False


class LiveService:
    """Serves WebSocket sessions of one process and counts them against the cap."""

    def __init__(
        self,
        settings: GatewaySettings,
        hub: Hub,
        rankings: Rankings,
        watch: PlayerWatch,
        metrics: GatewayMetrics,
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._rankings = rankings
        self._watch = watch
        self._metrics = metrics
        self._policy = OriginPolicy.from_setting(
            settings.gateway_allowed_origins,
            allow_loopback=settings.gateway_allow_loopback_origins,
        )
        self._connected = 0
        self._direct: set[DirectSubscriber] = set()
        self._stats = FanOutStats()
        self._sweeper: asyncio.Task[None] | None = None
        self._sent_snapshot = metrics.messages_sent.labels(type="snapshot")
        self._sent_hello = metrics.messages_sent.labels(type="hello")
        self._sent_heartbeat = metrics.messages_sent.labels(type="heartbeat")
        self._sent_player = metrics.messages_sent.labels(type="player")
        hub.after_fan_out = self._fanned_out

    @property
    def connected(self) -> int:
        return self._connected

    def start(self) -> None:
        """Start the sweeper (call on the running event loop)."""
        self._sweeper = asyncio.create_task(self._sweep(), name="gateway-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    # -- handshake -----------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, leaderboard_id: str) -> None:
        headers = websocket.headers
        origin = headers.get("origin")
        if not self._policy.permits(origin, headers.get("host"), headers.get("x-forwarded-host")):
            self._metrics.refused.labels(reason="origin").inc()
            log.info(
                "WebSocket refused: origin not allowed", origin=origin, client=_peer(websocket)
            )
            await websocket.send_denial_response(
                PlainTextResponse(
                    f"origin {origin!r} is not allowed (LEADERBOARD_GATEWAY_ALLOWED_ORIGINS)\n",
                    status_code=403,
                )
            )
            return
        if not LEADERBOARD_ID.match(leaderboard_id):
            self._metrics.refused.labels(reason="invalid_leaderboard").inc()
            await websocket.accept()
            await websocket.close(
                CLOSE_POLICY_VIOLATION, "invalid leaderboard id: use 1-64 of A-Z a-z 0-9 _ -"
            )
            return
        watching = _watched(websocket)
        if isinstance(watching, str):
            self._metrics.refused.labels(reason="invalid_query").inc()
            await websocket.accept()
            await websocket.close(CLOSE_POLICY_VIOLATION, watching)
            return
        if self._connected >= self._settings.gateway_max_connections:
            self._metrics.refused.labels(reason="limit").inc()
            log.warning(
                "WebSocket refused: connection limit reached",
                limit=self._settings.gateway_max_connections,
            )
            await websocket.accept()
            await websocket.close(
                CLOSE_TRY_AGAIN_LATER,
                f"server full ({self._settings.gateway_max_connections} clients); retry later",
            )
            return
        # Counted before the first await, so concurrent handshakes cannot exceed the cap.
        self._connected += 1
        self._metrics.connected_clients.inc()
        ended: Ended = ("error", CLOSE_INTERNAL_ERROR)  # what uvicorn sends on an exception
        try:
            channel = channel_of(websocket.scope)
            if channel is not None and not PER_MESSAGE_DEFLATE:
                ended = await self._direct_session(websocket, leaderboard_id, channel, watching)
            else:
                ended = await self._mailbox_session(websocket, leaderboard_id, watching)
        except asyncio.CancelledError:
            ended = ("shutdown", None)  # uvicorn cancels the sessions left past its grace
            raise
        finally:
            self._connected -= 1
            self._metrics.connected_clients.dec()
            reason, code = ended
            if reason == "closed" and code == CLOSE_SERVICE_RESTART:
                reason = "shutdown"  # uvicorn closes every session with 1012 when stopping
            self._metrics.disconnects.labels(reason=reason, code=close_code_label(code)).inc()

    async def _greet(
        self, websocket: WebSocket, leaderboard_id: str, subscriber: Subscriber
    ) -> None:
        """Accept, queue the current snapshot for ``subscriber`` and send ``hello``."""
        await websocket.accept()
        self._metrics.connections.inc()
        latest = self._hub.latest(leaderboard_id)
        if latest is None:
            await self._load_cached(leaderboard_id)  # if found, the fan-out queues it
        elif not subscriber.has_pending:
            subscriber.offer(latest)
        await websocket.send_text(
            hello_message(
                leaderboard_id,
                has_snapshot=self._hub.latest(leaderboard_id) is not None,
                heartbeat_seconds=self._settings.gateway_ping_interval_seconds,
            )
        )
        self._sent_hello.inc()

    # -- direct sessions -------------------------------------------------------------------

    async def _direct_session(
        self,
        websocket: WebSocket,
        leaderboard_id: str,
        channel: Channel,
        watching: tuple[str, int] | None,
    ) -> Ended:
        watcher: Watcher | None = None
        subscriber: DirectSubscriber
        if watching is None:
            subscriber = DirectSubscriber(channel, self._stats, self._record_deferred)
        else:
            subscriber = watcher_subscriber = WatchingSubscriber(
                channel, self._stats, self._record_deferred, self._sent_player.inc
            )
            watcher = Watcher(leaderboard_id, *watching, watcher_subscriber.offer_player)
        # Subscribed before the first await: no snapshot can slip between the current one
        # and the next. Until start(), offers are held as the pending one.
        self._hub.subscribe(leaderboard_id, subscriber)
        self._direct.add(subscriber)
        if watcher is not None:
            self._watch.add(watcher)  # its first message is held until start() too
        code: int | None = None
        try:
            await self._greet(websocket, leaderboard_id, subscriber)
            subscriber.start()
            code = await self._drain(websocket)
        except WebSocketDisconnect as exc:
            code = exc.code
        finally:
            if watcher is not None:
                self._watch.remove(watcher)
            subscriber.stop()
            self._direct.discard(subscriber)
            self._hub.unsubscribe(leaderboard_id, subscriber)
        # Aborted: the connection was dropped without a close frame.
        return ("send_timeout", CLOSE_ABNORMAL) if subscriber.aborted else ("closed", code)

    def _fanned_out(self, update: Update) -> None:
        """After a fan-out: count the direct writes and time them (once per fan-out)."""
        sent, coalesced = self._stats.take()
        if coalesced:
            self._metrics.coalesced.inc(coalesced)
        if sent:
            self._sent_snapshot.inc(sent)
            # The last client written was the slowest of this fan-out.
            self._metrics.send_seconds.observe(time.monotonic() - update.received_at)
            self._observe_freshness(update)

    def _record_deferred(self, update: Update) -> None:
        """A snapshot written to a slow client once its socket drained."""
        self._sent_snapshot.inc()
        self._metrics.send_seconds.observe(time.monotonic() - update.received_at)
        self._observe_freshness(update)

    def _observe_freshness(self, update: Update) -> None:
        if update.newest_event_at is not None:
            age = time.time() - update.newest_event_at.timestamp()
            self._metrics.freshness_seconds.observe(max(age, 0.0))

    async def _sweep(self) -> None:
        """Heartbeats on idle direct clients; abort the ones that stopped reading."""
        settings = self._settings
        every = min(SWEEP_SECONDS, settings.gateway_ping_interval_seconds / 2)
        next_heartbeat = time.monotonic() + settings.gateway_ping_interval_seconds
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for subscriber in list(self._direct):
                if subscriber.stalled_for(now) > SEND_TIMEOUT_SECONDS:
                    log.info(
                        "disconnecting a client that stopped reading",
                        send_timeout_seconds=SEND_TIMEOUT_SECONDS,
                    )
                    subscriber.abort()
            if now >= next_heartbeat:
                frame = text_frame(heartbeat_message().encode())
                beats = sum(1 for subscriber in self._direct if subscriber.heartbeat(frame))
                if beats:
                    self._sent_heartbeat.inc(beats)
                next_heartbeat = now + settings.gateway_ping_interval_seconds

    # -- portable sessions -------------------------------------------------------------------

    async def _mailbox_session(
        self, websocket: WebSocket, leaderboard_id: str, watching: tuple[str, int] | None
    ) -> Ended:
        watcher: Watcher | None = None
        take: Callable[[float], Awaitable[Update | PlayerUpdate | None]]
        if watching is None:
            mailbox = Mailbox(on_coalesce=self._metrics.coalesced.inc)
            take = mailbox.take
        else:
            mailbox = watching_mailbox = WatchingMailbox(on_coalesce=self._metrics.coalesced.inc)
            take = watching_mailbox.take_any
            watcher = Watcher(leaderboard_id, *watching, watching_mailbox.offer_player)
        self._hub.subscribe(leaderboard_id, mailbox)
        if watcher is not None:
            self._watch.add(watcher)  # sent once the sender runs, after hello
        try:
            await self._greet(websocket, leaderboard_id, mailbox)
            sender = asyncio.create_task(self._send_loop(websocket, take))
            try:
                return await self._read_until_closed(websocket, sender)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        except WebSocketDisconnect as exc:
            return "closed", exc.code
        finally:
            if watcher is not None:
                self._watch.remove(watcher)
            self._hub.unsubscribe(leaderboard_id, mailbox)

    async def _read_until_closed(self, websocket: WebSocket, sender: asyncio.Task[Ended]) -> Ended:
        """Wait for the client's close (or the sender's end); returns how the session ended."""
        receiver = asyncio.create_task(self._drain(websocket))
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await receiver
        heard = receiver.result() if receiver in done and receiver.exception() is None else None
        if sender in done:
            reason, code = sender.result()
            return reason, heard if code is None else code
        return "closed", heard

    @staticmethod
    async def _drain(websocket: WebSocket) -> int:
        """Read until the connection closes; returns its close code."""
        # Clients have nothing to say yet; reading keeps the close handshake working.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", 1005))  # ASGI's default: no code given

    async def _send_loop(
        self,
        websocket: WebSocket,
        take: Callable[[float], Awaitable[Update | PlayerUpdate | None]],
    ) -> Ended:
        """Write the newest pending update (or a heartbeat) until the client goes away."""
        settings = self._settings
        while True:
            update = await take(settings.gateway_ping_interval_seconds)
            text = heartbeat_message() if update is None else update.message
            try:
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await websocket.send_text(text)
            except TimeoutError:
                log.info(
                    "disconnecting a client that stopped reading",
                    client=_peer(websocket),
                    send_timeout_seconds=SEND_TIMEOUT_SECONDS,
                )
                channel = channel_of(websocket.scope)
                if channel is not None:
                    channel.abort()  # its full buffer would never let a close through
                return "send_timeout", CLOSE_ABNORMAL
            except WebSocketDisconnect as exc:
                return "closed", exc.code
            except RuntimeError:
                return "closed", None  # the close raced this send: its code is the reader's
            if update is None:
                self._sent_heartbeat.inc()
            elif isinstance(update, PlayerUpdate):
                self._sent_player.inc()
            else:
                self._record_deferred(update)

    # -- the snapshot cache ------------------------------------------------------------------

    async def _load_cached(self, leaderboard_id: str) -> None:
        """Offer the Redis-cached snapshot of a leaderboard this process has none of."""
        try:
            raw = await self._rankings.cached_snapshot(leaderboard_id)
        except (RedisError, OSError) as exc:
            log.warning(
                "cannot read the snapshot cache", leaderboard=leaderboard_id, error=str(exc)
            )
            return
        if raw is None:
            return
        try:
            self._hub.offer(Update.of(parse_cached(raw)))
        except ValidationError as exc:
            log.warning(
                "invalid snapshot in the Redis cache",
                leaderboard=leaderboard_id,
                error=str(exc).splitlines()[0],
            )


def _watched(websocket: WebSocket) -> tuple[str, int] | str | None:
    """The player and radius the client asks to watch (``?player=&radius=``), None when
    it watches none, or why the query is refused (a close reason)."""
    query = websocket.query_params
    player = query.get("player")
    raw_radius = query.get("radius")
    if player is None:
        return None if raw_radius is None else "radius needs a player"
    try:
        _PLAYER_ID.validate_python(player)
    except ValidationError:
        return "invalid player id: use 1-128 of A-Z a-z 0-9 . _ : @ -"
    if raw_radius is None:
        return player, DEFAULT_RADIUS
    # The bounds of the REST ``around``'s radius.
    if not re.fullmatch(r"[0-9]{1,3}", raw_radius) or int(raw_radius) > MAX_RADIUS:
        return f"invalid radius: use 0 to {MAX_RADIUS}"
    return player, int(raw_radius)


def _peer(websocket: WebSocket) -> str | None:
    client = websocket.client
    return None if client is None else f"{client.host}:{client.port}"
