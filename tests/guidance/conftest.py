"""Where the guidance tests find DocFX files (the seed content itself is the `seeded` fixture)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "guidance" / "content"
FIXTURES = ROOT / "tests" / "fixtures" / "docfx"
