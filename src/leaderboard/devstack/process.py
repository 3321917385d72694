"""Detached server processes: start, pid files, "is that pid ours and alive", stop.

Also here: polling a condition with a deadline, and checking whether a port is free.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from leaderboard.core.logging import get_logger
from leaderboard.devstack.errors import DevstackError

log = get_logger(__name__)

T = TypeVar("T")

# Processes this interpreter started: polling their Popen reaps them when they exit, so a
# stopped server does not linger as a zombie (which would still "exist" in /proc), and
# keeping the object alive stops subprocess from warning that a child is still running.
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def read_cmdline(pid: int) -> list[str] | None:
    """The arguments of a live process, or ``None`` if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The state follows the command name, which is in parentheses and may contain any
    # character, so split after the last closing parenthesis.
    state = stat.rpartition(")")[2].split()[0] if ")" in stat else "?"
    if state in ("Z", "X") or not raw:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


@dataclass(frozen=True)
class CommandMatcher:
    """Recognises our server in a command line: its executable name and unique arguments."""

    executable: str
    arguments: tuple[str, ...]

    def matches(self, cmdline: Sequence[str]) -> bool:
        """True if ``cmdline`` runs ``executable`` with every one of ``arguments``."""
        if not cmdline or Path(cmdline[0]).name != self.executable:
            return False
        return all(argument in cmdline[1:] for argument in self.arguments)


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], None] | None = None,
) -> T | None:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` seconds pass.

    Returns that value, or ``None`` on timeout. ``abort`` is called between polls and
    raises when waiting longer is pointless (say, the server process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if abort is not None:
            abort()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(interval, remaining))


def port_is_free(host: str, port: int) -> bool:
    """True if nothing holds ``host:port``, checked by binding it the way servers do."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as every server sets it: a socket left in TIME_WAIT by a server
        # that just stopped does not make the port "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to ``host:port`` succeeds (something is listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One detached server process, identified by its pid file and its command line."""

    def __init__(self, name: str, *, pid_file: Path, log_file: Path, matcher: CommandMatcher):
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file
        self.matcher = matcher

    def is_ours(self, pid: int) -> bool:
        """True if ``pid`` is alive, leads its own session and runs our command."""
        with _children_lock:
            child = _children.get(pid)
        # Polling reaps our own exited child; the object stays to report its exit code.
        if child is not None and child.poll() is not None:
            return False
        cmdline = read_cmdline(pid)
        if cmdline is None or not self.matcher.matches(cmdline):
            return False
        try:
            # We start every server as a session leader; a process it forked (Redis
            # forks to save its snapshot) has the same command line but is not one.
            return os.getsid(pid) == pid
        except ProcessLookupError:
            return False

    def pid(self) -> int | None:
        """The pid of our running server, or ``None`` if it is not running.

        The pid file is trusted only after checking the process; if the file is missing
        or stale, ``/proc`` is searched, so a server whose pid file was deleted is still
        found instead of being reported as a foreign process holding our port.
        """
        recorded = self._read_pid_file()
        if recorded is not None and self.is_ours(recorded):
            return recorded
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self.is_ours(int(entry.name)):
                self._write_pid_file(int(entry.name))
                return int(entry.name)
        if recorded is not None:
            self.pid_file.unlink(missing_ok=True)
        return None

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """Start ``argv`` detached, appending its output to the log file; return its pid."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log_stream:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log_stream.write(f"\n=== devstack: starting {self.name} at {stamp} ===\n".encode())
            log_stream.flush()
            child = subprocess.Popen(  # noqa: S603 - argv is built by us, never a shell
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        with _children_lock:
            _children[child.pid] = child
        self._write_pid_file(child.pid)
        log.info("server started", server=self.name, pid=child.pid, log_file=str(self.log_file))
        return child.pid

    def check_alive(self, pid: int) -> None:
        """Raise ``DevstackError`` (naming the log) if our server ``pid`` has exited."""
        with _children_lock:
            child = _children.get(pid)
        if child is not None:
            # Our own child: its exit status is the truth. Its command line is not, yet:
            # a wrapper such as setpriv shows its own until it execs the server.
            if child.poll() is None:
                return
        elif self.is_ours(pid):
            return
        code = f" with code {child.returncode}" if child and child.returncode is not None else ""
        raise DevstackError(f"{self.name} exited{code} while starting", log_file=str(self.log_file))

    def stop(self, sig: signal.Signals, timeout: float) -> bool:
        """Send ``sig`` to our server and wait until it is gone; return whether it ran.

        After ``timeout`` the whole process group is killed (SIGKILL) with a warning:
        by then the server is stuck, and leaving it would keep its ports and data locked.
        """
        pid = self.pid()
        if pid is None:
            log.info("server not running", server=self.name)
            return False
        log.info("stopping server", server=self.name, pid=pid, signal=sig.name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_until(lambda: not self.is_ours(pid), timeout=timeout) is None:
            log.warning(
                "server did not stop in time; killing it",
                server=self.name,
                pid=pid,
                timeout_seconds=timeout,
                log_file=str(self.log_file),
            )
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if wait_until(lambda: not self.is_ours(pid), timeout=10) is None:
                raise DevstackError(
                    f"{self.name} (pid {pid}) survived SIGKILL", log_file=str(self.log_file)
                )
        self.pid_file.unlink(missing_ok=True)
        log.info("server stopped", server=self.name, pid=pid)
        return True

    def _read_pid_file(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _write_pid_file(self, pid: int) -> None:
        # Write-then-rename, so a reader never sees a half-written pid.
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.pid_file.with_suffix(".tmp")
        partial.write_text(f"{pid}\n")
        partial.replace(self.pid_file)


def run_logged(
    argv: Sequence[str],
    *,
    log_file: Path,
    timeout: float,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> int:
    """Run a one-off command to completion, appending its output to ``log_file``.

    Returns the exit code; with ``check`` a non-zero code raises ``DevstackError``, as
    does exceeding ``timeout`` (the command is then killed). ``what`` names it in errors.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as stream:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        stream.write(f"\n=== devstack: {what} at {stamp} ===\n".encode())
        stream.flush()
        try:
            result = subprocess.run(  # noqa: S603 - argv built by us, never a shell
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DevstackError(
                f"{what} did not finish within {timeout:.0f} s", log_file=str(log_file)
            ) from None
    if check and result.returncode != 0:
        raise DevstackError(
            f"{what} failed with exit code {result.returncode}", log_file=str(log_file)
        )
    return result.returncode
