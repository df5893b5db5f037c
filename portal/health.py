"""Reachability checks for the parts the portal depends on, used by /healthz."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


def check_database() -> CheckResult:
    """Run a trivial query on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "unreachable" here
        return CheckResult(False, f"{type(exc).__name__}: {exc}".strip())
    return CheckResult(True, connection.vendor)


def check_cache() -> CheckResult:
    """Write and read back a short-lived key."""
    key = f"healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        if cache.get(key) != "1":
            return CheckResult(False, "value written was not read back")
        cache.delete(key)
    except Exception as exc:
        return CheckResult(False, f"{type(exc).__name__}: {exc}".strip())
    return CheckResult(True, settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1])


def check_broker() -> CheckResult:
    """Connect to the Celery broker; the eager default has none and counts as reachable."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return CheckResult(True, "eager (tasks run in-process)")
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        return CheckResult(False, f"{type(exc).__name__}: {exc}".strip())
    return CheckResult(True, "reachable")


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks() -> dict[str, CheckResult]:
    """Run every check and return the results by name."""
    return {name: check() for name, check in CHECKS.items()}
