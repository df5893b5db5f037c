"""The portal through PgBouncer in transaction pooling (Debian's pgbouncer): gunicorn and the Celery worker
reach PostgreSQL only through it, and a case goes from opened to its one resolution e-mail.

Transaction pooling hands each transaction whichever server connection is free, so nothing may outlive a
transaction on a connection: no server-side cursors (DISABLE_SERVER_SIDE_CURSORS), no prepared statements
(psycopg's prepare_threshold, None in Django), no session SET, LISTEN or advisory lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.db import connection

from loadtest.services import PgBouncer, ServiceError
from portal.models import ApiToken
from tests.conftest import free_port
from tests.integration.conftest import ROOT, database_url, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pgbouncer() -> Iterator[PgBouncer]:
    settings = connection.settings_dict
    pooler = PgBouncer(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432), user=settings["USER"])
    try:
        pooler.start()
    except ServiceError as error:
        pytest.fail(str(error), pytrace=False)
    yield pooler
    pooler.stop()


@pytest.fixture
def web(pgbouncer, broker, tmp_path) -> Iterator[str]:
    """gunicorn with production settings, its database connections through PgBouncer (kept between requests,
    as DATABASE_CONN_MAX_AGE lets them: PgBouncer pools the server side)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DEBUG="0",
        SECRET_KEY="p" * 64,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DATABASE_URL=database_url(pgbouncer.port),
        DATABASE_CONN_MAX_AGE="60",
        REDIS_URL=broker.url,
        CELERY_TASK_ALWAYS_EAGER="0",
        EMAIL_URL="dummymail://",
        STATIC_ROOT=str(tmp_path / "static"),
        VAR_DIR=str(tmp_path / "var"),
        MFA_REQUIRED="0",
    )
    log = (tmp_path / "gunicorn.log").open("w")
    command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--threads", "4", "--timeout", "30"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{url}/healthz") == 200, 60, "gunicorn")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_django_keeps_nothing_on_a_connection_that_transaction_pooling_would_break(db) -> None:
    """Server-side cursors off, psycopg's prepared statements off, client-side parameter binding."""
    settings = connection.settings_dict
    assert settings["DISABLE_SERVER_SIDE_CURSORS"] is True
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None
    assert settings["OPTIONS"].get("server_side_binding") is not True


def test_a_case_from_opened_to_its_email_through_pgbouncer(
    pgbouncer, web, publish_to, smtp_sink, worker_factory, global_admin, customer
) -> None:
    """Open, start, resolve through the API and a worker, both only through PgBouncer: one e-mail, and the
    pooler counted the transactions."""
    smtp_sink.start()
    worker = worker_factory()
    worker.env = _through(worker.env, pgbouncer)
    worker.start()
    _token, token = ApiToken.issue(user=global_admin.user, name="pgbouncer")
    api = f"{web}/api/v1"
    status, case = call(
        "POST",
        f"{api}/cases/",
        token,
        {
            "customer": customer.pk,
            "category": "billing_dispute",
            "title": "Charged for 30 seats, using 25",
            "description": "The October invoice bills 30 seats; the customer cancelled 5.",
            "invoice_number": "G012345678",
            "disputed_amount": "412.50",
            "currency": "USD",
            "severity": "B",
        },
    )
    assert status == 201, case
    number = case["number"]
    for _ in range(3):  # the same statements again and again: a prepared statement would be made by now
        assert call("GET", f"{api}/cases/{number}/", token)[0] == 200
        assert call("GET", f"{api}/cases/?status=new", token)[0] == 200
    assert call("POST", f"{api}/cases/{number}/start/", token, {})[0] == 200
    status, resolved = call(
        "POST",
        f"{api}/cases/{number}/resolve/",
        token,
        {"resolution_summary": "We credited the seats.", "outcome": "credit", "credit_amount": "100"},
    )
    assert status == 200 and resolved["status"] == "resolved", resolved

    wait_until(lambda: smtp_sink.messages, 45, "the resolution e-mail")
    assert [m["To"] for m in smtp_sink.messages] == [customer.billing_contact_email]
    test_database = connection.settings_dict["NAME"]
    stats = {row["database"]: int(row["total_xact_count"]) for row in pgbouncer.admin("SHOW STATS")}
    assert stats.get(test_database, 0) > 10, stats
    config = {row["key"]: row["value"] for row in pgbouncer.admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"


def _through(env, pgbouncer: PgBouncer):
    """The worker's environment, its database reached through the pooler."""

    def wrapped() -> dict[str, str]:
        values = env()
        values["DATABASE_URL"] = database_url(pgbouncer.port)
        values["DATABASE_CONN_MAX_AGE"] = "60"
        return values

    return wrapped
