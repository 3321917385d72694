"""leaderboard: a realtime game leaderboard platform.

``core`` is shared; each service is a subpackage importing only ``core`` (docs/architecture.md).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leaderboard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
