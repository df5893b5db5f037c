"""`make run`, exactly as a newcomer starts it (SQLite, eager Celery, mail to files, no Redis): every page
reachable from the home page answers without a server error, for an anonymous reader and for every demo role
of both partners, in English and Japanese; and the server listens on 127.0.0.1 only and stops on SIGTERM.

The walk follows every link and submits every GET form (the filters, the search) as a reader would; it
signs in through the sign-in form. Nothing here knows the portal's URLs but the home page and the sign-in.
"""

from __future__ import annotations

import concurrent.futures
import email
import email.policy
import html.parser
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "ja")
PARTNERS = ("contoso.example", "fabrikam-china.example")
ROLES = ("global.admin", "user.admin", "helpdesk.agent", "billing.admin", "sales.agent")
DEMO_PASSWORD = "demo-portal-2026"
# Bounds that keep a walk to a few seconds: every path is visited, but one path with many query strings (the
# case list's sorts and pages) only this often.
PAGES_PER_WALK = 400
QUERIES_PER_PATH = 40
OPTIONS_PER_LIST = 8

pytestmark = pytest.mark.slow


@dataclass
class Portal:
    url: str
    port: int
    process: subprocess.Popen
    log: Path
    var: Path


def wait_for(url: str, timeout: float, process: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening socket on this port, read from /proc/net/tcp{,6}."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                if len(address) == 8:
                    addresses.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    addresses.add(address)
    return addresses


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[Portal]:
    """`make run` with nothing configured: the environment a fresh clone has."""
    tmp_path = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}
    }
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"))
    log = tmp_path / "make-run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", 240, process, log) == 200
        yield Portal(f"http://127.0.0.1:{port}", port, process, log, tmp_path / "var")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- A reader -----------------------------------------------------------------------------------------


class _Page(html.parser.HTMLParser):
    """The links and the GET forms of a page, each form with the values a reader would submit unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []  # (action, fields as submitted)
        self.choices: list[tuple[str, str, list[str]]] = []  # (action, select name, its options)
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._select: list | None = None  # [name, value chosen so far, options]
        self._radios: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if (tag == "a" and a.get("href")) or (
            tag == "link" and a.get("rel") == "alternate" and a.get("href")
        ):
            self.links.append(a["href"])
        elif tag == "form" and a.get("method", "get").lower() == "get":
            self._form = (a.get("action", ""), [])
        elif self._form is None:
            return
        elif tag == "option" and self._select is not None:
            self._select[2].append(a.get("value", ""))
            if self._select[1] is None or "selected" in a:
                self._select[1] = a.get("value", "")
        elif not a.get("name"):
            return
        elif tag == "select":
            self._select = [a["name"], None, []]
        elif tag == "textarea":
            self._form[1].append((a["name"], ""))
        elif tag == "input" and a.get("type") == "radio":
            self._radios.setdefault(a["name"], []).append(a.get("value", "on"))
            if "checked" in a:
                self._form[1].append((a["name"], a.get("value", "on")))
        elif tag == "input" and a.get("type") == "checkbox":
            if "checked" in a:
                self._form[1].append((a["name"], a.get("value", "on")))
        elif tag == "input" and a.get("type", "text") not in ("submit", "button", "image", "reset"):
            self._form[1].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._form is not None and self._select is not None:
            self._form[1].append((self._select[0], self._select[1] or ""))
            self.choices.append((self._form[0], self._select[0], self._select[2]))
            self._select = None
        elif tag == "form" and self._form is not None:
            for name, options in self._radios.items():
                if name not in dict(self._form[1]):
                    self._form[1].append((name, options[0]))
                self.choices.append((self._form[0], name, options))
            self.forms.append(self._form)
            self._form, self._radios = None, {}


@dataclass
class Walk:
    statuses: dict[str, int] = field(default_factory=dict)
    found_on: dict[str, str] = field(default_factory=dict)

    def failures(self, *, below: int = 500) -> list[str]:
        return [
            f"{status} {url} (linked from {self.found_on.get(url, '?')})"
            for url, status in self.statuses.items()
            if status >= below
        ]


class Reader:
    """A browser without JavaScript: cookies, redirects followed, CSRF token taken from the form it posts."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url: str, data: bytes | None = None, referer: str | None = None):
        request = urllib.request.Request(url, data=data, headers={"Referer": referer or url})
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read(), error.geturl()
        with response:
            return response.status, response.headers, response.read(), response.geturl()

    def sign_in(self, language: str, email: str) -> None:
        login = f"{self.base}/{language}/accounts/login/"
        _status, _headers, body, _url = self.open(login)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        assert token, "the sign-in page has no CSRF token"
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1).decode(), "username": email, "password": DEMO_PASSWORD}
        )
        status, _headers, body, url = self.open(login, form.encode(), referer=login)
        assert status == 200 and "/accounts/login/" not in url, f"{email} could not sign in ({status})"

    def walk(self, start: str, language: str) -> Walk:
        """Visit every page reachable from start within this language (and the API's documentation)."""
        walk = Walk()
        queue: deque[str] = deque([self.base + start])
        queued = {self.base + start}
        per_path: Counter[str] = Counter()
        while queue and len(walk.statuses) < PAGES_PER_WALK:
            url = queue.popleft()
            status, headers, body, final = self.open(url)
            walk.statuses[url] = status
            if status >= 400 or "text/html" not in headers.get("Content-Type", ""):
                continue
            page = _Page()
            page.feed(body.decode(errors="replace"))
            targets = [urllib.parse.urljoin(final, href) for href in page.links]
            for action, fields in page.forms:
                targets.append(urllib.parse.urljoin(final, action) + "?" + urllib.parse.urlencode(fields))
                # And as a reader picking another option of one of its lists (the first few of each).
                for form_action, name, options in page.choices:
                    if form_action != action:
                        continue
                    for option in options[:OPTIONS_PER_LIST]:
                        picked = [(key, option if key == name else value) for key, value in fields]
                        query = urllib.parse.urlencode(picked)
                        targets.append(urllib.parse.urljoin(final, action) + "?" + query)
            for target in targets:
                target = urllib.parse.urldefrag(target)[0]
                if not self._inside(target, language) or target in queued:
                    continue
                path = urllib.parse.urlsplit(target).path
                if urllib.parse.urlsplit(target).query:
                    if per_path[path] >= QUERIES_PER_PATH:
                        continue
                    per_path[path] += 1
                queued.add(target)
                walk.found_on[target] = url
                queue.append(target)
        return walk

    def _inside(self, url: str, language: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.base:
            return False
        return parts.path.startswith((f"/{language}/", "/api/"))


# --- The walks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_answers_an_anonymous_reader(portal: Portal, language: str) -> None:
    """Signed out: the home page, guidance (both clouds, every article, bilingual, search) and sign-in."""
    walk = Reader(portal.url).walk(f"/{language}/", language)
    assert not walk.failures(), "\n".join(walk.failures())
    articles = [url for url in walk.statuses if re.search(r"/guidance/[\w-]+/[\w-]+/", url)]
    reached = "\n".join(sorted(walk.statuses))
    assert any("/guidance/global/" in url for url in articles), reached
    assert any("/guidance/21vianet/" in url for url in articles), reached
    if language != "en":  # English is the source: it has no bilingual mode
        assert any("bilingual=1" in url for url in articles), reached
    assert all(walk.statuses[url] == 200 for url in articles)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("partner", PARTNERS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_demo_role(portal: Portal, role: str, partner: str, language: str) -> None:
    """Signed in as each demo role: every page its links and filters reach answers without a server error
    and without a broken link."""
    reader = Reader(portal.url)
    reader.sign_in(language, f"{role}@{partner}")
    walk = reader.walk(f"/{language}/", language)
    assert not walk.failures(below=400), "\n".join(walk.failures(below=400))
    case_pages = [url for url in walk.statuses if re.search(r"/cases/[A-Z]+-\d+/$", url)]
    assert case_pages, sorted(walk.statuses)  # the walk reached the partner's cases
    assert len(walk.statuses) > 20


def _answer_links(mail_dir: Path) -> list[str]:
    """The customers' answer links in the mail `make run` wrote to files (the demo resolves two cases)."""
    links = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk, policy=email.policy.default)
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    links += re.findall(r"https?://\S+/answer/[^/\s]+/", part.get_content())
    return links


def test_concurrent_answers_on_sqlite_give_one_answer_and_clear_refusals(portal: Portal) -> None:
    """Four customers' browsers sending the same answer at once: SQLite waits for the writer instead of failing
    with "database is locked"; one answer is taken and the others are told it was already given."""
    links = _answer_links(portal.var / "mail")
    assert links, f"no answer link in {sorted(p.name for p in (portal.var / 'mail').glob('*'))}"
    assert all(link.startswith(f"{portal.url}/") for link in links), links  # the port make run serves on
    link = links[0]
    readers, forms = [], []
    for _n in range(4):
        reader = Reader(portal.url)
        status, _headers, body, _url = reader.open(link)
        assert status == 200, status
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        answer = re.search(rb'name="answer" value="([^"]+)"', body).group(1).decode()
        readers.append(reader)
        forms.append(urllib.parse.urlencode({"csrfmiddlewaretoken": token, "answer": answer}).encode())
    barrier = threading.Barrier(len(readers))

    def send(index: int) -> int:
        barrier.wait()
        return readers[index].open(link, forms[index], referer=link)[0]

    with concurrent.futures.ThreadPoolExecutor(len(readers)) as pool:
        statuses = sorted(pool.map(send, range(len(readers))))
    assert statuses == [200, 410, 410, 410], statuses
    assert "database is locked" not in portal.log.read_text()


def test_ids_beyond_64_bits_and_nul_bytes_on_sqlite(portal: Portal) -> None:
    """SQLite cannot take an integer beyond 64 bits and PostgreSQL no NUL byte: neither reaches a query."""
    reader = Reader(portal.url)
    reader.sign_in("en", "billing.admin@contoso.example")
    for path in ("/en/customers/9223372036854775808/", "/en/team/99999999999999999999/"):
        assert reader.open(portal.url + path)[0] == 404, path
    for path in ("/en/cases/all/?q=a%00", "/en/guidance/?q=%00"):
        assert reader.open(portal.url + path)[0] == 400, path


def test_the_server_listens_on_loopback_only_and_stops_on_sigterm(portal: Portal) -> None:
    """make run migrates an empty SQLite database, serves on 127.0.0.1 only and exits on SIGTERM."""
    with urllib.request.urlopen(f"{portal.url}/ja/", timeout=5) as response:
        assert '<html lang="ja"' in response.read().decode()
    assert (portal.var / "db.sqlite3").exists()
    assert listening_addresses(portal.port) == {"127.0.0.1"}

    portal.process.send_signal(signal.SIGTERM)
    assert portal.process.wait(timeout=30) is not None
    time.sleep(0.5)
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", portal.port)) != 0, "the server kept running after make stopped"
    assert f"{portal.url}/en/accounts/login/" in portal.log.read_text()
    assert (
        "No hostname was supplied" not in portal.log.read_text()
    )  # no broker warning on the embedded default
