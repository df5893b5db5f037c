"""Real parts for the close-the-loop tests: a Celery worker process, a Redis broker of our own, an SMTP sink.

Nothing here is a stand-in: the worker is `celery -A portal worker` in its own process, talking to a real
redis-server and to the test database over PostgreSQL; the mail server is aiosmtpd on loopback.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kombu.pools
import pytest
import redis
from aiosmtpd.controller import Controller
from django.db import connection

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

# Short timings so faults heal within seconds instead of minutes.
FAST_TIMINGS = {
    "NOTIFICATION_LEASE_SECONDS": "4",
    "NOTIFICATION_PENDING_GRACE_SECONDS": "2",
    "NOTIFICATION_SWEEP_SECONDS": "1",
    "NOTIFICATION_RETRY_BASE_SECONDS": "1",
    "NOTIFICATION_RETRY_MAX_SECONDS": "2",
    "NOTIFICATION_MAX_ATTEMPTS": "20",
}


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- The SMTP sink ----------------------------------------------------------------------------------


@dataclass
class SinkHandler:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    hold_rcpt: threading.Event = field(default_factory=threading.Event)  # set: RCPT waits until released
    in_rcpt: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's hook names
        if self.hold_rcpt.is_set():
            self.in_rcpt.set()
            # Hold the client in mid-conversation, so the test can kill it while "sending".
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook names
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on a fixed loopback port that can be started late and stopped (the mail server "down")."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SinkHandler()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.handler.released.set()
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.stop()


# --- The broker -------------------------------------------------------------------------------------


class Broker:
    """A redis-server of this test's own, so stopping it touches nothing else."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (see .ci/run)"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 10, "the broker to start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    server = Broker(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def publish_to(broker, settings) -> Iterator[None]:
    """Make this test process use the test's Redis as the shipped settings do: one REDIS_URL for the cache and
    the Celery broker, publishing for real (no eager mode)."""
    from portal.celery import app

    # Celery reads the CELERY_ settings live from Django's settings, so overriding them is enough.
    settings.CELERY_BROKER_URL = broker.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": broker.url}}
    _reset_pools(app)
    assert app.conf.broker_url == broker.url
    yield
    _reset_pools(app)


def _reset_pools(app) -> None:
    """Drop the app's broker connections so the next publish connects to the current broker_url.

    The app's pools are entries of kombu's process-wide pool groups, keyed by broker URL: closing one in place
    would leave it there, closed, for the next test that publishes to the same URL (the embedded default's
    memory:// broker among them: "Acquire on closed pool"). `kombu.pools.reset()` closes them and empties the
    groups, so the next publish builds fresh ones."""
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


# --- The worker -------------------------------------------------------------------------------------


def database_url(port: int | None = None) -> str:
    """The test database's URL (through another port, e.g. a proxy's, when given)."""
    settings = connection.settings_dict
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{settings['USER']}@{host}:{port or settings['PORT'] or 5432}/{settings['NAME']}"


class Worker:
    """`celery -A portal worker -B` in its own process group, against the test database and a Redis that is
    its cache and broker, as in the shipped settings."""

    def __init__(self, redis_url: str, sink: SmtpSink, workdir: Path) -> None:
        self.redis_url = redis_url
        self.sink = sink
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)}
        env.update(
            DATABASE_URL=database_url(),
            DATABASE_CONN_MAX_AGE="0",
            REDIS_URL=self.redis_url,
            EMAIL_URL=f"smtp://127.0.0.1:{self.sink.port}",
            EMAIL_TIMEOUT="10",
            VAR_DIR=str(self.workdir / "var"),
            PORTAL_BASE_URL="http://127.0.0.1:8000",
            **FAST_TIMINGS,
        )
        return env

    def start(self) -> None:
        self.runs += 1
        log = self.workdir / f"worker-{self.runs}.log"
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-B",
                "--pool=solo",
                "--loglevel=INFO",
                f"--hostname=test{self.runs}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--schedule={self.workdir / f'beat-{self.runs}'}",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "ready." in log.read_text() or self.process.poll() is not None, 60, "the worker")
        assert self.process.poll() is None, log.read_text()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: no warm shutdown, no acknowledgement."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.workdir.glob("worker-*.log")))


@pytest.fixture
def worker_factory(broker, smtp_sink, tmp_path) -> Iterator[Callable[[], Worker]]:
    workers: list[Worker] = []

    def make() -> Worker:
        worker = Worker(broker.url, smtp_sink, tmp_path)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()
