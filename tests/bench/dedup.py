"""What the ranker's dedup window costs: Redis memory, and Redis time per event.

Memory is measured on the real drain (``drains.dedup_memory``: ``MEMORY USAGE`` of the
seen sets over their ``SCARD``) and projected to a sustained rate here.

Time cannot be switched off in the ranker (and must not be, for a benchmark), so it is
measured with a micro-benchmark instead: the ranker's own ``BatchApplier`` runs the same
batches against a private ``redis-server`` (same command line as the stack's, append-only
file on, nothing else connected), with the real ``APPLY_SCRIPT`` and with copies of it
cut down part by part (``script_variants``). The difference of Redis's own ``INFO
commandstats`` time for ``EVALSHA`` (and of the server's CPU, which also holds parsing
the command and writing the append-only file) per event between the real script and the
copy without the dedup calls is the dedup's cost; the other copies show what the rest
of the script costs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis

from leaderboard.core.events import ScoreBounds, ScoreEvent, decode_score_event
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.standings import stored_score
from leaderboard.devstack.redis import redis_command
from leaderboard.ranker.apply import APPLY_SCRIPT, BatchApplier, PartitionBatch
from tests.bench.measure import cpu_seconds
from tests.support.redis_keys import seen_pattern
from tests.support.services import free_port, wait_for

log = get_logger(__name__)

_DEDUP_LOOKUPS = (
    "local in_current = call_chunked('SMISMEMBER', KEYS[2], checked, CHUNK)\n"
    "local in_previous = call_chunked('SMISMEMBER', KEYS[3], checked, CHUNK)\n"
)
_DEDUP_RECORD = "call_chunked('SADD', KEYS[2], fresh, CHUNK)\n"
_REACHED_READ = "      local held = redis.call('HMGET', reached_key, unpack(list, s, e))\n"
_REACHED_WRITE = "      if nc > 0 then redis.call('HSET', reached_key, unpack(codes, 1, nc)) end\n"
_SCORES_READ = "      local scores = redis.call('ZMSCORE', board, unpack(list, s, e))\n"
_STANDINGS_WRITE = "    if na > 0 then redis.call('ZADD', board, unpack(adds, 1, na)) end\n"
_NAMES = "  call_chunked('HSET', names_key, pairs_, 2 * CHUNK)\n"


def _edit(script: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        if old not in script:
            raise RuntimeError("APPLY_SCRIPT changed: update the variants in tests/bench/dedup.py")
        script = script.replace(old, new)
    return script


def script_variants(script: str = APPLY_SCRIPT) -> dict[str, str]:
    """The apply script and cut-down copies of it, to see what each part costs:

    - ``full``: the ranker's script as it is;
    - ``no_dedup``: without the dedup window's set calls (``SMISMEMBER`` on both
      buckets, ``SADD`` of the new ids); ids repeated inside the batch are still skipped;
    - ``floor``: no sorted-set, reach-code or name calls either: what passing the
      arguments and folding them per player in Lua costs.
    """
    no_dedup = _edit(
        script,
        (_DEDUP_LOOKUPS, "local in_current, in_previous = {}, {}\n"),
        (_DEDUP_RECORD, ""),
    )
    return {
        "full": script,
        "no_dedup": no_dedup,
        "floor": _edit(
            no_dedup,
            (_REACHED_READ, "      local held = {}\n"),
            (_REACHED_WRITE, ""),
            (_SCORES_READ, "      local scores = {}\n"),
            (_STANDINGS_WRITE, ""),
            (_NAMES, ""),
        ),
    }


class ScriptApplier(BatchApplier):
    """The ranker's applier running another version of the script (benchmark only)."""

    def __init__(
        self, redis: Redis, keys: RedisKeys, window: int, script: str, group: str = "bench"
    ) -> None:
        super().__init__(redis, keys, group, "bench-topic", window)
        self._script = redis.register_script(script)


@contextmanager
def private_redis() -> Iterator[tuple[Redis, int]]:
    """A ``redis-server`` of our own on a free port, configured like the stack's."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (run `make infra-up` first)")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as data_dir:
        port = free_port()
        command = redis_command(
            Path(binary), config_file=None, host="127.0.0.1", port=port, data_dir=Path(data_dir)
        )
        with open(Path(data_dir) / "redis.log", "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        client = Redis(host="127.0.0.1", port=port, socket_timeout=60)
        try:
            wait_for(lambda: _pings(client), 30, "the private redis-server")
            yield client, process.pid
        finally:
            client.close()
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _batches(
    events: Sequence[ScoreEvent], batch_size: int, partitions: int
) -> Iterator[list[PartitionBatch]]:
    """The events in consumer batches of ``batch_size``, split per partition as the
    ranker does, with each partition's offsets increasing."""
    next_offset = [0] * partitions
    for start in range(0, len(events), batch_size):
        per_partition: dict[int, PartitionBatch] = {}
        for index, event in enumerate(events[start : start + batch_size], start):
            partition = index % partitions
            offset = next_offset[partition]
            next_offset[partition] += 1
            batch = per_partition.setdefault(partition, PartitionBatch(partition, offset, offset))
            batch.last_offset = offset
            batch.events.append((offset, event))
        yield list(per_partition.values())


def _evalsha(client: Redis) -> tuple[int, int]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _run_variant(
    client: Redis,
    pid: int,
    applier: BatchApplier,
    events: Sequence[ScoreEvent],
    now: float,
    *,
    batch_size: int,
    partitions: int,
) -> dict[str, float]:
    """Apply ``events`` with ``applier``; Redis time and CPU per event."""
    _, usec_before = _evalsha(client)
    cpu_before = cpu_seconds(pid, reaped_children=True)
    started = time.perf_counter()
    applied = 0
    for batches in _batches(events, batch_size, partitions):
        applied += sum(result.applied for result in applier.apply(batches, now))
    wall = time.perf_counter() - started
    _, usec_after = _evalsha(client)
    cpu = cpu_seconds(pid, reaped_children=True) - cpu_before
    if applied != len(events):
        raise RuntimeError(f"a script variant applied {applied} of {len(events)} events")
    return {
        "redis_script_us_per_event": (usec_after - usec_before) / len(events),
        "redis_cpu_us_per_event": cpu / len(events) * 1e6,
        "client_wall_us_per_event": wall / len(events) * 1e6,
    }


def _keep_best(best: dict[str, dict[str, float]], name: str, measured: dict[str, float]) -> None:
    kept = best.setdefault(name, dict(measured))
    for measure, value in measured.items():
        kept[measure] = min(kept[measure], value)


def _seen_bytes_per_id(client: Redis, keys: RedisKeys) -> float | None:
    ids = size = 0
    for key in client.scan_iter(match=seen_pattern(keys)):
        ids += client.scard(key)
        size += client.memory_usage(key, samples=0) or 0
    return round(size / ids, 1) if ids else None


def _preload(
    client: Redis, keys: RedisKeys, now: float, window: int, ids: int, events: Sequence[ScoreEvent]
) -> None:
    """Fill both dedup sets with ``ids`` random ids each, and the leaderboards with every
    player of ``events``, as a ranker's Redis looks after a while at a high rate."""
    bucket = int(now) // window
    pipe = client.pipeline(transaction=False)
    for key in (keys.seen(bucket), keys.seen(bucket - 1)):
        for start in range(0, ids, 10_000):
            count = min(10_000, ids - start)
            raw = os.urandom(16 * count)
            pipe.sadd(key, *(raw[n : n + 16] for n in range(0, len(raw), 16)))
        pipe.execute()
    players: dict[str, set[str]] = {}
    for event in events:
        players.setdefault(event.leaderboard, set()).add(event.player_id)
    reached = datetime.fromtimestamp(now - window, UTC)
    for board, members in players.items():
        ordered = sorted(members)
        for start in range(0, len(ordered), 10_000):
            chunk = ordered[start : start + 10_000]
            pipe.zadd(keys.board(board), dict.fromkeys(chunk, stored_score(0, reached)))
    pipe.execute()


def lua_cost(
    values: Sequence[bytes],
    *,
    batch_size: int,
    partitions: int,
    window: int,
    rounds: int = 5,
    preload_ids: int = 1_000_000,
) -> dict[str, Any]:
    """Redis time per event of each script variant (``script_variants``), in two states:

    - ``empty``: each variant applies the same events to an emptied server (the least
      Redis can spend: small sets that stay in the CPU caches);
    - ``loaded``: both dedup sets already hold ``preload_ids`` ids and the leaderboards
      every player, as after a while at a high rate; each variant applies events of
      its own (so none are duplicates).

    The variants take turns, ``rounds`` times; each one's fastest round counts, as other
    programs on the machine can only ever slow a round down.
    """
    variants = script_variants()
    if len(values) < rounds * len(variants) * 100:
        raise ValueError(
            f"the dedup micro-benchmark needs at least {rounds * len(variants) * 100} events"
        )
    bounds = ScoreBounds()
    events = [decode_score_event(value, bounds) for value in values]
    now = time.time()  # one dedup bucket for the whole measurement
    empty: dict[str, dict[str, float]] = {}
    loaded: dict[str, dict[str, float]] = {}
    settings = {"batch_size": batch_size, "partitions": partitions}
    with private_redis() as (client, pid):
        per_round = len(events) // rounds
        for round_ in range(rounds):
            chunk = events[round_ * per_round : (round_ + 1) * per_round]
            for name, script in variants.items():
                keys = RedisKeys(f"empty-{name}")
                applier = ScriptApplier(client, keys, window, script)
                _keep_best(empty, name, _run_variant(client, pid, applier, chunk, now, **settings))
                if name == "full":
                    empty[name]["bytes_per_id"] = _seen_bytes_per_id(client, keys) or 0
                client.flushall()  # a private server: nothing else lives there
        keys = RedisKeys("loaded")
        _preload(client, keys, now, window, preload_ids, events)
        per_run = len(events) // (rounds * len(variants))
        for round_ in range(rounds):
            for index, (name, script) in enumerate(variants.items()):
                start = (round_ * len(variants) + index) * per_run
                chunk = events[start : start + per_run]
                # Its own offsets (group) per run, shared dedup sets and leaderboards.
                applier = ScriptApplier(client, keys, window, script, group=f"run-{start}")
                _keep_best(loaded, name, _run_variant(client, pid, applier, chunk, now, **settings))
        loaded_bytes_per_id = _seen_bytes_per_id(client, keys)
    results: dict[str, Any] = {
        "rounds": rounds,
        "batch_size": batch_size,
        "empty_events_per_run": per_round,
        "loaded_events_per_run": per_run,
        "loaded_preload_ids_per_set": preload_ids,
        "bytes_per_id_small_set": empty["full"].pop("bytes_per_id", None),
        "bytes_per_id_loaded_set": loaded_bytes_per_id,
    }
    for state, best in (("empty", empty), ("loaded", loaded)):
        results[state] = {
            name: {measure: round(value, 2) for measure, value in values.items()}
            for name, values in best.items()
        }
        full = best["full"]["redis_script_us_per_event"]
        dedup = full - best["no_dedup"]["redis_script_us_per_event"]
        results[state]["dedup_us_per_event"] = round(dedup, 2)
        results[state]["dedup_share"] = round(dedup / full, 3) if full else None
    return results


def window_memory(bytes_per_id: float, rate: float, window: int) -> dict[str, Any]:
    """Memory the seen sets hold at a sustained ``rate`` with a ``window``-second window.

    A set takes the ids of one bucket (``window`` seconds) and expires (``EXPIREAT``) at
    the end of the bucket after its own, when it stops being consulted: during a bucket
    Redis holds the previous bucket's full set and the current one filling up, i.e.
    between 1 and 2 windows of ids.
    """
    per_window = rate * window
    return {
        "window_seconds": window,
        "rate_events_per_s": round(rate),
        "ids_min": round(per_window),
        "ids_max": round(2 * per_window),
        "bytes_min": round(per_window * bytes_per_id),
        "bytes_max": round(2 * per_window * bytes_per_id),
    }
