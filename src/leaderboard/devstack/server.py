"""The lifecycle every server of the stack shares; one subclass per server says the rest.

A subclass supplies the command line, the ports, its preparation and a real request.
"""

from __future__ import annotations

import ipaddress
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from leaderboard.core.config import ENV_PREFIX
from leaderboard.core.logging import get_logger
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.process import CommandMatcher, ManagedProcess, port_is_free, wait_until
from leaderboard.devstack.settings import DevstackSettings

log = get_logger(__name__)

#: How long a started server may take to answer (and to stop) before the stack gives up.
START_TIMEOUT_SECONDS = 90.0


def loopback_host(host: str, variable: str) -> str:
    """The IPv4 loopback address to listen on for a configured ``host``.

    The stack only ever listens on loopback, so a host that is not a loopback address
    cannot be served; ``variable`` (the setting to change) is named in the error.
    """
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise DevstackError(
            f"{ENV_PREFIX}{variable}={host!r}: the local stack listens on IPv4 loopback only; "
            "use 127.0.0.1 or localhost"
        )
    return host


@dataclass(frozen=True)
class PortUse:
    """A port a server listens on, and the environment variable that chooses it."""

    port: int
    variable: str


@dataclass(frozen=True)
class ServerStatus:
    """What ``status`` reports about one server."""

    name: str
    running: bool
    healthy: bool
    pid: int | None
    address: str
    log_file: Path
    detail: str | None = None

    def line(self) -> str:
        """One line for the terminal, e.g. ``redis  running  pid 42  127.0.0.1:6379  log …``."""
        state = "running" if self.healthy else ("unhealthy" if self.running else "stopped")
        pid = f"pid {self.pid}" if self.pid is not None else "pid -"
        line = f"{self.name:<9} {state:<9} {pid:<10} {self.address:<21} log {self.log_file}"
        # Driver errors span several lines; a status line must stay one line.
        return f"{line}  ({' '.join(self.detail.split())})" if self.detail else line


class Server(ABC):
    """One server of the stack: its files under ``<devstack_dir>/<name>``, its process."""

    name: ClassVar[str]
    #: The signal that asks this server for a clean, data-preserving shutdown.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        self.home = settings.devstack_dir / self.name
        self.log_file = settings.logs_dir / f"{self.name}.log"
        self.process = ManagedProcess(
            self.name,
            pid_file=settings.run_dir / f"{self.name}.pid",
            log_file=self.log_file,
            matcher=self.matcher(),
        )

    # -- what each server says -------------------------------------------------------------

    @property
    @abstractmethod
    def bind_host(self) -> str:
        """The loopback address the server listens on."""

    @property
    @abstractmethod
    def address(self) -> str:
        """``host:port`` clients use, for messages and status."""

    @abstractmethod
    def ports(self) -> list[PortUse]:
        """Every port the server listens on."""

    @abstractmethod
    def matcher(self) -> CommandMatcher:
        """What the command line of this stack's server looks like."""

    @abstractmethod
    def prepare(self) -> None:
        """Install the server and initialise its data if needed; idempotent."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    @abstractmethod
    def probe(self) -> None:
        """Make one real request as a service would; raise if it fails."""

    def probe_started(self) -> None:
        """The request that shows a just-started server answers (before ``provision``)."""
        self.probe()

    def provision(self) -> None:
        """Create what the project needs on the answering server; idempotent."""
        return None  # most servers need nothing

    # -- the shared lifecycle --------------------------------------------------------------

    def foreign_ports(self) -> list[PortUse]:
        """Our ports that something else holds (none while our server runs)."""
        if self.process.pid() is not None:
            return []
        return [use for use in self.ports() if not port_is_free(self.bind_host, use.port)]

    def check_ports(self) -> None:
        """Fail clearly if a port we need is held by a process that is not our server."""
        for use in self.foreign_ports():
            raise DevstackError(
                f"port {use.port} on {self.bind_host} (for {self.name}) is taken by a process "
                f"that is not this stack's {self.name}: stop that process or choose another "
                f"port with {ENV_PREFIX}{use.variable}"
            )

    def up(self) -> None:
        """Reuse or start the server, wait until it answers, provision and check it."""
        pid = self.process.pid()
        if pid is None:
            self.prepare()
            self.home.mkdir(parents=True, exist_ok=True)
            pid = self.process.start(self.command(), cwd=self.home)
        else:
            log.info("server already running", server=self.name, pid=pid)
        self._wait_answering(pid)
        self.provision()
        try:
            self.probe()
        except Exception as exc:
            raise DevstackError(
                f"{self.name} at {self.address} started but does not answer: {exc}",
                log_file=str(self.log_file),
            ) from exc
        log.info("server healthy", server=self.name, pid=pid, address=self.address)

    def stop(self) -> bool:
        """Stop our server cleanly (data kept); return whether it was running."""
        return self.process.stop(self.stop_signal, timeout=START_TIMEOUT_SECONDS)

    def status(self) -> ServerStatus:
        """Whether our server runs and answers a real request right now."""
        pid = self.process.pid()
        if pid is None:
            taken = self.foreign_ports()
            detail = f"port {taken[0].port} is used by another process" if taken else None
            return ServerStatus(self.name, False, False, None, self.address, self.log_file, detail)
        try:
            self.probe()
        except Exception as exc:  # any failure to answer is what status reports
            return ServerStatus(
                self.name, True, False, pid, self.address, self.log_file, f"not answering: {exc}"
            )
        return ServerStatus(self.name, True, True, pid, self.address, self.log_file)

    def _wait_answering(self, pid: int) -> None:
        timeout = START_TIMEOUT_SECONDS
        last_error: list[BaseException] = []

        def answers() -> bool:
            try:
                self.probe_started()
            except Exception as exc:  # not answering yet: keep the reason for the report
                last_error[:] = [exc]
                return False
            return True

        if not wait_until(
            answers, timeout=timeout, interval=0.5, abort=lambda: self.process.check_alive(pid)
        ):
            reason = f": {last_error[0]}" if last_error else ""
            raise DevstackError(
                f"{self.name} (pid {pid}) did not answer at {self.address} within "
                f"{timeout:.0f} s{reason}",
                log_file=str(self.log_file),
            )
