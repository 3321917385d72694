"""``make bench``: how fast the ranker and the archiver drain a pre-filled score topic.

Run as ``python -m tests.bench.pipeline`` (``--help`` for the knobs) with the local stack
up. In order, with topics, consumer groups, a Redis key prefix and a PostgreSQL schema
of its own, all removed at the end:

1. generate the workload (1,000,000 events over 100,000 players and 2 leaderboards)
   and pre-fill a 6-partition score topic with it;
2. ranker rounds: drain it with the real ranker (``python -m leaderboard.ranker``) at its
   default batch size, check every player's total in Redis, then run the per-event
   baseline of the original design on a prefix of the same topic; ``--ranker-rounds``
   times (the dedup window's memory is measured after the first drain), then one drain
   per other batch size, then ``--operator-rounds`` rounds of one drain per operator
   (``sum``, ``best``, ``latest``, and ``sum`` on a daily board), interleaved;
3. archiver rounds, the same way: drain into the schema and check the row count, then
   the archiver's baseline;
4. measure the dedup script's cost per event on a private redis-server.

The headline figures are medians over the rounds (``tests.bench.report``).

It writes a readable report to stdout and ends with one JSON object on its last line.
Progress goes to stderr. Nothing here asserts on timings: a missed target is reported,
and ``docs/benchmarks.md`` records the figures and where the time goes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from redis import Redis
from sqlalchemy import create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.core.boards import Operator
from leaderboard.core.config import load_settings
from leaderboard.core.database import database_url
from leaderboard.core.kafka import admin_config
from leaderboard.core.logging import configure_logging, get_logger
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from leaderboard.ranker.settings import RankerSettings
from tests.bench import baselines, dedup, drains, report
from tests.bench.measure import Drain, load_average, machine_info
from tests.bench.workload import generate, prefill

log = get_logger("tests.bench.pipeline")

#: The board operators compared side by side.
OPERATORS: tuple[Operator, ...] = ("sum", "best", "latest")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def sizes(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part]

    def rounds(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"expected a number of rounds >= 1, got {text!r}")
        return int(text)

    parser = argparse.ArgumentParser(prog="python -m tests.bench.pipeline", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the topic")
    parser.add_argument("--players", type=int, default=100_000, help="distinct players")
    parser.add_argument("--boards", type=int, default=2, help="leaderboards")
    parser.add_argument("--partitions", type=int, default=6, help="score topic partitions")
    parser.add_argument(
        "--display-share", type=float, default=0.1, help="share of events with a display name"
    )
    parser.add_argument(
        "--ranker-batch-sizes",
        type=sizes,
        default=[5000, 2000],
        help="ranker batch sizes to drain with; the first is the headline figure",
    )
    parser.add_argument(
        "--archiver-batch-sizes",
        type=sizes,
        default=[5000],
        help="archiver batch sizes to drain with; the first is the headline figure",
    )
    for service, default in (("ranker", 5), ("archiver", 3)):
        parser.add_argument(
            f"--{service}-rounds",
            type=rounds,
            default=default,
            help=f"{service} drains at the headline batch size, each followed by its baseline",
        )
    parser.add_argument(
        "--operator-rounds",
        type=rounds,
        default=2,
        help="rounds of one ranker drain per operator (sum, best, latest, sum-daily), interleaved",
    )
    parser.add_argument(
        "--baseline-events", type=int, default=50_000, help="events for each baseline run"
    )
    parser.add_argument(
        "--baseline-max-seconds",
        type=float,
        default=60.0,
        help="stop a baseline after this long even if it has not done --baseline-events",
    )
    parser.add_argument(
        "--micro-events", type=int, default=200_000, help="events per dedup micro-benchmark run"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record py-spy profiles of each drain into DIR (py-spy must be on PATH)",
    )
    return parser.parse_args(argv)


def stack_pids(settings: DevstackSettings) -> dict[str, list[int]]:
    """The pids of the stack's servers (PostgreSQL's backends are its children)."""
    return {
        status.name: [status.pid] for status in Stack(settings).status() if status.pid is not None
    }


def create_topics(settings: DevstackSettings, partitions: int) -> None:
    ensure_topics(
        AdminClient(admin_config(settings)),
        [
            TopicSpec(settings.topic_game_score, partitions),
            TopicSpec(settings.topic_game_score_dlq, 1),
            TopicSpec(settings.topic_leaderboard_change, 1),
        ],
    )


def delete_topics(settings: DevstackSettings) -> None:
    topics = [
        settings.topic_game_score,
        settings.topic_game_score_dlq,
        settings.topic_leaderboard_change,
    ]
    # The client must outlive the futures: destroying it fails them.
    admin = AdminClient(admin_config(settings))
    futures = admin.delete_topics(topics, request_timeout=30)
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as error:
            log.warning("could not delete a benchmark topic", topic=topic, error=str(error))


def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = load_settings(DevstackSettings)
    Stack(stack).up()  # only checks when `make infra-up` already ran
    suffix = uuid.uuid4().hex[:8]
    settings = stack.model_copy(
        update={
            "topic_game_score": f"bench-score-{suffix}",
            "topic_game_score_dlq": f"bench-score-{suffix}.dlq",
            "topic_leaderboard_change": f"bench-change-{suffix}",
        }
    )
    schema = f"bench_{suffix}"
    shared = create_engine(database_url(stack))
    engine = create_engine(
        database_url(stack), connect_args={"options": f"-c search_path={schema}"}
    )
    redis = Redis(**stack.redis_client_kwargs())
    log_dir = Path(tempfile.mkdtemp(prefix="leaderboard-bench-"))
    log.info("service logs (removed after a successful run)", log_dir=str(log_dir))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": machine_info(),
        "load_average_at_start": load_average(),
    }
    try:
        create_topics(settings, args.partitions)
        with shared.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        upgrade(engine)
        context = drains.BenchContext(
            settings=settings,
            redis=redis,
            engine=engine,
            schema=schema,
            log_dir=log_dir,
            stack_pids=lambda: stack_pids(stack),
            profile_dir=args.profile,
        )
        results |= run_phases(args, context)
    finally:
        delete_topics(settings)
        with shared.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
        shared.dispose()
        redis.close()
    # Logs are only worth keeping when something failed (the exception shows their path).
    for path in log_dir.iterdir():
        path.unlink()
    log_dir.rmdir()
    return results


def measure_rounds(
    count: int,
    batch_sizes: list[int],
    drain: Callable[[int, bool], drains.ServiceResult],
    baseline: Callable[[], Drain],
) -> report.Rounds:
    """``count`` rounds of a drain at the first batch size followed by a baseline run,
    then one drain per other size. ``drain(size, first)`` says whether it is the first
    round's drain. Each size is drained once only: a repeat of the headline size would
    stand in for its median in the report."""
    headline, *others = dict.fromkeys(batch_sizes)
    rounds = report.Rounds([], [])
    for number in range(count):
        rounds.drains.append(drain(headline, number == 0))
        rounds.baselines.append(baseline())
    rounds.others = [drain(size, False) for size in others]
    return rounds


def run_phases(args: argparse.Namespace, context: drains.BenchContext) -> dict[str, Any]:
    boards = [f"bench-{n}" for n in range(args.boards)]
    log.info("generating the workload", events=args.events, players=args.players)
    workload = generate(args.events, args.players, boards, display_share=args.display_share)
    log.info("pre-filling", topic=context.settings.topic_game_score)
    prefill_seconds = prefill(context.settings, context.settings.topic_game_score, workload)
    window = RankerSettings.model_fields["ranker_dedup_window_seconds"].default
    results: dict[str, Any] = {
        "workload": {
            "events": len(workload),
            "players": args.players,
            "leaderboards": args.boards,
            "partitions": args.partitions,
            "display_share": args.display_share,
            "json_bytes": workload.payload_bytes,
        },
        "prefill_seconds": round(prefill_seconds, 2),
        "prefill_events_per_s": round(len(workload) / prefill_seconds),
    }
    limit, seconds = args.baseline_events, args.baseline_max_seconds
    ranker = measure_rounds(
        args.ranker_rounds,
        args.ranker_batch_sizes,
        lambda size, first: drains.drain_ranker(context, workload, size, inspect_dedup=first),
        lambda: baselines.ranker_baseline(context, limit, seconds),
    )
    # The operators side by side at the headline batch size, interleaved so that what
    # drifts over a run (the machine, Redis's append-only file) weighs on each alike.
    # A daily sum board beside them: periods must cost within 10 % of an all-time board.
    variants = [(operator, "none", operator) for operator in OPERATORS]
    variants.append(("sum", "daily", "sum-daily"))
    by_operator: dict[str, list[drains.ServiceResult]] = {name: [] for _, _, name in variants}
    for _ in range(args.operator_rounds):
        for operator, reset, name in variants:
            by_operator[name].append(
                drains.drain_ranker(
                    context,
                    workload,
                    args.ranker_batch_sizes[0],
                    inspect_dedup=False,
                    operator=operator,
                    reset=reset,
                )
            )
    archiver = measure_rounds(
        args.archiver_rounds,
        args.archiver_batch_sizes,
        lambda size, _: drains.drain_archiver(context, workload, size),
        lambda: baselines.archiver_baseline(context, limit, seconds),
    )
    log.info("measuring the dedup script's cost", events=args.micro_events)
    micro = dedup.lua_cost(
        workload.values[: args.micro_events],
        batch_size=args.ranker_batch_sizes[0],
        partitions=args.partitions,
        window=window,
    )
    return results | report.figures(ranker, archiver, micro, window, by_operator)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("bench", "INFO", "console", stream=sys.stderr)
    results = run(args)
    sys.stdout.write(report.render(results))
    sys.stdout.write(orjson.dumps(results).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
