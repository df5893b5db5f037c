"""The load test, short and scaled out: the real runner end to end with 10 users for 20 s (`make loadtest` runs
50 for 60 s) against three gunicorn processes behind HAProxy (round robin, no stickiness, health checks), one of
them killed halfway, PostgreSQL only through PgBouncer (transaction pooling), evidence in a SeaweedFS bucket.

A Celery worker with beat, a Redis of the run's own and an SMTP sink; it must end with no 5xx (but what the
killed process took with it and HAProxy could not safely send again), users signed in whichever process
answered, every case the clients created in the database exactly once, every resolution notified exactly once,
and every evidence file readable from every process still up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def load_database_url() -> str:
    """A database of this test's own beside the suite's, apart from make loadtest's `portal_load`."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_loadtest"))


def figures(output: str) -> dict[str, str]:
    section = output.split("=== Load test figures ===", 1)[1]
    return dict(re.findall(r"^(\w+):\s+(.+)$", section, flags=re.MULTILINE))


def first_number(value: str) -> int:
    return int(value.split()[0])


@pytest.mark.timeout(330)
def test_short_load_test_ends_clean(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    command = [
        sys.executable,
        "-m",
        "loadtest.run",
        "--users",
        "10",
        "--duration",
        "20",
        "--spawn-rate",
        "10",
    ]
    command += ["--database-url", load_database_url(), "--private-redis", "--drop-database"]
    command += ["--workdir", str(tmp_path / "run"), "--drain-timeout", "30"]
    command += ["--web", "3", "--web-workers", "1", "--kill-web", "--pgbouncer", "--s3"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=270)
    except subprocess.TimeoutExpired:
        process.terminate()  # the runner stops everything it started before it exits
        output, _ = process.communicate(timeout=60)
        pytest.fail("the load test did not finish within 270 s:\n" + output[-8000:])
    print(output[output.find("=== Load test figures ===") :])  # shown with -s, or when the test fails
    assert process.returncode == 0, output[-8000:]
    assert "result: PASS" in output

    seen = figures(output)
    assert first_number(seen["users"]) == 10
    assert first_number(seen["requests"]) > 50
    # The only failures allowed: POSTs the killed process was answering, which HAProxy cannot safely resend.
    assert first_number(seen["failures"]) <= first_number(seen["lost_in_the_kill"])
    assert first_number(seen["responses_5xx"]) == 0
    assert first_number(seen["server_5xx"]) == 0

    created = first_number(seen["cases_created"])
    assert created > 0
    assert first_number(seen["cases_in_database"]) == created

    resolutions = first_number(seen["resolutions"])
    assert resolutions > 0, "no case was resolved: the notification path was not exercised"
    assert first_number(seen["notifications_sent"]) == resolutions
    assert first_number(seen["emails_delivered"]) == resolutions
    assert first_number(seen["emails_duplicated"]) == 0

    assert seen["web_processes"].startswith("3 behind HAProxy, gunicorn-1 killed mid-run (through PgBouncer)")
    assert first_number(seen["evidence_files"]) > 0
    assert "[PASS] every evidence file stored once and readable from every web process" in output
    assert "[PASS] every gunicorn behind HAProxy answered requests" in output
