"""Draining the pre-filled topic with the real ranker and archiver, as child processes.

Each drain starts ``python -m leaderboard.<service>`` (``tests.support.services``) with
its own consumer group, so it reads the whole topic from the beginning, and times it
with ``measure.observe_drain``:

- ranker: progress is the sum of the partitions' next offsets the ranker stores in Redis
  (``{p}:offsets:<group>:<topic>``) in the same Lua script that applies a batch, i.e.
  events durably applied; each drain uses a fresh Redis key prefix. Afterwards every
  player's total in Redis is compared with the workload's, so nothing was lost or
  counted twice.
- archiver: progress is ``leaderboard_archiver_events_archived_total`` from its
  ``/metrics``, counted after each batch's transaction committed; it writes into the
  benchmark's own PostgreSQL schema (``PGOPTIONS=-c search_path=...``), whose row count
  is checked afterwards.

The services run with their default settings except group, batch size and key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

from confluent_kafka.admin import AdminClient
from redis import Redis
from sqlalchemy import Engine, text

from leaderboard.core.boards import Operator
from leaderboard.core.kafka import admin_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME, MAX_GRACE_SECONDS
from leaderboard.core.standings import board_score
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from tests.bench.measure import CpuProbe, Drain, Scope, observe_drain
from tests.bench.profile import Profiler, summarize
from tests.bench.workload import Workload
from tests.support.boards import board_definition, define_boards
from tests.support.redis_keys import delete_keys, seen_pattern
from tests.support.services import ServiceProcess, metric_value, settings_env

log = get_logger(__name__)


@dataclass
class BenchContext:
    """What every drain and baseline shares: servers, the topic, where logs go."""

    settings: DevstackSettings  # with the benchmark's own topics
    redis: Redis
    engine: Engine  # connected to the benchmark's own schema
    schema: str
    log_dir: Path
    stack_pids: Callable[[], dict[str, list[int]]]
    profile_dir: Path | None = None

    def probe(self, service: ServiceProcess | None = None) -> CpuProbe:
        """CPU of the servers (with children), this process and ``service``."""
        groups: dict[str, tuple[Callable[[], list[int]], Scope]] = {}
        for name, pids in self.stack_pids().items():
            roots = list(pids)
            if name == "redis":
                # Its snapshot and AOF-rewrite forks apart from the server itself.
                groups["redis"] = (lambda roots=roots: roots, "self")
                groups["redis-forks"] = (lambda roots=roots: roots, "children")
            else:
                groups[name] = (lambda roots=roots: roots, "tree")
        groups["bench"] = (lambda: [os.getpid()], "self")
        if service is not None and service.process is not None:
            pid = service.process.pid
            groups[service.service] = (lambda: [pid], "self")
        return CpuProbe(groups)


@dataclass
class ServiceResult:
    """One drain of one service, with what its own metrics and Redis said."""

    service: str
    batch_size: int
    drain: Drain
    details: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, list[tuple[str, float]]] | None = None


def _histogram(metrics: str, name: str) -> tuple[float, float]:
    return metric_value(metrics, f"{name}_sum"), metric_value(metrics, f"{name}_count")


def _loop_details(metrics: str) -> dict[str, Any]:
    """Where a service's loop spent its time, from its own histograms."""
    handler_s, batches = _histogram(metrics, "leaderboard_consumer_batch_duration_seconds")
    sizes, _ = _histogram(metrics, "leaderboard_consumer_batch_size")
    return {
        "batches": int(batches),
        "mean_batch_events": round(sizes / batches, 1) if batches else 0,
        "handler_seconds": round(handler_s, 2),
    }


def _drain_timeout(events: int) -> float:
    return max(120.0, events / 2_000)


def _stop(service: ServiceProcess) -> None:
    try:
        service.stop()
    except Exception as error:  # a service that does not stop must not hide the results
        log.warning("service did not stop cleanly", service=service.service, error=str(error))
    finally:
        service.close()


def check_ranker_totals(redis: Redis, keys: RedisKeys, expected: dict[str, Counter[str]]) -> None:
    """Raise unless Redis holds exactly the expected total of every player (on a board with
    periods, summed over them: the workload's hour may straddle a reset)."""
    for board, totals in expected.items():
        periods = [ALL_TIME, *(p.decode() for p in redis.smembers(keys.periods(board)))]
        stored: Counter[str] = Counter()
        for period in periods:
            for player, score in redis.zrange(keys.board(board, period), 0, -1, withscores=True):
                stored[player.decode()] += board_score(score)
        if stored != dict(totals):
            wrong = sum(1 for player in totals if stored.get(player) != totals[player])
            raise RuntimeError(
                f"ranker totals of {board} are wrong for {wrong} of {len(totals)} players "
                f"(Redis holds {sum(stored.values())} points, expected {sum(totals.values())})"
            )


def _redis_counters(redis: Redis) -> dict[str, int]:
    """Redis's own counters: time spent in scripts, snapshots and AOF rewrites done (the
    shared server also serves other programs, so these are upper bounds for a drain)."""
    persistence = redis.info("persistence")
    evalsha = redis.info("commandstats").get("cmdstat_evalsha", {})
    return {
        "evalsha_usec": int(evalsha.get("usec", 0)),
        "rdb_saves": int(persistence.get("rdb_saves", 0)),
        "aof_rewrites": int(persistence.get("aof_rewrites", 0)),
    }


def dedup_memory(redis: Redis, prefix: str) -> dict[str, Any]:
    """Ids in the dedup window's sets and the memory Redis says they take."""
    members = 0
    memory = 0
    sets = 0
    for key in redis.scan_iter(match=seen_pattern(RedisKeys(prefix)), count=100):
        sets += 1
        members += redis.scard(key)
        memory += redis.memory_usage(key, samples=0) or 0
    return {
        "seen_sets": sets,
        "seen_ids": members,
        "seen_bytes": memory,
        "bytes_per_id": round(memory / members, 1) if members else None,
    }


def drain_ranker(
    ctx: BenchContext,
    workload: Workload,
    batch_size: int,
    *,
    inspect_dedup: bool,
    operator: Operator = "sum",
    reset: str = "none",
) -> ServiceResult:
    """Run one ranker over the whole topic from a fresh key prefix and group; the boards
    are undefined (a sum) or defined with ``operator`` and ``reset`` on a definitions topic
    of its own."""
    suffix = uuid.uuid4().hex[:8]
    prefix = f"bench{suffix}"
    group = f"bench-ranker-{suffix}"
    update: dict[str, Any] = {"redis_key_prefix": prefix}
    expected = {
        "sum": workload.expected,
        "best": workload.expected_best,
        "latest": workload.expected_latest,
    }[operator]
    defined = operator != "sum" or reset != "none"
    if defined:
        update["topic_leaderboard_definitions"] = f"bench-definitions-{suffix}"
    settings = ctx.settings.model_copy(update=update)
    if defined:
        compacted = {"cleanup.policy": "compact"}
        topic = TopicSpec(settings.topic_leaderboard_definitions, 1, 1, compacted)
        ensure_topics(AdminClient(admin_config(settings)), [topic])
        define_boards(
            settings,
            # The longest grace: the workload's hour may straddle a reset long before the
            # drain, and a period closed meanwhile would dead-letter its events.
            [
                board_definition(b, operator=operator, reset=reset, grace=MAX_GRACE_SECONDS)
                for b in workload.boards
            ],
        )
    env = settings_env(settings) | {
        "LEADERBOARD_RANKER_GROUP_ID": group,
    }
    keys = RedisKeys(prefix)
    offsets_key = keys.offsets(group, settings.topic_game_score)
    redis_before = _redis_counters(ctx.redis)
    service = ServiceProcess("ranker", env, ctx.log_dir, batch_size=batch_size)
    profiler: list[Profiler] = []
    log.info("ranker drain starting", batch_size=batch_size, prefix=prefix)
    try:
        service.start()
        drain = observe_drain(
            lambda: sum(int(value) for value in ctx.redis.hvals(offsets_key)),
            len(workload),
            ctx.probe(service),
            timeout=_drain_timeout(len(workload)),
            check=service.assert_running,
            on_start=lambda: _start_profiler(ctx, service, f"ranker-{batch_size}", profiler),
        )
        profile = summarize(profiler.pop().stop()) if profiler else None
        metrics = service.metrics()
        apply_s, _ = _histogram(metrics, "leaderboard_ranker_apply_duration_seconds")
        details = _loop_details(metrics) | {"apply_seconds": round(apply_s, 2)}
        redis_after = _redis_counters(ctx.redis)
        changes = {name: redis_after[name] - redis_before[name] for name in redis_after}
        details["redis_script_us_per_event"] = round(changes.pop("evalsha_usec") / len(workload), 2)
        details["redis_forks"] = changes
        if inspect_dedup:
            details["dedup"] = dedup_memory(ctx.redis, prefix)
        check_ranker_totals(ctx.redis, keys, expected)
        details["totals_verified"] = True
        return ServiceResult("ranker", batch_size, drain, details, profile)
    finally:
        for running in profiler:
            running.stop()
        _stop(service)
        delete_keys(ctx.redis, prefix)
        if defined:
            AdminClient(admin_config(settings)).delete_topics(
                [settings.topic_leaderboard_definitions]
            )


def drain_archiver(ctx: BenchContext, workload: Workload, batch_size: int) -> ServiceResult:
    """Run one archiver over the whole topic into an emptied ``score_events`` table."""
    with ctx.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {ctx.schema}.score_events"))
    group = f"bench-archiver-{uuid.uuid4().hex[:8]}"
    env = settings_env(ctx.settings) | {
        "LEADERBOARD_ARCHIVER_GROUP_ID": group,
        # libpq reads it: the archiver writes into the benchmark's own schema.
        "PGOPTIONS": f"-c search_path={ctx.schema}",
    }
    service = ServiceProcess("archiver", env, ctx.log_dir, batch_size=batch_size)
    profiler: list[Profiler] = []
    log.info("archiver drain starting", batch_size=batch_size, schema=ctx.schema)

    def archived() -> int:
        try:
            metrics = service.metrics()
        except (URLError, OSError):  # its HTTP server is not up yet
            return 0
        return int(metric_value(metrics, "leaderboard_archiver_events_archived_total"))

    try:
        service.start()
        drain = observe_drain(
            archived,
            len(workload),
            ctx.probe(service),
            timeout=_drain_timeout(len(workload)),
            every=0.2,
            check=service.assert_running,
            on_start=lambda: _start_profiler(ctx, service, f"archiver-{batch_size}", profiler),
        )
        profile = summarize(profiler.pop().stop()) if profiler else None
        metrics = service.metrics()
        insert_s, _ = _histogram(metrics, "leaderboard_archiver_insert_duration_seconds")
        details = _loop_details(metrics) | {"insert_seconds": round(insert_s, 2)}
        with ctx.engine.connect() as connection:
            count = text(f"SELECT count(*) FROM {ctx.schema}.score_events")
            rows = connection.execute(count).scalar_one()
        if rows != len(workload):
            raise RuntimeError(f"the archiver stored {rows} rows, expected {len(workload)}")
        details["rows_verified"] = True
        return ServiceResult("archiver", batch_size, drain, details, profile)
    finally:
        for running in profiler:
            running.stop()
        _stop(service)


def _start_profiler(
    ctx: BenchContext, service: ServiceProcess, name: str, started: list[Profiler]
) -> None:
    if ctx.profile_dir is None or service.process is None:
        return
    started.append(Profiler(service.process.pid, ctx.profile_dir / f"{name}.txt"))
