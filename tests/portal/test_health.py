"""/healthz reports the database, the cache and the broker: 200 ok, 200 degraded without Redis, 503 strict."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def spare_redis() -> Iterator[dict]:
    """A throw-away redis-server of our own, so the test can stop it without touching the suite's Redis."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server must be installed for the health tests (see .ci/run)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError("the spare redis-server did not start")
    state = {"url": url, "process": process}
    yield state
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def point_at(settings, url: str) -> None:
    """The shipped settings (one Redis for cache and broker), with that Redis at url."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}


def test_healthz_is_200_when_everything_answers(client) -> None:
    """Real PostgreSQL, Redis cache and Redis broker all answering gives 200."""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "detail": "postgresql"}
    assert body["checks"]["cache"]["ok"] is True
    assert body["checks"]["broker"] == {"ok": True, "detail": "reachable"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_eager_default_counts_as_reachable_broker(client, settings) -> None:
    """Without a broker (eager tasks), the broker check passes and says why."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["detail"].startswith("eager")


def test_stopped_redis_is_degraded_not_down(client, settings, spare_redis) -> None:
    """Stopping the Redis that serves as broker and cache leaves /healthz at 200, degraded, naming both."""
    point_at(settings, spare_redis["url"])
    assert client.get("/healthz").json()["status"] == "ok"

    spare_redis["process"].terminate()
    spare_redis["process"].wait(timeout=10)

    response = client.get("/healthz")
    assert response.status_code == 200  # a load balancer keeps the node: the portal still works
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"] == {"ok": False, "detail": "unreachable"}
    assert body["checks"]["cache"] == {"ok": False, "detail": "unreachable"}
    assert body["checks"]["database"] == {"ok": True, "detail": "postgresql"}
    assert "refused" not in response.content.decode().lower()  # no exception text for the public


def test_strict_health_check_is_503_when_degraded(client, settings, spare_redis) -> None:
    """?strict=1 answers 503 for anything but ok, for monitors that want to hear of every part."""
    point_at(settings, spare_redis["url"])
    assert client.get("/healthz?strict=1").status_code == 200
    spare_redis["process"].terminate()
    spare_redis["process"].wait(timeout=10)
    response = client.get("/healthz?strict=1")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


def test_failed_checks_are_logged_with_their_cause(client, settings, spare_redis, caplog) -> None:
    """The cause of a failing check goes to the log, where the operator looks, not to the answer."""
    for once in logging.getLogger("portal.health").filters:
        once.reset()  # an earlier test's line would hold this one back for a minute
    point_at(settings, spare_redis["url"])
    spare_redis["process"].terminate()
    spare_redis["process"].wait(timeout=10)
    client.get("/healthz")
    messages = [record.getMessage() for record in caplog.records if record.name == "portal.health"]
    assert any("cache" in message and "refused" in message for message in messages), messages


def test_healthz_needs_no_language_prefix_or_sign_in(client) -> None:
    """Load balancers probe /healthz directly, signed out."""
    response = client.get("/healthz", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
