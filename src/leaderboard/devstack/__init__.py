"""The local development stack: real Kafka, Redis and PostgreSQL servers without Docker.

``python -m leaderboard.devstack {up,down,status,run}`` (behind ``make infra-up``,
``make infra-down``, ``make infra-status`` and ``make run``) installs what is missing
(Kafka jars from Maven Central, Redis and PostgreSQL from Debian packages), starts each
server as a detached process listening on loopback only, waits until each one answers a
real request, and creates the Kafka topics, the PostgreSQL role and database.

Everything lives under ``LEADERBOARD_DEVSTACK_DIR`` (``.devstack/`` by default): server
data (kept across restarts), logs, pid files and the download cache. This package owns
that folder and those processes, nothing else; services never import it.

- ``settings``: ``DevstackSettings``, the stack's configuration.
- ``stack``: ``Stack``, the ``up``/``down``/``status`` orchestration used by the CLI and tests.
- ``server``: the lifecycle every server shares (ports, start, wait, stop, status).
- ``kafka``, ``redis``, ``postgres``: one module per server.
- ``process``: detached processes, pid files and "is that pid still ours".
- ``packages``: Debian package installation.
- ``procfile``: reading the project's ``Procfile`` for ``run``.
"""
