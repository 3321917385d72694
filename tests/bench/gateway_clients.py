"""Many WebSocket clients in one process, cheap enough to measure a gateway with thousands.

A full WebSocket library spends more CPU per message than the gateway does, and the
benchmark shares the machine with it, so these clients speak just enough of RFC 6455:
the handshake, unmasked server frames, pongs (masked, as a client must) and close.
Only one client in ``sample_every`` measures: each ``snapshot`` text frame it reads is
recorded as (version, receive time) without parsing the JSON (``mode="version"``), or
fully parsed for its ``newest_event_at`` and ``generated_at`` (``mode="fresh"``). The
others read in bulk every ``BULK_READ_SECONDS`` (their kernel socket buffers hold a few
seconds of snapshots, so the gateway never sees them as slow) and only answer pings:
100,000 reads per second would otherwise cost the two-core machine more CPU than the
gateway under test.

``run_clients`` is the body of one worker process: it opens its share of connections,
reports how many are open, records until told to stop, then sends its records back.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection

import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None

VERSION = re.compile(rb'"version":(\d+)')
SNAPSHOT_PREFIX = b'{"type":"snapshot"'
#: Handshakes in flight at once (a reconnect storm of thousands overflows the backlog).
CONNECT_CONCURRENCY = 200
#: How often the non-measuring clients read (in bulk; the socket buffers hold the rest).
BULK_READ_SECONDS = 0.5


@dataclass
class Records:
    versions: array = field(default_factory=lambda: array("q"))
    received: array = field(default_factory=lambda: array("d"))
    fresh: array = field(default_factory=lambda: array("d"))
    #: Receive time minus ``generated_at``: the part after the publisher.
    delivery: array = field(default_factory=lambda: array("d"))
    messages: int = 0
    closed: int = 0
    measuring: int = 0
    #: Transports of non-measuring clients waiting for their next bulk read.
    paused: list = field(default_factory=list)


class BenchClient(asyncio.Protocol):
    """One WebSocket connection that records the snapshots it receives."""

    def __init__(self, host: str, path: str, records: Records, mode: str, measure: bool) -> None:
        self.host = host
        self.measure = measure
        self.path = path
        self.records = records
        self.mode = mode
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.greeted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is duck-typed
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:12])
            del buffer[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded = True
            self.opened.set_result(None)
        self._frames(buffer, now)
        if not self.measure and self.transport is not None and not self.transport.is_closing():
            # Read again in a while, in bulk: the kernel keeps what arrives meanwhile.
            self.transport.pause_reading()
            self.records.paused.append(self.transport)

    def _frames(self, buffer: bytearray, now: float) -> None:
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                start = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                start = 10
            if len(buffer) < start + length:
                return
            if opcode == 0x1 and not self.measure:
                del buffer[: start + length]
                continue
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x1:
                self._text(payload, now)
            elif opcode == 0x9:  # ping: answer with a masked pong (a zero mask is valid)
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                self.records.closed += 1
                assert self.transport is not None
                self.transport.close()
                return

    def _text(self, payload: bytes, now: float) -> None:
        if not payload.startswith(SNAPSHOT_PREFIX):
            return
        records = self.records
        records.messages += 1
        if self.mode == "version":
            found = VERSION.search(payload, 0, 200)
            if found:
                records.versions.append(int(found.group(1)))
                records.received.append(now)
        elif not self.greeted:
            # The snapshot sent on connect is the state at that moment, possibly generated
            # a while ago: its age says nothing about how fast updates arrive.
            self.greeted = True
        else:
            snapshot = orjson.loads(payload)
            newest = snapshot.get("newest_event_at")
            if newest:
                records.fresh.append(now - datetime.fromisoformat(newest).timestamp())
                generated = datetime.fromisoformat(snapshot["generated_at"]).timestamp()
                records.delivery.append(now - generated)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))


async def _open(
    port: int, path: str, count: int, records: Records, mode: str, sample_every: int
) -> list[asyncio.Transport]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    transports: list[asyncio.Transport] = []

    async def one(index: int) -> None:
        measure = index % sample_every == 0
        records.measuring += measure
        async with gate:
            transport, client = await loop.create_connection(
                lambda: BenchClient(f"127.0.0.1:{port}", path, records, mode, measure),
                "127.0.0.1",
                port,
            )
            await asyncio.wait_for(client.opened, 30)
            transports.append(transport)

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise ConnectionError(f"{len(failures)} of {count} connections failed: {failures[0]!r}")
    return transports


async def _bulk_reads(records: Records) -> None:
    while True:
        await asyncio.sleep(BULK_READ_SECONDS)
        paused, records.paused = records.paused, []
        for transport in paused:
            if not transport.is_closing():
                transport.resume_reading()


async def _serve(
    conn: Connection, port: int, path: str, count: int, mode: str, sample_every: int
) -> None:
    records = Records()
    try:
        transports = await _open(port, path, count, records, mode, sample_every)
    except ConnectionError as exc:
        conn.send(("failed", str(exc)))
        return
    conn.send(("open", len(transports)))
    reader = asyncio.create_task(_bulk_reads(records))
    loop = asyncio.get_running_loop()
    # The parent says when to stop; waiting on the pipe must not block the event loop.
    await loop.run_in_executor(None, conn.recv)
    reader.cancel()
    for transport in transports:
        transport.close()
    conn.send(
        (
            "records",
            {
                "versions": records.versions.tobytes(),
                "received": records.received.tobytes(),
                "fresh": records.fresh.tobytes(),
                "delivery": records.delivery.tobytes(),
                "messages": records.messages,
                "closed": records.closed,
                "measuring": records.measuring,
            },
        )
    )


def run_clients(
    conn: Connection, port: int, path: str, count: int, mode: str, sample_every: int
) -> None:
    """A worker process: ``count`` clients of ``ws://127.0.0.1:<port><path>``."""
    serve = _serve(conn, port, path, count, mode, sample_every)
    if uvloop is not None:
        uvloop.run(serve)
    else:
        asyncio.run(serve)
    conn.close()
