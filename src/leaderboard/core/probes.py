"""Liveness, readiness and ``/metrics`` for worker processes.

``Health`` holds the state the probes report; the service updates it as it works, so a
probe never does I/O of its own and always answers fast:

- **liveness** fails when the main loop stopped calling ``heartbeat()`` for longer than
  ``stall_after`` seconds (a wedged process that Kubernetes should restart);
- **readiness** fails while any named dependency check is failing (for example the
  archiver while PostgreSQL is down), so the pod is reported not ready without being
  restarted, and lag builds up in Kafka instead. A worker's ``Health`` is built
  ``starting``: it is not ready until its main loop calls ``started()`` (the archiver
  once it has migrated or checked its schema, every consumer once it has subscribed),
  so the probe, which serves from the first moment, does not report a worker ready
  while it is still setting up. Subscribing reaches no server yet: a consumer's Kafka
  and Redis checks turn red when they first fail.

``serve_worker_http()`` serves ``/livez``, ``/readyz`` and ``/metrics`` from one small
threaded HTTP server on the worker's metrics port. Web services expose the same
``Health`` through their own application instead.
"""

from __future__ import annotations

import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leaderboard.core.metrics import Metrics

#: The readiness check a ``starting`` Health fails until ``started()``.
STARTUP_CHECK = "startup"


class Health:
    """What the liveness and readiness probes report."""

    def __init__(self, stall_after: float = 120.0, *, starting: bool = False) -> None:
        self.stall_after = stall_after
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._checks: dict[str, tuple[bool, str]] = {}
        if starting:
            self._checks[STARTUP_CHECK] = (False, "starting")

    def started(self) -> None:
        """The main loop is running: clears the ``starting`` state (idempotent)."""
        self.set_check(STARTUP_CHECK, True)

    def heartbeat(self) -> None:
        """The main loop made progress (call once per iteration)."""
        self._last_beat = time.monotonic()

    def set_check(self, name: str, ok: bool, detail: str = "") -> None:
        """Record the state of one dependency (``ok`` False makes the process not ready)."""
        with self._lock:
            self._checks[name] = (ok, detail)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        idle = time.monotonic() - self._last_beat
        return idle <= self.stall_after, {"seconds_since_heartbeat": round(idle, 3)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            checks = dict(self._checks)
        live, _ = self.liveness()
        body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
        return live and all(ok for ok, _ in checks.values()), {"checks": body}


def serve_worker_http(
    metrics: Metrics, health: Health, host: str, port: int
) -> ThreadingHTTPServer:
    """Start serving ``/livez``, ``/readyz`` and ``/metrics`` in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(HTTPStatus.OK, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path in ("/livez", "/readyz"):
                ok, body = health.liveness() if path == "/livez" else health.readiness()
                status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
                payload = orjson.dumps({"status": "ok" if ok else "failing", **body})
                self._send(status, payload, "application/json")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found: try /metrics, /livez or /readyz\n")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes arrive every few seconds; access logs would drown the real ones

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server
