"""leaderboard: a realtime game leaderboard platform.

One distribution, one package. ``leaderboard.core`` holds the shared infrastructure
(settings, logging, metrics, Kafka clients, errors, process lifecycle); every service
is a sibling subpackage started with ``python -m leaderboard.<service>`` and imports
``core`` only, never another service. ``leaderboard.devstack`` runs the local
Kafka/Redis/PostgreSQL stack used by ``make run`` and the test suite.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leaderboard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
