"""Case tests use the cast from tests/cast.py (a plugin the root conftest loads for every folder)."""

from tests.cast import open_dispute

__all__ = ["open_dispute"]
