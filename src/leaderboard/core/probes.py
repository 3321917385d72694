"""Liveness, readiness and ``/metrics``, answered the same way by every process: by a small
HTTP server in a worker (``serve_worker_http``), by routes mounted in a web service's app
(``probe_router``). ``Health`` holds what the probes report; docs/services.md says when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leaderboard.core.metrics import Metrics

#: The readiness check a ``starting`` Health fails until ``started()``.
STARTUP_CHECK = "startup"
JSON = "application/json"

#: Names what broke for good (a dead client thread), or None while all is well.
Fault = Callable[[], str | None]
#: Brings a web service's checks up to date before ``/readyz`` answers (it may ping a
#: server) and returns extra fields for the answer.
ReadinessRefresh = Callable[[], Awaitable[dict[str, Any]]]


class Health:
    """What the liveness and readiness probes report; never does I/O, so always fast."""

    def __init__(self, stall_after: float = 120.0, *, starting: bool = False) -> None:
        self.stall_after = stall_after
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._checks: dict[str, tuple[bool, str]] = {}
        self._faults: list[Fault] = []
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

    def watch(self, fault: Fault) -> None:
        """Fail liveness whenever ``fault()`` names something (called at each probe)."""
        with self._lock:
            self._faults.append(fault)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        idle = time.monotonic() - self._last_beat
        live = idle <= self.stall_after
        body: dict[str, Any] = {"seconds_since_heartbeat": round(idle, 3)}
        with self._lock:
            faults = list(self._faults)
        for fault in faults:
            error = fault()
            if error:
                live, body["error"] = False, error
        return live, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            checks = dict(self._checks)
        live, _ = self.liveness()
        body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
        return live and all(ok for ok, _ in checks.values()), {"checks": body}


def probe_answer(ok: bool, body: dict[str, Any]) -> tuple[HTTPStatus, bytes]:
    """The status and JSON body of a probe's answer."""
    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    return status, orjson.dumps({"status": "ok" if ok else "failing", **body})


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
                self._send(
                    *probe_answer(*(health.liveness() if path == "/livez" else health.readiness())),
                    JSON,
                )
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
