"""The PostgreSQL server of the stack: Debian's binaries, our own cluster and config.

Loopback TCP only, no Unix socket; see docs/local-stack.md, "How each server runs".
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
from contextlib import closing
from pathlib import Path

import psycopg2
from psycopg2 import sql

from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.packages import INSTALL_TIMEOUT_SECONDS, ensure_package, is_root, which
from leaderboard.devstack.process import CommandMatcher, run_logged
from leaderboard.devstack.server import PortUse, Server, loopback_host
from leaderboard.devstack.settings import DevstackSettings

SUPERUSER = "postgres"
#: The OS user that runs PostgreSQL when we are root (created by Debian's packages).
OS_USER = "postgres"
POSTGRESQL_ROOT = Path("/usr/lib/postgresql")
# pg_hba.conf has no escape for a double quote inside a quoted name, and a line break
# would start a new rule, so role names with those are refused outright.
_UNQUOTABLE = re.compile(r'["\x00-\x1f\x7f]')


def find_postgres_bin(version: str | None = None) -> Path | None:
    """The ``bin`` folder of PostgreSQL ``version``, or of the highest one installed."""
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for bin_dir in POSTGRESQL_ROOT.glob("*/bin"):
        if not ((bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file()):
            continue
        name = bin_dir.parent.name
        if version is not None and name != version:
            continue
        key = tuple(int(part) for part in name.split(".") if part.isdigit())
        candidates.append((key, bin_dir))
    return max(candidates)[1] if candidates else None


def render_pg_hba(app_user: str, *, app_password: bool) -> str:
    """Our ``pg_hba.conf``: TCP over loopback only; the app role trusted unless it has a
    password; everyone else (the superuser) by scram-sha-256."""
    app_method = "scram-sha-256" if app_password else "trust"
    user = f'"{app_user}"'
    rows = [
        ("host", "all", user, "127.0.0.1/32", app_method),
        ("host", "all", user, "::1/128", app_method),
        ("host", "all", "all", "127.0.0.1/32", "scram-sha-256"),
        ("host", "all", "all", "::1/128", "scram-sha-256"),
    ]
    width = max(len(user), len("all"))
    lines = [
        "# Written by leaderboard.devstack on every `up`; edits are overwritten.",
        "# No `local` lines: the server has no Unix socket.",
        f"# {'TYPE':<6}{'DATABASE':<10}{'USER':<{width + 2}}{'ADDRESS':<15}METHOD",
        *(f"{t:<8}{d:<10}{u:<{width + 2}}{a:<15}{m}" for t, d, u, a, m in rows),
    ]
    return "\n".join(lines) + "\n"


class PostgresServer(Server):
    """PostgreSQL from Debian's packages, on TCP loopback, with the app role and database."""

    name = "postgres"
    stop_signal = signal.SIGINT

    def __init__(self, settings: DevstackSettings) -> None:
        self._bind_host = loopback_host(settings.postgres_host, "POSTGRES_HOST")
        if settings.postgres_user == SUPERUSER:
            raise DevstackError(
                f"LEADERBOARD_POSTGRES_USER must not be {SUPERUSER!r}: that is the local "
                "stack's superuser, and services must not run as a superuser"
            )
        for variable, value in (
            ("POSTGRES_USER", settings.postgres_user),
            ("POSTGRES_DATABASE", settings.postgres_database),
        ):
            if _UNQUOTABLE.search(value):
                raise DevstackError(
                    f"LEADERBOARD_{variable}={value!r}: double quotes and control characters "
                    "are not supported by the local stack"
                )
        home = settings.devstack_dir / self.name
        self.data_dir = home / "data"
        self.password_file = home / "superuser-password"
        self._bin_dir: Path | None = None
        super().__init__(settings)

    @property
    def bind_host(self) -> str:
        return self._bind_host

    @property
    def address(self) -> str:
        return f"{self.settings.postgres_host}:{self.settings.postgres_port}"

    def ports(self) -> list[PortUse]:
        return [PortUse(self.settings.postgres_port, "POSTGRES_PORT")]

    def matcher(self) -> CommandMatcher:
        return CommandMatcher("postgres", ("-D", str(self.data_dir)))

    def prepare(self) -> None:
        self._bin_dir = self._find_binaries()
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").is_file():
            self.initdb()
        self._write_pg_hba()

    def command(self) -> list[str]:
        bin_dir = self._bin_dir or self._find_binaries()
        return [
            *self._as_server_user(),
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.settings.postgres_port),
            "-c",
            f"listen_addresses={self.bind_host}",
            "-c",
            "unix_socket_directories=",
        ]

    def initdb(self) -> None:
        """Create the cluster once: into a staging folder, renamed only when complete."""
        if self.data_dir.exists():
            if any(self.data_dir.iterdir()):
                raise DevstackError(
                    f"{self.data_dir} is not empty but holds no PostgreSQL cluster "
                    "(no PG_VERSION): move it away and run this again"
                )
            self.data_dir.rmdir()
        bin_dir = self._bin_dir or self._find_binaries()
        self.password_file.unlink(missing_ok=True)
        descriptor = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_urlsafe(32) + "\n")
        staging = self.home / "data.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        self._chown_to_server_user(staging)
        run_logged(
            [
                *self._as_server_user(),
                str(bin_dir / "initdb"),
                "-D",
                str(staging),
                "--username",
                SUPERUSER,
                # Read by the server user: as root it holds CAP_DAC_READ_SEARCH, so our
                # 0600 file needs no chown.
                f"--pwfile={self.password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            log_file=self.log_file,
            timeout=INSTALL_TIMEOUT_SECONDS,
            what="initdb (creating the PostgreSQL cluster)",
            cwd=self.home,
        )
        staging.rename(self.data_dir)

    def probe_started(self) -> None:
        # The app role may not exist yet on a fresh cluster; the superuser always does.
        with closing(self._connect(SUPERUSER, self._superuser_password(), "postgres")) as conn:
            self._select_one(conn)

    def provision(self) -> None:
        """Ensure the app role and database, and that the running server uses our hba."""
        user = sql.Identifier(self.settings.postgres_user)
        password = self.settings.postgres_password
        with closing(self._connect(SUPERUSER, self._superuser_password(), "postgres")) as conn:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.settings.postgres_user,)
                )
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(user))
                # Kept in line with the settings on every `up`, so changing the password
                # (or removing it) takes effect without resetting the data.
                if password is None:
                    cursor.execute(
                        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER PASSWORD NULL").format(user)
                    )
                else:
                    cursor.execute(
                        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER PASSWORD %s").format(user),
                        (password.get_secret_value(),),
                    )
                cursor.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s",
                    (self.settings.postgres_database,),
                )
                if cursor.fetchone() is None:
                    cursor.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(self.settings.postgres_database), user
                        )
                    )
                if self._write_pg_hba():
                    cursor.execute("SELECT pg_reload_conf()")

    def probe(self) -> None:
        password = self.settings.postgres_password
        with closing(
            self._connect(
                self.settings.postgres_user,
                password.get_secret_value() if password else None,
                self.settings.postgres_database,
            )
        ) as conn:
            self._select_one(conn)

    def _connect(
        self, user: str, password: str | None, database: str
    ) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.settings.postgres_host,
            port=self.settings.postgres_port,
            user=user,
            password=password,
            dbname=database,
            connect_timeout=3,
            application_name="leaderboard-devstack",
        )

    @staticmethod
    def _select_one(conn: psycopg2.extensions.connection) -> None:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone() != (1,):
                raise DevstackError("SELECT 1 did not return 1")
        conn.rollback()

    def _superuser_password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise DevstackError(
                f"the superuser password file {self.password_file} is missing, so the "
                f"cluster in {self.data_dir} cannot be managed: remove that folder to start "
                "from an empty database"
            ) from None

    def _write_pg_hba(self) -> bool:
        """Write our pg_hba.conf if it differs; return whether it changed."""
        content = render_pg_hba(
            self.settings.postgres_user, app_password=self.settings.postgres_password is not None
        )
        hba = self.data_dir / "pg_hba.conf"
        if hba.is_file() and hba.read_text() == content:
            return False
        hba.write_text(content)
        hba.chmod(0o600)
        self._chown_to_server_user(hba)
        return True

    def _find_binaries(self) -> Path:
        version_file = self.data_dir / "PG_VERSION"
        if version_file.is_file():
            # An existing cluster can only be run by its own major version.
            version = version_file.read_text().strip()
            bin_dir = find_postgres_bin(version)
            if bin_dir is None:
                raise DevstackError(
                    f"{self.data_dir} was created by PostgreSQL {version}, which is not "
                    f"installed: install the Debian package postgresql-{version}, or remove "
                    "that folder to start from an empty database"
                )
            return bin_dir
        return ensure_package(
            find_postgres_bin,
            "postgresql",
            what="PostgreSQL (/usr/lib/postgresql/*/bin)",
            log_file=self.settings.logs_dir / "apt.log",
            timeout=INSTALL_TIMEOUT_SECONDS,
        )

    @staticmethod
    def _as_server_user() -> list[str]:
        """The command prefix that drops root to the ``postgres`` user, if we are root."""
        if not is_root():
            return []
        _server_user()
        setpriv = which("setpriv")
        if setpriv is None:
            raise DevstackError("setpriv is missing: install the Debian package util-linux")
        return [
            str(setpriv),
            f"--reuid={OS_USER}",
            f"--regid={OS_USER}",
            "--init-groups",
            # Read and traverse anything, write nothing: enough to reach a data directory
            # below root-only folders, without the rest of root's power.
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
        ]

    @staticmethod
    def _chown_to_server_user(path: Path) -> None:
        if is_root():
            user = _server_user()
            os.chown(path, user.pw_uid, user.pw_gid)


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise DevstackError(
            f"the OS user {OS_USER!r} does not exist: reinstall the Debian package "
            "postgresql-common, which creates it"
        ) from None
