"""Fixtures for guidance tests: the seed content imported into the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "guidance" / "content"
FIXTURES = ROOT / "tests" / "fixtures" / "docfx"


@pytest.fixture
def seeded(db):
    """The five seed files imported, as `make run` does."""
    call_command("import_guidance", str(CONTENT), verbosity=0)
