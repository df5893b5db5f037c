"""PostgreSQL or Redis going away: /healthz says so, pages fail cleanly, and everything recovers without loss.

The portal runs under gunicorn with production settings (DEBUG=0) and reaches PostgreSQL and Redis through
TCP proxies of the test's own; cutting a proxy is the server "going away" for the portal, for real.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from cases.models import Case
from portal.models import ApiToken
from tests.conftest import free_port
from tests.integration.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class TcpProxy:
    """Forwards a loopback port to a server; stop() drops the listener and every live connection."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _w, _x = select.select([a, b], [], [], 1)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def stop(self) -> None:
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave it listening.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post_json(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def proxies() -> Iterator[tuple[TcpProxy, TcpProxy]]:
    settings = connection.settings_dict
    database = TcpProxy(int(settings["PORT"] or 5432))
    cache = TcpProxy(6379)
    database.start()
    cache.start()
    yield database, cache
    database.stop()
    cache.stop()


@pytest.fixture
def portal(proxies, tmp_path) -> Iterator[str]:
    """gunicorn with production settings, reaching PostgreSQL and Redis only through the proxies."""
    database, cache = proxies
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)}
    env.update(
        DEBUG="0",
        SECRET_KEY="f" * 64,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DATABASE_URL=f"postgres://{connection.settings_dict['USER']}@127.0.0.1:{database.port}/"
        f"{connection.settings_dict['NAME']}",
        DATABASE_CONN_MAX_AGE="60",
        REDIS_URL=f"redis://127.0.0.1:{cache.port}/12",
        EMAIL_URL="dummymail://",
        STATIC_ROOT=str(tmp_path / "static"),
        VAR_DIR=str(tmp_path / "var"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), 60, "gunicorn")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _answers(url: str) -> bool:
    try:
        return get(f"{url}/ping")[0] == 200 or get(f"{url}/healthz")[0] in (200, 503)
    except OSError:
        return False


def test_database_going_away_and_coming_back(portal, proxies, helpdesk_agent, customer) -> None:
    """Without PostgreSQL: /healthz 503 and a plain error page; once back: 200, and new cases are kept."""
    database, _cache = proxies
    _token, key = ApiToken.issue(user=helpdesk_agent.user, name="faults")
    auth = {"Authorization": f"Bearer {key}"}
    assert get(f"{portal}/healthz")[0] == 200
    status, body = post_json(
        f"{portal}/api/v1/cases/",
        b'{"customer": %d, "category": "billing_question", "title": "Before", "description": "x"}'
        % customer.pk,
        auth,
    )
    assert status == 201, body

    database.stop()
    status, body = get(f"{portal}/healthz")
    assert status == 503
    assert '"database": {"ok": false' in body
    status, body = get(f"{portal}/en/guidance/")
    assert status == 500
    assert "Something went wrong" in body
    assert "Traceback" not in body and "psycopg" not in body

    database.start()
    wait_until(lambda: get(f"{portal}/healthz")[0] == 200, 30, "the portal to recover")
    assert get(f"{portal}/en/guidance/")[0] == 200
    status, body = post_json(
        f"{portal}/api/v1/cases/",
        b'{"customer": %d, "category": "billing_question", "title": "After", "description": "x"}'
        % customer.pk,
        auth,
    )
    assert status == 201, body
    assert sorted(Case.objects.values_list("title", flat=True)) == ["After", "Before"]


def test_redis_going_away_and_coming_back(portal, proxies, helpdesk_agent, billing_admin, customer) -> None:
    """Without Redis: /healthz 503, pages fail cleanly or still work, a resolution is still recorded; then 200."""
    _database, cache = proxies
    _token, key = ApiToken.issue(user=billing_admin.user, name="faults")
    auth = {"Authorization": f"Bearer {key}"}
    from cases import services
    from tests.cast import open_dispute

    case = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    assert get(f"{portal}/healthz")[0] == 200

    cache.stop()
    status, body = get(f"{portal}/healthz")
    assert status == 503
    assert '"cache": {"ok": false' in body and '"broker": {"ok": false' in body
    status, body = get(f"{portal}/en/guidance/")
    assert status in (200, 500)
    assert "Traceback" not in body
    # Throttling needs the cache; with it gone the API answers with a clean error, never a stack trace.
    status, body = post_json(
        f"{portal}/api/v1/cases/{case.number}/resolve/",
        b'{"resolution_summary": "Upheld.", "outcome": "upheld"}',
        auth,
    )
    assert status in (200, 500, 503)
    assert "Traceback" not in body

    cache.start()
    wait_until(lambda: get(f"{portal}/healthz")[0] == 200, 30, "the portal to recover")
    status, body = post_json(
        f"{portal}/api/v1/cases/{case.number}/resolve/",
        b'{"resolution_summary": "Upheld.", "outcome": "upheld"}',
        auth,
    )
    case.refresh_from_db()
    assert case.status == "resolved", body
    assert case.notifications.filter(kind="resolution").count() == 1
