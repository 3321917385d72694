"""``python -m tests.bench.operator_cost``: Redis time per event of the apply script, per
operator.

A micro-benchmark behind the operator figures in ``docs/benchmarks.md``: the ranker's own
``BatchApplier`` applies the same kind of batches (5,000 events over 6 partitions) to one
board per operator on a private ``redis-server`` whose dedup sets hold a million ids
each, after a warm-up that puts every player on every board. The operators take turns,
each with fresh events; Redis's own ``INFO commandstats`` time for ``EVALSHA`` per event
is reported per round and as each operator's fastest round. Unlike a full drain, nothing
else shares the machine's drift between the operators. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import orjson

from leaderboard.core.boards import Operator
from leaderboard.core.events import ScoreBounds, ScoreEvent, decode_score_event
from leaderboard.core.keys import RedisKeys
from leaderboard.ranker.apply import APPLY_SCRIPT, Scoring
from tests.bench.dedup import ScriptApplier, _batches, _evalsha, _preload, private_redis
from tests.bench.pipeline import OPERATORS
from tests.bench.workload import generate

WINDOW = 300


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.operator_cost")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=60_000, help="events per operator round")
    parser.add_argument("--players", type=int, default=100_000)
    args = parser.parse_args(argv)
    warm = 2 * args.players
    count = len(OPERATORS) * (warm + args.rounds * args.events)
    values = generate(count, args.players, ["bench"], display_share=0.1).values
    events = [decode_score_event(value, ScoreBounds()) for value in values]
    now = time.time()  # one dedup bucket for the whole measurement
    rounds: dict[str, list[float]] = {operator: [] for operator in OPERATORS}
    with private_redis() as (client, _):
        keys = RedisKeys("operators")
        _preload(client, keys, now, WINDOW, 1_000_000, [])

        def apply(operator: Operator, chunk: Sequence[ScoreEvent], group: str) -> float:
            applier = ScriptApplier(client, keys, WINDOW, APPLY_SCRIPT, group=group)
            _, before = _evalsha(client)
            for batches in _batches(chunk, 5000, 6):
                for batch in batches:
                    batch.events = [
                        (offset, event.model_copy(update={"leaderboard": operator}))
                        for offset, event in batch.events
                    ]
                    batch.scoring = {operator: Scoring(operator)}
                applier.apply(batches, now)
            _, after = _evalsha(client)
            return (after - before) / len(chunk)

        start = 0
        for operator in OPERATORS:
            apply(operator, events[start : start + warm], f"warm-{operator}")
            start += warm
        for number in range(args.rounds):
            for operator in OPERATORS:
                cost = apply(operator, events[start : start + args.events], f"{number}-{operator}")
                start += args.events
                rounds[operator].append(round(cost, 2))
                sys.stdout.write(f"round {number + 1} {operator:<7} {cost:6.2f} us/event\n")
    fastest = {operator: min(costs) for operator, costs in rounds.items()}
    sys.stdout.write(f"fastest round: {fastest}\n")
    sys.stdout.write(orjson.dumps({"rounds": rounds, "fastest": fastest}).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
