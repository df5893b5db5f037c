"""Reachability checks for the parts the portal depends on, used by /healthz.

PostgreSQL is required: without it nothing works. Redis (cache and Celery broker) is optional at run time:
without it pages are rendered without the cache and e-mails wait for the sweep, so its checks mark the portal
*degraded*, not unavailable. What went wrong is logged; the public answer only says which part failed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

logger = logging.getLogger("portal.health")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


def _failed(name: str, error: BaseException) -> CheckResult:
    # One message per check, so the once-a-minute filter keeps a line for each failing part.
    logger.warning(f"health check {name} failed: %s: %s", type(error).__name__, error)
    return CheckResult(False, "unreachable")


def check_database() -> CheckResult:
    """Run a trivial query on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "unreachable" here
        return _failed("database", error)
    return CheckResult(True, connection.vendor)


def check_cache() -> CheckResult:
    """Ping Redis (the cache ignores its errors, so ask the client itself), or round-trip a key in memory."""
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    try:
        if hasattr(cache, "client"):  # django-redis
            cache.client.get_client(write=True).ping()
        else:
            key = f"healthz:{uuid.uuid4().hex}"
            cache.set(key, "1", timeout=5)
            if cache.get(key) != "1":
                return CheckResult(False, "value written was not read back")
            cache.delete(key)
    except Exception as error:
        return _failed("cache", error)
    return CheckResult(True, backend)


def check_broker() -> CheckResult:
    """Connect to the Celery broker; the eager default has none and counts as reachable."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return CheckResult(True, "eager (tasks run in-process)")
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as error:
        return _failed("broker", error)
    return CheckResult(True, "reachable")


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}
# Without these the portal does not work; without the others it works more slowly or later.
REQUIRED = frozenset({"database"})


def run_checks() -> dict[str, CheckResult]:
    """Run every check and return the results by name."""
    return {name: check() for name, check in CHECKS.items()}


def overall(results: dict[str, CheckResult]) -> str:
    """ok, degraded (an optional part failed) or unavailable (a required one did)."""
    failed = {name for name, result in results.items() if not result.ok}
    if failed & REQUIRED:
        return "unavailable"
    return "degraded" if failed else "ok"
