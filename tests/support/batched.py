"""``python -m tests.support.batched <service> <batch size>``: a worker consuming batches
of a size other than its constant, for the tests and benchmarks that vary it (the batch
size is no setting: only they turn it)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

from leaderboard.core.runtime import run_worker


def main(argv: Sequence[str]) -> int:
    service, size = argv
    batch_size = int(size)
    # Only the service run is imported, as in ``python -m leaderboard.<service>``.
    if service == "ranker":
        from leaderboard.ranker.service import run as rank
        from leaderboard.ranker.settings import RankerSettings

        return run_worker(RankerSettings, functools.partial(rank, batch_size=batch_size), [])
    if service == "archiver":
        from leaderboard.archiver.service import work as archive
        from leaderboard.archiver.settings import ArchiverSettings

        return run_worker(ArchiverSettings, functools.partial(archive, batch_size=batch_size), [])
    if service == "publisher":
        from leaderboard.publisher.service import run as publish
        from leaderboard.publisher.settings import PublisherSettings

        return run_worker(PublisherSettings, functools.partial(publish, batch_size=batch_size), [])
    raise SystemExit(f"no batched worker {service!r}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
