"""Optional sampling profiles of a service during its drain, with py-spy.

``--profile DIR`` attaches ``py-spy record`` (raw collapsed stacks) to the service's
process once its drain has started and stops it with SIGINT when the drain ends, so
start-up is not in the profile. py-spy is not a project dependency: run the benchmark
as ``uv run --frozen --with py-spy python -m tests.bench.pipeline --profile DIR`` so
the ``py-spy`` command is on PATH (attaching needs root or ptrace permission).

Sampling includes idle time (``--idle``): a service's loop is serial, so the time it
spends waiting for Redis, PostgreSQL or the broker is as much part of its throughput as
the time it computes. ``summarize`` turns the main thread's collapsed stacks into the
share of its samples per function, both self (the function was on top of the stack)
and inclusive (anywhere in it).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

#: py-spy frame text is ``function (path/to/file.py:123)``; lines are dropped to merge.
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


class Profiler:
    """One ``py-spy record`` attached to a running process."""

    def __init__(self, pid: int, output: Path, rate: int = 250) -> None:
        executable = shutil.which("py-spy")
        if executable is None:
            raise RuntimeError(
                "py-spy is not on PATH: run the benchmark with `uv run --frozen --with py-spy "
                "python -m tests.bench.pipeline --profile DIR`"
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        self._process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                # Waiting (on Kafka, Redis, PostgreSQL) is where a serial loop's time goes.
                "--idle",
                # Only the main thread runs the loop; the metrics server's threads idle.
                "--threads",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> Path:
        """Stop sampling and wait until the profile is written."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        return self.output


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "src/", "lib/python"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def summarize(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The ``top`` functions of the main thread (which runs the consume loop) by self and
    by inclusive share (0-1) of its samples, waiting included."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        thread, *rest = stack.split(";")
        if "MainThread" not in thread:
            continue
        frames = [_short(frame) for frame in rest if frame]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(name, round(n / total, 3)) for name, n in own.most_common(top)],
        "inclusive": [(name, round(n / total, 3)) for name, n in inclusive.most_common(top)],
    }
