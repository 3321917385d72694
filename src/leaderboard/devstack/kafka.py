"""The Kafka broker of the stack: Apache Kafka 4.3.1 from Maven Central, single-node KRaft.

One JVM is broker and controller on loopback; see docs/local-stack.md, "How each server runs".
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import shlex
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from confluent_kafka.admin import AdminClient

from leaderboard.core.kafka import admin_config
from leaderboard.core.logging import get_logger
from leaderboard.devstack.errors import DevstackError, TopicError
from leaderboard.devstack.packages import INSTALL_TIMEOUT_SECONDS, ensure_package, which
from leaderboard.devstack.process import CommandMatcher, port_accepts, run_logged, wait_until
from leaderboard.devstack.server import START_TIMEOUT_SECONDS, PortUse, Server, loopback_host
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import ensure_topics, topic_specs

log = get_logger(__name__)

KAFKA_VERSION = "4.3.1"
#: The KRaft controller listens on the broker's port plus this (9093 beside 9092).
CONTROLLER_PORT_OFFSET = 1
#: JVM heap of the broker: enough for a local stack and tests.
KAFKA_HEAP = "-Xmx512m -Xms512m"
#: The jar whose presence (and version) identifies the broker's classpath.
KAFKA_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
# Pinned so the download does not depend on the default plugin version of the local Maven.
_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_JVM_OPTIONS = (
    # Kafka's own defaults (kafka-run-class.sh), minus JMX: short GC pauses, no display.
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
_NODE_ID = 1

# librdkafka logs every refused connection while the broker starts; the probe reports
# its own failure, so the client's log lines are noise.
_quiet_client_log = logging.getLogger("leaderboard.devstack.kafka.client")
_quiet_client_log.setLevel(logging.CRITICAL)


def bootstrap_address(bootstrap_servers: str) -> tuple[str, int]:
    """The single ``(host, port)`` the local broker serves, from the bootstrap setting."""
    servers = [server.strip() for server in bootstrap_servers.split(",") if server.strip()]
    if len(servers) != 1:
        raise DevstackError(
            f"LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers!r}: the local stack runs "
            "one broker, so give exactly one loopback host:port such as 127.0.0.1:9092"
        )
    host, _, port = servers[0].rpartition(":")
    return host, int(port)  # the settings already checked it is a host:port


def new_cluster_id() -> str:
    """A random cluster id in Kafka's format: a UUID as unpadded URL-safe base64.

    Kafka's own generator never returns an id starting with ``-``, which command-line
    parsers would take for an option; neither does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _escape_property(value: str) -> str:
    # Kafka reads server.properties as ISO-8859-1 with backslash escapes, so a path with
    # a backslash or a non-ASCII character must be escaped to arrive intact.
    return "".join(
        "\\\\" if char == "\\" else char if ord(char) < 128 else f"\\u{ord(char):04x}"
        for char in value
    )


def server_properties(
    *,
    listen_host: str,
    advertised_host: str,
    port: int,
    controller_port: int,
    log_dir: Path,
) -> dict[str, str]:
    """The broker's configuration: one combined KRaft node on loopback, replication 1."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(_NODE_ID),
        "controller.quorum.voters": f"{_NODE_ID}@{listen_host}:{controller_port}",
        "listeners": f"PLAINTEXT://{listen_host}:{port},CONTROLLER://{listen_host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{advertised_host}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        # One broker: every internal topic must make do with one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Ten partitions instead of fifty: the first consumer group starts faster.
        "offsets.topic.num.partitions": "10",
        # Tests and local runs join groups constantly; waiting 3 s for more members is waste.
        "group.initial.rebalance.delay.ms": "0",
        # Topics come from topic_specs() only, so a typo in a topic name fails loudly.
        "auto.create.topics.enable": "false",
    }


def render_properties(properties: Mapping[str, str]) -> str:
    """``key=value`` lines in Java properties syntax."""
    header = "# Written by leaderboard.devstack on every start; edits are overwritten.\n"
    lines = (f"{key}={_escape_property(value)}\n" for key, value in properties.items())
    return header + "".join(lines)


class KafkaServer(Server):
    """Kafka 4.3.1 as one KRaft broker+controller JVM."""

    name = "kafka"

    def __init__(self, settings: DevstackSettings) -> None:
        if settings.kafka_security_protocol != "PLAINTEXT":
            raise DevstackError(
                "the local Kafka speaks PLAINTEXT only: unset "
                "LEADERBOARD_KAFKA_SECURITY_PROTOCOL (it is "
                f"{settings.kafka_security_protocol})"
            )
        self.advertised_host, self.port = bootstrap_address(settings.kafka_bootstrap_servers)
        self._bind_host = loopback_host(self.advertised_host, "KAFKA_BOOTSTRAP_SERVERS")
        self.controller_port = self.port + CONTROLLER_PORT_OFFSET
        self.install_dir = settings.downloads_dir / f"kafka-{KAFKA_VERSION}"
        self.libs_dir = self.install_dir / "libs"
        home = settings.devstack_dir / self.name
        self.config_file = home / "server.properties"
        self.log4j_file = home / "log4j2.properties"
        self.data_dir = home / "data"
        self.cluster_id_file = home / "cluster-id"
        self._java: Path | None = None
        super().__init__(settings)

    @property
    def bind_host(self) -> str:
        return self._bind_host

    @property
    def address(self) -> str:
        return f"{self.advertised_host}:{self.port}"

    def ports(self) -> list[PortUse]:
        return [
            PortUse(self.port, "KAFKA_BOOTSTRAP_SERVERS"),
            PortUse(self.controller_port, "KAFKA_BOOTSTRAP_SERVERS"),
        ]

    def matcher(self) -> CommandMatcher:
        return CommandMatcher("java", (MAIN_CLASS, str(self.config_file)))

    def prepare(self) -> None:
        timeout = INSTALL_TIMEOUT_SECONDS
        apt_log = self.settings.logs_dir / "apt.log"
        self._java = ensure_package(
            lambda: which("java"),
            "openjdk-17-jre-headless",
            what="Java (to run Kafka)",
            log_file=apt_log,
            timeout=timeout,
        )
        self.install_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            render_properties(
                server_properties(
                    listen_host=self.bind_host,
                    advertised_host=self.advertised_host,
                    port=self.port,
                    controller_port=self.controller_port,
                    log_dir=self.data_dir,
                )
            )
        )
        self.log4j_file.write_bytes(
            resources.files(__package__).joinpath("kafka-log4j2.properties").read_bytes()
        )
        self.format_storage()

    def command(self) -> list[str]:
        return [*self._java_command(), MAIN_CLASS, str(self.config_file)]

    def classpath(self) -> list[Path]:
        """Every jar of the broker's runtime classpath, in a stable order."""
        return sorted(self.libs_dir.glob("*.jar"))

    def install_jars(self) -> None:
        """Fetch the broker's jars into the cache with Maven, unless already complete."""
        pom = resources.files(__package__).joinpath("kafka-pom.xml").read_bytes()
        # The marker holds the pom's hash, so editing the pom (a new Kafka version)
        # fetches again instead of running stale jars.
        expected = hashlib.sha256(pom).hexdigest()
        marker = self.install_dir / "complete"
        if self._marker_matches(marker, expected):
            return
        timeout = INSTALL_TIMEOUT_SECONDS
        with self._cache_lock(timeout):
            if self._marker_matches(marker, expected):
                return  # another stack sharing this cache fetched them meanwhile
            mvn = ensure_package(
                lambda: which("mvn"),
                "maven",
                what="Maven (to fetch the Kafka jars)",
                log_file=self.settings.logs_dir / "apt.log",
                timeout=timeout,
            )
            staging = self.install_dir / "libs.partial"
            for stale in (staging, self.libs_dir):
                shutil.rmtree(stale, ignore_errors=True)
            self.install_dir.mkdir(parents=True, exist_ok=True)
            (self.install_dir / "pom.xml").write_bytes(pom)
            maven_log = self.settings.logs_dir / "maven.log"
            log.info(
                "fetching Kafka jars with Maven",
                version=KAFKA_VERSION,
                cache=str(self.install_dir),
                log_file=str(maven_log),
            )
            run_logged(
                [
                    str(mvn),
                    "-B",
                    "-q",
                    "-f",
                    str(self.install_dir / "pom.xml"),
                    f"-Dmaven.repo.local={self.settings.downloads_dir / 'm2'}",
                    _COPY_DEPENDENCIES,
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                log_file=maven_log,
                timeout=timeout,
                what="fetching the Kafka jars (Maven)",
                cwd=self.install_dir,
            )
            if not (staging / KAFKA_JAR).is_file():
                raise DevstackError(
                    f"Maven finished but {KAFKA_JAR} is not in {staging}",
                    log_file=str(maven_log),
                )
            staging.replace(self.libs_dir)
            marker.write_text(expected + "\n")
            log.info("Kafka jars ready", jars=len(self.classpath()), libs=str(self.libs_dir))

    def format_storage(self) -> None:
        """Format the data directory for our cluster once; a formatted one is kept."""
        if (self.data_dir / "meta.properties").is_file():
            return
        if not self.cluster_id_file.is_file():
            self.cluster_id_file.write_text(new_cluster_id() + "\n")
        cluster_id = self.cluster_id_file.read_text().strip()
        log.info("formatting Kafka storage", cluster_id=cluster_id, data=str(self.data_dir))
        run_logged(
            [
                *self._java_command(),
                STORAGE_TOOL_CLASS,
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.config_file),
                "--ignore-formatted",
            ],
            log_file=self.log_file,
            timeout=START_TIMEOUT_SECONDS,
            what="formatting the Kafka storage",
            cwd=self.home,
        )

    def probe(self) -> None:
        metadata = self._admin().list_topics(timeout=5)
        if not metadata.brokers:
            raise DevstackError("the broker has not registered yet")

    def probe_started(self) -> None:
        # A closed port is checked first: cheaper, and quieter than a client retrying.
        if not port_accepts(self.bind_host, self.port):
            raise DevstackError(f"nothing listens on {self.address} yet")
        self.probe()

    def provision(self) -> None:
        try:
            created = ensure_topics(self._admin(), topic_specs(self.settings))
        except TopicError as exc:
            raise DevstackError(f"kafka topics: {exc}", log_file=str(self.log_file)) from exc
        if created:
            log.info("topics created", topics=created)

    def _admin(self) -> AdminClient:
        return AdminClient(admin_config(self.settings, logger=_quiet_client_log))

    def _java_command(self) -> list[str]:
        java = self._java or which("java")
        if java is None:
            raise DevstackError("java is not installed")
        log4j = f"-Dlog4j2.configurationFile={self.log4j_file}"
        # An explicit jar list rather than `libs/*`, so the command line (ps, /proc) shows
        # exactly which Kafka version runs.
        classpath = ":".join(str(jar) for jar in self.classpath())
        heap = shlex.split(KAFKA_HEAP)
        return [str(java), *heap, *_JVM_OPTIONS, log4j, "-cp", classpath]

    @staticmethod
    def _marker_matches(marker: Path, expected: str) -> bool:
        try:
            return marker.read_text().strip() == expected
        except FileNotFoundError:
            return False

    @contextmanager
    def _cache_lock(self, timeout: float) -> Iterator[None]:
        # Stacks sharing one cache (the test suite's second stack) must not run Maven
        # into the same folder at once.
        self.install_dir.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.install_dir.parent / f"{self.install_dir.name}.lock"
        with lock_path.open("w") as lock_file:

            def acquired() -> bool:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            if not wait_until(acquired, timeout=timeout, interval=1.0):
                raise DevstackError(f"another process holds {lock_path} for over {timeout:.0f} s")
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
