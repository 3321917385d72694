#!/usr/bin/env python3
"""Print the development Secrets of the kind setup, creating them once with random values.

The Tiltfile applies this output before the chart (rendered with values-dev.yaml, which
sets ``auth.generatePasswords: false`` and names these Secrets): ``helm template`` cannot
look up live Secrets, so a chart-generated password would change on every Tiltfile
reload, under a PostgreSQL that only reads it when it first initialises its volume.

The values are kept in ``.devstack/k8s/dev-secrets.yaml`` (ignored by git, readable only
by its owner); delete that file together with the kind cluster to start afresh.
Standard library only, so it runs with any ``python3``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path

NAMESPACE = "leaderboard"
RELEASE = "leaderboard"
ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / ".devstack" / "k8s" / "dev-secrets.yaml"


def secret(name: str, data: dict[str, str]) -> dict[str, object]:
    """A Secret manifest with ``data`` base64-encoded."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "leaderboard", "leaderboard.io/dev": "true"},
        },
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def documents() -> list[dict[str, object]]:
    """The Secrets the dev profile names, with new random values."""
    return [
        secret(f"{RELEASE}-redis-auth", {"redis-password": secrets.token_urlsafe(24)}),
        secret(
            f"{RELEASE}-postgresql-auth",
            {"postgres-password": secrets.token_urlsafe(24), "password": secrets.token_urlsafe(24)},
        ),
        secret(f"{RELEASE}-ingest-api-keys-dev", {"api-keys": f"dev:{secrets.token_urlsafe(32)}"}),
        secret(
            f"{RELEASE}-ingest-admin-keys-dev",
            {"admin-keys": f"dev-admin:{secrets.token_urlsafe(32)}"},
        ),
    ]


def stream(items: list[dict[str, object]]) -> str:
    """Secrets as a YAML stream (JSON documents are YAML)."""
    return "---\n".join(json.dumps(document, indent=2) + "\n" for document in items)


def generate() -> str:
    """The Secrets the dev profile names, as a YAML stream."""
    return stream(documents())


def _name(document: dict[str, object]) -> str:
    metadata = document["metadata"]
    assert isinstance(metadata, dict)
    return str(metadata["name"])


def main() -> int:
    if not STORE.exists():
        STORE.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(STORE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as store:
            store.write(generate())
    kept = [json.loads(part) for part in STORE.read_text().split("---\n") if part.strip()]
    # A Secret added since the store was made is appended; the kept values never change.
    missing = [d for d in documents() if _name(d) not in {_name(k) for k in kept}]
    if missing:
        with STORE.open("a") as store:
            store.write("---\n" + stream(missing))
    sys.stdout.write(STORE.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
