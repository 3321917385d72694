"""Fixtures shared by the archiver's unit tests."""

import pytest
from prometheus_client import CollectorRegistry

from leaderboard.archiver.metrics import ArchiverMetrics


@pytest.fixture
def metrics() -> ArchiverMetrics:
    """The archiver's metrics on a registry of the test's own."""
    return ArchiverMetrics(CollectorRegistry())
