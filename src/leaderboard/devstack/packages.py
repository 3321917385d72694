"""Debian packages the stack needs: find a program, or install its package with apt-get.

Installing needs root; without it the error says which package to install.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from leaderboard.core.logging import get_logger
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.process import run_logged

log = get_logger(__name__)

#: Bound on one install step (apt-get, the Maven download of the Kafka jars).
INSTALL_TIMEOUT_SECONDS = 300.0

_apt_lock = threading.Lock()


def is_root() -> bool:
    """True when running as root (who may install packages, and must drop to run Postgres)."""
    return os.geteuid() == 0


def which(program: str) -> Path | None:
    """The path of ``program`` on PATH or in the usual system folders, if installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/bin", "/usr/bin", "/bin"])
    found = shutil.which(program, path=search)
    return Path(found) if found else None


def ensure_package(
    find: Callable[[], Path | None],
    package: str,
    *,
    what: str,
    log_file: Path,
    timeout: float,
) -> Path:
    """Return what ``find`` finds, installing the Debian ``package`` first if needed.

    ``what`` names the missing thing in messages; apt-get's output goes to ``log_file``.
    """
    found = find()
    if found is not None:
        return found
    if not is_root():
        raise DevstackError(
            f"{what} is not installed: install the Debian package {package!r} "
            f"(sudo apt-get install -y {package}) and run this again"
        )
    with _apt_lock:
        found = find()  # another thread may have installed it while we waited
        if found is not None:
            return found
        log.info("installing Debian package", package=package, log_file=str(log_file))
        install = ["install", "-y", "--no-install-recommends", package]
        # A failed install is retried once after `apt-get update`: usually the package
        # lists were never downloaded on this machine, or are too old to find the file.
        if not _apt_get(install, log_file, timeout) and not (
            _apt_get(["update"], log_file, timeout) and _apt_get(install, log_file, timeout)
        ):
            raise DevstackError(
                f"apt-get could not install {package!r} (needed for {what})",
                log_file=str(log_file),
            )
    found = find()
    if found is None:
        raise DevstackError(
            f"the Debian package {package!r} installed, but {what} is still not found",
            log_file=str(log_file),
        )
    log.info("installed Debian package", package=package)
    return found


def _apt_get(arguments: list[str], log_file: Path, timeout: float) -> bool:
    """Run ``apt-get <arguments>`` unattended, appending its output to ``log_file``."""
    apt_get = which("apt-get")
    if apt_get is None:
        raise DevstackError("apt-get is not available: this stack installs Debian packages")
    code = run_logged(
        [str(apt_get), "-q", *arguments],
        log_file=log_file,
        timeout=timeout,
        what=f"apt-get {' '.join(arguments)}",
        env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    return code == 0
