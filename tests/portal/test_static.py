"""Static files are collected with hashed, compressed names for whitenoise to serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_collectstatic_writes_hashed_and_compressed_files(tmp_path: Path) -> None:
    """Production collectstatic writes portal.<hash>.css with .gz and .br twins and a manifest."""
    static_root = tmp_path / "static"
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "s" * 60,
        "ALLOWED_HOSTS": "portal.example",
        "STATIC_ROOT": str(static_root),
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    hashed = [p for p in (static_root / "portal" / "css").glob("portal.*.css") if p.name.count(".") == 2]
    assert len(hashed) == 1, sorted(p.name for p in (static_root / "portal" / "css").iterdir())
    assert hashed[0].with_name(hashed[0].name + ".gz").exists()
    assert hashed[0].with_name(hashed[0].name + ".br").exists()
    assert (static_root / "staticfiles.json").exists()
