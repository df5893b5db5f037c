"""PostgreSQL or Redis going away: /healthz says so, pages fail cleanly, and everything recovers without loss.

The portal runs under gunicorn with production settings (DEBUG=0) and reaches PostgreSQL and Redis through
TCP proxies of the test's own; cutting a proxy is the server "going away" for the portal, for real.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.db import connection
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import Case
from portal.models import ApiToken
from tests.conftest import free_port
from tests.integration.conftest import Worker, database_url, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 12  # the shipped settings' one REDIS_URL (cache and broker), on a database of the test's own


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
        DATABASE_URL=database_url(database.port),
        DATABASE_CONN_MAX_AGE="60",
        REDIS_URL=f"redis://127.0.0.1:{cache.port}/{REDIS_DB}",
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


class Browser:
    """A signed-out browser: cookies kept between requests, CSRF token read from the page like a form would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.location = ""  # where the last answer redirected to, if it did

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict[str, str], form_page: str | None = None) -> tuple[int, str]:
        """POST a form the way a browser does: with the CSRF token of the page that holds it."""
        _status, page = self.get(form_page or path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, f"no CSRF token on {form_page or path}"
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + (form_page or path)}
        )
        return self._open(request)

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=15) as response:
                self.location = response.headers.get("Location", "")
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            self.location = error.headers.get("Location", "")
            return error.code, error.read().decode()


def authenticator_code(key: str, step: int = 30, t0: int = 0, digits: int = 6) -> str:
    """What an authenticator app holding this key (hex, as django-otp stores it) shows now."""
    totp = TOTP(bytes.fromhex(key), step, t0, digits, 0)  # a phone knows nothing of the server's drift
    totp.time = time.time()
    return f"{totp.token():0{digits}d}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is an answer to look at, not to follow


@pytest.fixture
def worker_through_proxy(proxies, smtp_sink, tmp_path) -> Iterator[Worker]:
    """A Celery worker (with beat) whose cache and broker are the one Redis behind the proxy, as shipped."""
    _database, cache = proxies
    redis.Redis(port=6379, db=REDIS_DB).flushdb()
    smtp_sink.start()
    worker = Worker(f"redis://127.0.0.1:{cache.port}/{REDIS_DB}", smtp_sink, tmp_path)
    worker.start()
    yield worker
    worker.stop()


def test_redis_going_away_and_coming_back(
    portal, proxies, worker_through_proxy, smtp_sink, helpdesk_agent, billing_admin, customer, password
) -> None:
    """Without Redis (cache and broker): pages, a fresh sign-in (password, then the authenticator app's code)
    and resolving from the web and the API all answer 200; /healthz says degraded; once Redis is back each
    resolution e-mail arrives exactly once."""
    from cases import services
    from tests.cast import open_dispute

    _database, cache = proxies
    call_command("import_guidance", str(ROOT / "guidance" / "content"), verbosity=0)
    # The suite hashes with MD5 for speed; the portal under test knows only the shipped hashers.
    billing_admin.user.password = PBKDF2PasswordHasher().encode(password, PBKDF2PasswordHasher().salt())
    billing_admin.user.save(update_fields=["password"])
    # The shipped settings (DEBUG=0) require a second factor of every partner user: this one set up an
    # authenticator app, whose key the test holds as the phone would.
    app = TOTPDevice.objects.create(user=billing_admin.user, name="authenticator", confirmed=True)
    _token, key = ApiToken.issue(user=billing_admin.user, name="faults")
    auth = {"Authorization": f"Bearer {key}"}
    by_web = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    by_api = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    assert get(f"{portal}/healthz")[0] == 200

    cache.stop()
    status, body = get(f"{portal}/healthz")
    assert status == 200, body  # the portal works: a load balancer must keep this node
    health = json.loads(body)
    assert health["status"] == "degraded"
    assert health["checks"]["cache"]["ok"] is False and health["checks"]["broker"]["ok"] is False
    assert get(f"{portal}/healthz?strict=1")[0] == 503

    browser = Browser(portal)
    status, _body = browser.post(
        "/en/accounts/login/", {"username": billing_admin.user.email, "password": password}
    )
    assert status == 302, "a fresh sign-in works without Redis"
    status, _body = browser.get("/en/cases/")
    assert status == 302 and browser.location == "/en/accounts/mfa/verify/?next=%2Fen%2Fcases%2F", (
        "the password alone opens no partner page"
    )
    status, _body = browser.post(
        "/en/accounts/mfa/verify/",
        {"code": authenticator_code(app.key, app.step, app.t0, app.digits), "next": "/en/cases/"},
        form_page=browser.location,
    )
    assert (status, browser.location) == (302, "/en/cases/"), "the code step works without Redis"
    for path in (
        "/en/cases/all/",
        "/en/cases/",
        f"/en/cases/{by_web.number}/",
        "/en/guidance/global/provide-billing-support/",
        "/ja/guidance/global/provide-billing-support/?bilingual=1",
    ):
        status, body = browser.get(path)
        assert status == 200, (path, body[:500])
    assert Browser(portal).get("/en/guidance/global/provide-billing-support/")[0] == 200  # signed out

    status, _body = browser.post(
        f"/en/cases/{by_web.number}/resolve/",
        {"resolution_summary": "Charge upheld.", "outcome": "upheld"},
        form_page=f"/en/cases/{by_web.number}/",
    )
    assert status == 302
    status, body = post_json(
        f"{portal}/api/v1/cases/{by_api.number}/resolve/",
        b'{"resolution_summary": "Upheld.", "outcome": "upheld"}',
        auth,
    )
    assert status == 200, body
    status, body = get(f"{portal}/api/v1/cases/?status=resolved", auth)  # the throttle fails open
    assert status == 200 and json.loads(body)["count"] == 2, body
    for case in (by_web, by_api):
        case.refresh_from_db()
        assert case.status == "resolved"
        assert case.notifications.get(kind="resolution").status == "pending"  # owed, kept for the sweep
    assert smtp_sink.messages == []

    cache.start()
    wait_until(lambda: get(f"{portal}/healthz?strict=1")[0] == 200, 30, "the portal to recover")
    addresses = [customer.billing_contact_email] * 2
    wait_until(lambda: len(smtp_sink.messages) >= 2, 60, "the owed e-mails")
    time.sleep(4)  # past a lease and a few sweeps: nothing more may arrive
    assert [m["To"] for m in smtp_sink.messages] == addresses
    for case in (by_web, by_api):
        assert sum(case.number in m["Subject"] for m in smtp_sink.messages) == 1, case.number
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 2
    for case in (by_web, by_api):
        assert case.notifications.get(kind="resolution").status == "sent"
