"""``python -m tests.support.batched <service> <batch size>``: a worker consuming batches
of a size other than its constant, for the tests and benchmarks that vary it (the batch
size is no setting: only they turn it)."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Sequence

from leaderboard.core.runtime import run_worker

#: Service -> its settings class, in ``leaderboard.<service>.settings``.
SETTINGS = {
    "ranker": "RankerSettings",
    "archiver": "ArchiverSettings",
    "publisher": "PublisherSettings",
}


def main(argv: Sequence[str]) -> int:
    service, size = argv
    if service not in SETTINGS:
        raise SystemExit(f"no batched worker {service!r}")
    # Only the service's own modules are imported, as in ``python -m leaderboard.<service>``.
    work = importlib.import_module(f"leaderboard.{service}.service").work
    settings = getattr(
        importlib.import_module(f"leaderboard.{service}.settings"), SETTINGS[service]
    )
    return run_worker(settings, functools.partial(work, batch_size=int(size)), [])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
