"""python -m loadtest.run — the bounded load test, from an empty database to a verdict.

1. Recreates a database of its own (`portal_load` by default) and migrates it; empties its own Redis database
   (`/10` by default, or starts a redis-server of its own with --private-redis).
2. Creates four partners on different clouds and plans, their customers (every language), enough users of each
   role for every simulated user to be a person of its own, each with an authenticator app (TOTP) set up, API
   tokens, and imports guidance/content.
3. Starts an SMTP sink (aiosmtpd, counting messages by Message-ID), one Celery worker with beat, and gunicorn
   with DEBUG=0 — every one on 127.0.0.1, on free ports.
4. Runs loadtest/locustfile.py headless for --users and --duration, then waits (bounded) for the outbox to
   drain.
5. Checks: no 5xx (as the clients saw them and as gunicorn logged them), no failed request, every case the
   clients created in the database exactly once, every resolution notified exactly once (the notification
   SENT, one message with its Message-ID in the sink). Prints the figures; exits 1 if any check fails.

Every process it started is stopped at the end, also when something fails or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import email
import email.policy
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest.services import HAProxy, PgBouncer, SeaweedFS, free_ports

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
FIRST_OWN_REDIS_DB = 10  # /0 is a laptop's, /1–/9 belong to test runs: never flush those


def log(message: str) -> None:
    print(f"loadtest: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def wait_until(condition, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise RunError(f"timed out after {timeout:.0f} s waiting for {what}")


class RunError(Exception):
    """The run could not be set up or carried out (as opposed to a check that failed)."""


# --- The SMTP sink ---------------------------------------------------------------------------------------


@dataclass
class Delivered:
    message_id: str
    to: str
    language: str
    subject: str


@dataclass
class SinkHandler:
    messages: list[Delivered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = Delivered(
            message_id=str(message.get("Message-ID", "")).strip(),
            to=str(message.get("To", "")),
            language=str(message.get("Content-Language", "")),
            subject=str(message.get("Subject", "")),
        )
        with self.lock:
            self.messages.append(record)
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Delivered]:
        with self.lock:
            return list(self.messages)


# --- Processes -------------------------------------------------------------------------------------------


class Process:
    """A child in its own process group, its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("w", encoding="utf-8")
        self.popen = subprocess.Popen(  # noqa: S603 - our own fixed commands, no shell
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> None:
        if self.alive:
            try:
                self.popen.send_signal(signal.SIGTERM)  # the leader shuts its own children down gracefully
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout:.0f} s; killing it")
        # Whatever of its process group is still there (a hung child, or the leader itself) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)
        self._log.close()


# --- The run ---------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


class LoadRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.original_env = dict(os.environ)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.workdir: Path = (args.workdir or ROOT / "var" / "loadtest" / stamp).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes: list[Process] = []
        self.external: list[Any] = []  # PgBouncer, SeaweedFS, HAProxy (loadtest.services)
        self.controller = None
        self.sink = SinkHandler()
        # One gunicorn on its own port each; with more than one, HAProxy in front is the portal's address.
        self.backend_ports = free_ports(args.web)
        self.haproxy = HAProxy(self.backend_ports, self.workdir) if args.web > 1 else None
        self.web_port = self.haproxy.port if self.haproxy else self.backend_ports[0]
        self.pgbouncer: PgBouncer | None = None
        self.seaweedfs: SeaweedFS | None = None
        self.bucket = ""
        self.killed: str | None = None
        self.killed_at: float | None = None
        self.smtp_port = free_port()
        self.redis_url = args.redis_url
        self.database_url = args.database_url
        self.database_created = False
        self.figures: dict[str, Any] = {}
        self.checks: list[Check] = []
        self.results: dict[str, Any] = {}

    # --- set-up -----------------------------------------------------------------------------------------

    def check_targets(self) -> None:
        db = urlsplit(self.database_url)
        name = db.path.lstrip("/")
        if db.scheme not in ("postgres", "postgresql", "pgsql"):
            raise RunError(f"--database-url must be a PostgreSQL URL, not {self.database_url!r}")
        if not is_loopback(db.hostname):
            raise RunError("the load test only talks to 127.0.0.1: --database-url must point at loopback")
        if "load" not in name:
            raise RunError(
                f"the database is dropped and recreated, so its name must contain 'load' (got {name!r})"
            )
        if not self.args.private_redis:
            redis_url = urlsplit(self.redis_url)
            number = redis_url.path.lstrip("/") or "0"
            if not is_loopback(redis_url.hostname):
                raise RunError("the load test only talks to 127.0.0.1: --redis-url must point at loopback")
            if not number.isdigit() or int(number) < FIRST_OWN_REDIS_DB:
                raise RunError(
                    "--redis-url must name a Redis database of the load test's own, "
                    f"{FIRST_OWN_REDIS_DB} or above (it is emptied); got /{number}"
                )

    def start_redis(self) -> None:
        if self.args.private_redis:
            binary = shutil.which("redis-server")
            if not binary:
                raise RunError("--private-redis needs redis-server on PATH")
            port = free_port()
            command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            command += ["--dir", str(self.workdir)]
            self.processes.append(Process("redis", command, self.original_env, self.workdir / "redis.log"))
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 15, f"Redis at {self.redis_url}")
        client.flushdb()
        client.close()

    def recreate_database(self) -> None:
        import psycopg
        from psycopg import sql

        url = urlsplit(self.database_url)
        name = url.path.lstrip("/")
        try:
            with psycopg.connect(**self.maintenance_params(), autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.OperationalError as error:
            raise RunError(
                f"cannot reach PostgreSQL at {url.hostname}:{url.port or 5432}: {error}"
            ) from error
        self.database_created = True

    def maintenance_params(self) -> dict[str, Any]:
        """Connection parameters for the server's `postgres` database, where ours is dropped and created."""
        url = urlsplit(self.database_url)
        params: dict[str, Any] = {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "dbname": "postgres",
            "connect_timeout": 5,
        }
        if url.password:
            params["password"] = url.password
        return params

    def app_env(self) -> dict[str, str]:
        """The environment of gunicorn, the worker and this process's Django: production settings."""
        env = {k: v for k, v in self.original_env.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings",
            DEBUG="0",
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # Plain HTTP on loopback: no redirect to HTTPS, cookies without the Secure flag.
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
            DATABASE_URL=self.pgbouncer.url(self.database_url) if self.pgbouncer else self.database_url,
            DATABASE_CONN_MAX_AGE="60",
            REDIS_URL=self.redis_url,
            CELERY_TASK_ALWAYS_EAGER="0",
            CACHE_KEY_PREFIX="loadtest",
            EMAIL_URL=f"smtp://127.0.0.1:{self.smtp_port}",
            PORTAL_BASE_URL=f"http://127.0.0.1:{self.web_port}",
            VAR_DIR=str(self.workdir / "var"),
            STATIC_ROOT=str(self.workdir / "static"),
            MEDIA_ROOT=str(self.workdir / "media"),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        if self.seaweedfs:
            env.update(self.seaweedfs.environment(self.bucket))
        return env

    def start_pgbouncer(self) -> None:
        """PgBouncer in transaction pooling between PostgreSQL and gunicorn and the worker (--pgbouncer)."""
        url = urlsplit(self.database_url)
        self.pgbouncer = PgBouncer(
            url.hostname or "127.0.0.1", url.port or 5432, user=url.username or "postgres"
        )
        self.pgbouncer.start()
        self.external.append(self.pgbouncer)
        log(f"PgBouncer (transaction pooling) on 127.0.0.1:{self.pgbouncer.port}")

    def start_seaweedfs(self) -> None:
        """An S3-compatible storage of the run's own (--s3): the evidence goes to a private bucket."""
        folder = self.workdir / "seaweedfs"
        folder.mkdir(exist_ok=True)
        self.seaweedfs = SeaweedFS(folder)
        self.seaweedfs.start()
        self.external.append(self.seaweedfs)
        self.bucket = self.seaweedfs.new_bucket("loadtest")
        log(f"SeaweedFS on {self.seaweedfs.endpoint}, bucket {self.bucket}")

    def setup_django(self) -> None:
        self.secret_key = secrets.token_urlsafe(64)
        os.environ.update(self.app_env())
        os.environ["DATABASE_URL"] = self.database_url  # this process: PostgreSQL itself, not the pooler
        os.environ["DATABASE_CONN_MAX_AGE"] = "0"  # this process: no connection left behind on the database
        import django

        django.setup()

    def build_data(self) -> None:
        from django.conf import settings
        from django.core.management import call_command
        from django.test.utils import override_settings

        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        # The manifest (hashed names) that DEBUG=0 needs, without pre-compressing every file with brotli
        # (45 s on two cores); whitenoise serves the same URLs, just not pre-compressed.
        manifest = {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}
        with override_settings(STORAGES={**settings.STORAGES, "staticfiles": manifest}):
            call_command("collectstatic", interactive=False, verbosity=0)
        call_command("import_guidance", str(ROOT / "guidance" / "content"), verbosity=0)
        fixture = create_people(self.args.users)
        self.fixture_path = self.workdir / "fixture.json"
        self.fixture_path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False), encoding="utf-8")
        accounts = sum(len(v) for v in fixture["accounts"].values())
        self.figures["partners"] = len(fixture["partners"])
        self.figures["accounts"] = accounts
        log(
            f"database ready in {time.monotonic() - started:.1f} s: {len(fixture['partners'])} partners, "
            f"{sum(len(p['customers']) for p in fixture['partners'].values())} customers, {accounts} users, "
            f"guidance {sorted((c, len(s)) for c, s in fixture['guidance'].items())}"
        )

    def start_sink(self) -> None:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command otherwise
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.smtp_port)
        self.controller.start()

    def start_worker(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-B", "--loglevel=INFO"]
        command += [f"--concurrency={self.args.worker_concurrency}", f"--hostname=loadtest-{os.getpid()}@%h"]
        command += [
            "--without-gossip",
            "--without-mingle",
            f"--schedule={self.workdir / 'celerybeat-schedule'}",
        ]
        worker = Process("worker", command, self.app_env(), self.workdir / "worker.log")
        self.processes.append(worker)
        wait_until(lambda: "ready." in worker.text() or not worker.alive, 60, "the Celery worker")
        if not worker.alive:
            raise RunError("the Celery worker exited at start:\n" + worker.text()[-3000:])

    def start_web(self) -> None:
        webs = []
        for n, port in enumerate(self.backend_ports, 1):
            name = "gunicorn" if len(self.backend_ports) == 1 else f"gunicorn-{n}"
            access = self.workdir / ("access.log" if n == 1 else f"access-{n}.log")
            command = [sys.executable, "-m", "gunicorn", "portal.wsgi:application"]
            command += ["--bind", f"127.0.0.1:{port}", "--workers", str(self.args.web_workers)]
            command += ["--worker-class", "gthread", "--threads", str(self.args.web_threads)]
            command += ["--timeout", "60", "--graceful-timeout", "20", "--keep-alive", "5"]
            command += ["--access-logfile", str(access)]
            command += ["--access-logformat", "%(s)s %(L)s %(m)s %(U)s"]
            web = Process(name, command, self.app_env(), self.workdir / f"{name}.log")
            self.processes.append(web)
            webs.append((web, port))

        def healthy() -> bool:
            for web, port in webs:
                if not web.alive:
                    return True
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                        if response.status != 200:
                            return False
                except OSError:
                    return False
            return True

        wait_until(healthy, 60, "gunicorn to answer /healthz")
        for web, _port in webs:
            if not web.alive:
                raise RunError(f"{web.name} exited at start:\n" + web.text()[-3000:])
        if self.haproxy:
            self.haproxy.start()
            self.external.append(self.haproxy)
            wait_until(
                lambda: all(self.haproxy.servers_up().values()), 30, "HAProxy to see every gunicorn up"
            )
            log(f"HAProxy on {self.base_url}: round robin over {len(webs)} gunicorns, checks on /healthz")

    def web_processes(self) -> list[Process]:
        return [p for p in self.processes if p.name.startswith("gunicorn")]

    def kill_one_web(self) -> None:
        """SIGKILL one gunicorn (its master and workers) in the middle of the load: a machine lost."""
        victim = self.web_processes()[0]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait(timeout=10)
        self.killed = victim.name
        self.killed_at = time.time()
        log(f"killed {victim.name} (SIGKILL) mid-run")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- the load -----------------------------------------------------------------------------------------

    def run_locust(self) -> None:
        args = self.args
        rate = args.spawn_rate or max(1.0, args.users / 10)
        results_path = self.workdir / "results.json"
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "loadtest" / "locustfile.py"),
            "--headless",
        ]
        command += [
            "-u",
            str(args.users),
            "-r",
            f"{rate:g}",
            "-t",
            f"{args.duration}s",
            "--host",
            self.base_url,
        ]
        command += ["--only-summary", "--csv", str(self.workdir / "locust"), "--stop-timeout", "30"]
        command += ["--loglevel", "WARNING"]
        env = {
            k: v for k, v in self.original_env.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            LOADTEST_FIXTURE=str(self.fixture_path),
            LOADTEST_RESULTS=str(results_path),
        )
        log(f"{args.users} users ({rate:g} started per second) for {args.duration} s against {self.base_url}")
        started = time.monotonic()
        locust = Process("locust", command, env, self.workdir / "locust.log")
        self.processes.append(locust)
        cpu_before = self.cpu_seconds(0.0, 0.0)
        backends_before = self.database_backends()
        backends_seen = dict(backends_before)
        locust_cpu = 0.0
        polls = 0
        while locust.alive:
            if args.kill_web and self.killed is None and time.monotonic() > started + args.duration / 2:
                self.kill_one_web()
            if time.monotonic() > started + args.duration + 120:
                raise RunError("locust did not finish within its duration + 120 s")
            locust_cpu = max(locust_cpu, tree_cpu(locust.popen.pid))  # gone once it has exited
            if polls % 4 == 0:
                backends_seen.update(self.database_backends())
            polls += 1
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        backends_seen.update(self.database_backends())
        postgres_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_seen.items())
        cpu_after = self.cpu_seconds(locust_cpu, postgres_cpu)
        self.figures["elapsed_s"] = round(elapsed, 1)
        # Cores each part kept busy on average; "rest" is Redis and whatever else runs on the machine.
        self.figures["cpu_cores"] = {
            name: round((cpu_after[name] - cpu_before.get(name, 0)) / elapsed, 2) for name in cpu_after
        }
        self.locust_output = locust.text()
        if not results_path.exists():
            raise RunError("locust wrote no results:\n" + self.locust_output[-3000:])
        self.results = json.loads(results_path.read_text(encoding="utf-8"))
        self.servers_alive = {
            p.name: p.alive
            for p in self.processes
            if (p.name.startswith("gunicorn") or p.name == "worker") and p.name != self.killed
        }

    def cpu_seconds(self, locust_seconds: float, postgres_seconds: float) -> dict[str, float]:
        """CPU seconds used so far by each of our process trees, by this process, and by the whole machine."""
        import psutil

        used = {
            ("gunicorn" if p.name.startswith("gunicorn") else p.name): 0.0
            for p in self.processes
            if p.name.startswith("gunicorn") or p.name == "worker"
        }
        for p in self.processes:
            if p.name.startswith("gunicorn") or p.name == "worker":
                used["gunicorn" if p.name.startswith("gunicorn") else p.name] += tree_cpu(p.popen.pid)
        used["locust"] = locust_seconds
        used["postgres"] = postgres_seconds  # the server processes of our own database's connections
        own = psutil.Process().cpu_times()
        used["runner"] = own.user + own.system  # the SMTP sink runs in this process
        machine = psutil.cpu_times()
        busy = machine.user + machine.system + machine.nice + getattr(machine, "softirq", 0)
        used["rest"] = busy - sum(used.values())  # Redis and whatever else runs on the machine
        return used

    def database_backends(self) -> dict[int, float]:
        """CPU seconds of each PostgreSQL server process serving our database (its title names it)."""
        import psutil

        marker = f" {urlsplit(self.database_url).path.lstrip('/')} "
        found = {}
        for process in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                title = " ".join(process.info["cmdline"] or [])
                if process.info["name"] == "postgres" and title.startswith("postgres: ") and marker in title:
                    times = process.cpu_times()
                    found[process.pid] = times.user + times.system
        return found

    def drain(self) -> None:
        """Wait (bounded) until no notification is pending or sending and the sink has one for each sent."""
        from cases.models import Notification, NotificationStatus

        started = time.monotonic()
        deadline = started + self.args.drain_timeout
        while True:
            open_count = Notification.objects.filter(
                status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
            ).count()
            sent = Notification.objects.filter(status=NotificationStatus.SENT).count()
            if open_count == 0 and len(self.sink.snapshot()) >= sent:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.figures["drain_s"] = round(time.monotonic() - started, 1)
        time.sleep(self.args.quiet)  # a late duplicate would arrive now

    # --- the verdict ----------------------------------------------------------------------------------------

    def verify(self) -> None:
        from cases.models import (
            Case,
            CaseEvent,
            EventKind,
            Notification,
            NotificationKind,
            NotificationStatus,
        )

        results = self.results
        stats = results["stats"]
        figures = self.figures
        figures.update(
            requests=stats["requests"],
            failures=stats["failures"],
            rps=stats["rps"],
            median_ms=stats["median_ms"],
            p95_ms=stats["p95_ms"],
            p99_ms=stats["p99_ms"],
            max_ms=stats["max_ms"],
        )

        # 5xx, as the clients saw them and as gunicorn logged them.
        # With a gunicorn killed mid-run, a POST it was answering when it died cannot be sent again (HAProxy
        # retries only what is safe twice: reads, API creates with their Idempotency-Key): its client gets a
        # 502 or no answer. Those, and only then, are excused; the data checks below still hold for them.
        def lost_in_the_kill(record: dict[str, Any]) -> bool:
            return (
                self.killed_at is not None
                and record["method"] == "POST"
                and record.get("status", 502) in (502, 503, 504)
                and self.killed_at - 35 <= record.get("at", 0) <= self.killed_at + 5
            )

        lost = [e for e in [*results["server_errors"], *results.get("no_answer", [])] if lost_in_the_kill(e)]
        client_5xx = [e for e in results["server_errors"] if e not in lost]
        figures["lost_with_the_killed_process"] = len(lost)
        statuses = collections.Counter()
        for access in sorted(self.workdir.glob("access*.log")):
            for line in access.read_text(encoding="utf-8", errors="replace").splitlines():
                status = line.split(" ", 1)[0]
                if status.isdigit():
                    statuses[int(status)] += 1
        server_5xx = sum(count for status, count in statuses.items() if status >= 500)
        figures["responses_5xx_client"] = len(client_5xx)
        figures["responses_5xx_server"] = server_5xx
        figures["server_requests"] = sum(statuses.values())
        figures["status_classes"] = {
            f"{k}xx": sum(c for s, c in statuses.items() if s // 100 == k) for k in (2, 3, 4, 5)
        }
        self.checks.append(
            Check(
                "no 5xx responses",
                not client_5xx and server_5xx == 0,
                f"clients saw {len(client_5xx)}, gunicorn logged {server_5xx}"
                + "".join(
                    f"\n    {e['status']} {e['method']} {e['name']}: {e['body'][:160]}"
                    for e in client_5xx[:10]
                ),
            )
        )
        errors = results["errors"]
        self.checks.append(
            Check(
                "no failed requests" + (" but those lost with the killed process" if self.killed else ""),
                stats["failures"] <= len(lost) and not results.get("task_errors"),
                f"{stats['failures']} failures, "
                f"{len(results.get('task_errors', []))} errors in the locustfile"
                + "".join(
                    f"\n    {e['occurrences']}× {e['method']} {e['name']}: {e['error'][:200]}"
                    for e in errors[:10]
                )
                + "".join(f"\n    {t}" for t in results.get("task_errors", [])[:5]),
            )
        )
        self.checks.append(
            Check(
                "gunicorn and the worker stayed up",
                all(self.servers_alive.values()),
                ", ".join(f"{name} {'up' if up else 'DOWN'}" for name, up in self.servers_alive.items()),
            )
        )

        # Every case the clients created is in the database exactly once, and the database has no other.
        marker_re = re.compile(r"^(LT-[0-9a-f]{12}) ")
        by_marker: dict[str, list[str]] = collections.defaultdict(list)
        all_numbers = list(Case.objects.values_list("number", "title"))
        for number, title in all_numbers:
            match = marker_re.match(title)
            by_marker[match.group(1) if match else ""].append(number)
        created = results["created"]
        problems: list[str] = []
        seen_markers = set()
        for record in created:
            numbers = by_marker.get(record["marker"], [])
            seen_markers.add(record["marker"])
            if numbers != [record["number"]]:
                problems.append(
                    f"{record['marker']} ({record['via']}): "
                    f"the client got {record['number']}, the database has {numbers}"
                )
        unknown = [r["marker"] for r in results["unknown_creates"]]
        for marker in unknown:
            if len(by_marker.get(marker, [])) > 1:
                problems.append(
                    f"{marker}: a create with no answer is in the database {len(by_marker[marker])} times"
                )
        unknown_created = sum(1 for m in unknown if by_marker.get(m))
        orphans = [n for m, ns in by_marker.items() if m not in seen_markers and m not in unknown for n in ns]
        if orphans:
            problems.append(f"{len(orphans)} case(s) in the database no client created: {orphans[:10]}")
        duplicates_in_client = len(created) - len({r["marker"] for r in created})
        if duplicates_in_client:
            problems.append(f"{duplicates_in_client} marker(s) reported twice by the clients")
        replays = results["replays"]
        bad_replays = []
        for replay in replays:
            numbers = replay["numbers"]
            flags = replay["replayed"]
            # A retry after the answer is a replay; of two sent at once, exactly one created the case.
            expected_replays = [False, True] if replay["concurrent"] else [True]
            if len(set(numbers)) != 1 or None in numbers or sorted(flags) != expected_replays:
                bad_replays.append(replay)
        if bad_replays:
            problems.append(
                f"{len(bad_replays)} Idempotency-Key retries did not return the first case: "
                + "; ".join(f"{r['marker']} {r['numbers']} replayed={r['replayed']}" for r in bad_replays[:5])
            )
        figures["cases_created_web"] = sum(1 for r in created if r["via"] == "web")
        figures["cases_created_api"] = sum(1 for r in created if r["via"] == "api")
        figures["cases_in_database"] = len(all_numbers)
        figures["idempotent_retries"] = len(replays)
        figures["creates_without_answer"] = len(unknown)
        self.checks.append(
            Check(
                "every case created is in the database exactly once",
                not problems and len(all_numbers) == len(created) + unknown_created,
                f"{len(created)} created by the clients ({figures['cases_created_web']} web, "
                f"{figures['cases_created_api']} API), {len(all_numbers)} in the database, "
                f"{len(replays)} Idempotency-Key retries answered with the same case"
                + "".join(f"\n    {p}" for p in problems[:15]),
            )
        )

        # Every resolution produced exactly one delivered e-mail.
        notifications = list(Notification.objects.select_related("case__customer").order_by("pk"))
        resolution = [n for n in notifications if n.kind == NotificationKind.RESOLUTION]
        other = [n for n in notifications if n.kind != NotificationKind.RESOLUTION]
        rounds = sum(Case.objects.values_list("resolution_round", flat=True))
        resolve_events = CaseEvent.objects.filter(kind=EventKind.STATUS, data__transition="resolve").count()
        delivered = self.sink.snapshot()
        by_id = collections.Counter(m.message_id for m in delivered)
        problems = []
        if len(resolution) != rounds or resolve_events != rounds:
            problems.append(
                f"{rounds} resolution rounds on cases, {resolve_events} resolve events, "
                f"{len(resolution)} resolution notifications"
            )
        not_sent = [n for n in resolution if n.status != NotificationStatus.SENT]
        if not_sent:
            problems.append(
                f"{len(not_sent)} not sent: "
                + "; ".join(
                    f"{n.case.number} {n.status} attempts={n.attempts} {n.last_error[:120]}"
                    for n in not_sent[:5]
                )
            )
        wrong_count = [(n, by_id.get(n.message_id, 0)) for n in resolution if by_id.get(n.message_id, 0) != 1]
        if wrong_count:
            problems.append(
                f"{len(wrong_count)} notification(s) not delivered exactly once: "
                + "; ".join(
                    f"{n.case.number} {n.message_id or '(no Message-ID)'} ×{count}"
                    for n, count in wrong_count[:5]
                )
            )
        known_ids = {n.message_id for n in notifications}
        strays = [m for m in delivered if m.message_id not in known_ids]
        if strays:
            problems.append(f"{len(strays)} message(s) in the sink no notification accounts for")
        messages_by_id = {m.message_id: m for m in delivered}
        misaddressed = [
            n
            for n in resolution
            if n.message_id in messages_by_id
            and (
                messages_by_id[n.message_id].to != n.case.customer.billing_contact_email
                or messages_by_id[n.message_id].language != n.case.customer.preferred_language
            )
        ]
        if misaddressed:
            problems.append(f"{len(misaddressed)} e-mail(s) not to the customer's contact in their language")
        if other:
            problems.append(
                f"{len(other)} other notification(s): " + ", ".join(f"{n.kind} {n.status}" for n in other[:5])
            )
        client_resolved = [r["number"] for r in results["resolved"]]
        resolved_numbers = set(Case.objects.filter(resolution_round__gt=0).values_list("number", flat=True))
        if len(client_resolved) != len(set(client_resolved)):
            problems.append("a case was confirmed resolved to two clients")
        missing = set(client_resolved) - resolved_numbers
        if missing:
            problems.append(f"confirmed to a client but not resolved in the database: {sorted(missing)[:10]}")
        lost_resolves = sum(1 for e in lost if e["name"].endswith("/resolve/"))
        if not len(client_resolved) <= len(resolved_numbers) <= len(client_resolved) + lost_resolves:
            problems.append(
                f"{len(client_resolved)} resolutions confirmed to clients, "
                f"{len(resolved_numbers)} resolved cases"
            )
        figures["resolutions"] = len(resolution)
        figures["resolutions_web"] = sum(1 for r in results["resolved"] if r["via"] == "web")
        figures["resolutions_api"] = sum(1 for r in results["resolved"] if r["via"] == "api")
        figures["emails_delivered"] = len(delivered)
        figures["emails_unique_message_ids"] = len(by_id)
        figures["emails_duplicated"] = sum(count - 1 for count in by_id.values() if count > 1)
        figures["notifications_sent"] = sum(1 for n in resolution if n.status == NotificationStatus.SENT)
        figures["conflicts"] = sum(results["conflicts"].values())
        self.checks.append(
            Check(
                "every resolution notified exactly once",
                not problems,
                f"{len(resolution)} resolutions ({figures['resolutions_web']} web, "
                f"{figures['resolutions_api']} API), {figures['notifications_sent']} notifications sent, "
                f"{len(delivered)} e-mails delivered with {len(by_id)} distinct Message-IDs, "
                f"outbox drained in {figures['drain_s']} s" + "".join(f"\n    {p}" for p in problems),
            )
        )
        figures["statuses"] = dict(collections.Counter(Case.objects.values_list("status", flat=True)))
        self.verify_evidence(lost)
        if self.haproxy:
            self.verify_balancing()

    def verify_balancing(self) -> None:
        """HAProxy sent requests to every gunicorn (round robin, no stickiness): a session made on one was
        honoured by the others, or the locustfile would have been sent to the sign-in page."""
        answered = collections.Counter(
            re.findall(r" web/(web\d+) ", (self.workdir / "haproxy.log").read_text(errors="replace"))
        )
        names = [f"web{n}" for n in range(1, len(self.backend_ports) + 1)]
        self.figures["answered_by"] = {name: answered.get(name, 0) for name in names}
        self.checks.append(
            Check(
                "every gunicorn behind HAProxy answered requests",
                all(answered.get(name, 0) > 0 for name in names),
                ", ".join(f"{name} {answered.get(name, 0)}" for name in names),
            )
        )

    def verify_evidence(self, lost: list[dict[str, Any]]) -> None:
        """Every evidence file the clients were told was stored is there once, and every gunicorn still up
        serves each one whole (through the API, as a user of the case's partner)."""
        from cases.models import Attachment

        fixture = json.loads(self.fixture_path.read_text(encoding="utf-8"))
        tokens = {
            account["partner"]: account["token"]
            for accounts in fixture["accounts"].values()
            for account in accounts
            if account.get("token")
        }
        attachments = list(Attachment.objects.select_related("case__partner").order_by("pk"))
        attached = self.results.get("attached", [])
        lost_uploads = sum(1 for e in lost if e["name"].endswith(("/attach/", "/attachments/")))
        problems = []
        if not len(attached) <= len(attachments) <= len(attached) + lost_uploads:
            problems.append(
                f"{len(attached)} uploads confirmed to clients, {len(attachments)} attachments stored"
            )
        ports = [
            port
            for port, process in zip(self.backend_ports, self.web_processes(), strict=True)
            if process.name != self.killed
        ]
        reads = 0
        for attachment in attachments:
            token = tokens[attachment.case.partner.case_prefix]
            url = f"/api/v1/cases/{attachment.case.number}/attachments/{attachment.pk}/"
            for port in ports:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{url}", headers={"Authorization": f"Bearer {token}"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                        body = response.read()
                    ok = len(body) == attachment.size and body.startswith(b"%PDF-")
                except OSError as error:
                    ok, body = False, str(error).encode()
                reads += 1
                if not ok:
                    problems.append(f"{url} from 127.0.0.1:{port}: {body[:120]!r}")
        self.figures["evidence_files"] = len(attachments)
        self.figures["evidence_reads"] = reads
        storage = f"bucket {self.bucket}" if self.seaweedfs else "MEDIA_ROOT"
        self.checks.append(
            Check(
                "every evidence file stored once and readable from every web process",
                not problems and (bool(attachments) or self.args.duration < 10),
                f"{len(attachments)} files in the {storage}, read {reads} times from {len(ports)} process(es)"
                + "".join(f"\n    {p}" for p in problems[:10]),
            )
        )

    def report(self) -> bool:
        f = self.figures
        print(self.locust_output.rstrip(), flush=True)
        lines = [
            "",
            "=== Load test figures ===",
            f"users:                 {self.args.users}",
            f"duration_s:            {self.args.duration}",
            f"partners:              {f['partners']}",
            f"accounts:              {f['accounts']}",
            f"requests:              {f['requests']}",
            f"failures:              {f['failures']}",
            f"requests_per_s:        {f['rps']}",
            f"median_ms:             {f['median_ms']}",
            f"p95_ms:                {f['p95_ms']}",
            f"p99_ms:                {f['p99_ms']}",
            f"max_ms:                {f['max_ms']}",
            f"responses_5xx:         {f['responses_5xx_client']}",
            f"server_5xx:            {f['responses_5xx_server']}",
            f"server_responses:      {f['server_requests']} {f['status_classes']}",
            f"expected_conflicts:    {f['conflicts']}",
            f"cases_created:         {f['cases_created_web'] + f['cases_created_api']} "
            f"(web {f['cases_created_web']}, api {f['cases_created_api']})",
            f"cases_in_database:     {f['cases_in_database']} {f['statuses']}",
            f"idempotent_retries:    {f['idempotent_retries']}",
            f"resolutions:           {f['resolutions']} "
            f"(web {f['resolutions_web']}, api {f['resolutions_api']})",
            f"notifications_sent:    {f['notifications_sent']}",
            f"emails_delivered:      {f['emails_delivered']}",
            f"emails_duplicated:     {f['emails_duplicated']}",
            f"outbox_drained_s:      {f['drain_s']}",
            f"web_processes:         {self.args.web}"
            + (f" behind HAProxy, {self.killed} killed mid-run" if self.haproxy else "")
            + (" (through PgBouncer)" if self.pgbouncer else ""),
            f"answered_by:           {f.get('answered_by', {})}",
            f"lost_in_the_kill:      {f.get('lost_with_the_killed_process', 0)}",
            f"evidence_files:        {f.get('evidence_files', 0)} (read {f.get('evidence_reads', 0)} times)",
            f"cpu_cores_busy:        {f['cpu_cores']} (of {os.cpu_count()})",
            "",
        ]
        for check in self.checks:
            lines.append(f"[{'PASS' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        passed = all(check.ok for check in self.checks)
        lines += ["", f"result: {'PASS' if passed else 'FAIL'}", f"logs:   {self.workdir}"]
        print("\n".join(lines), flush=True)
        summary = {"figures": f, "checks": [c.__dict__ for c in self.checks], "passed": passed}
        (self.workdir / "summary.json").write_text(
            json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        if not passed:
            self.print_tracebacks()
        return passed

    def print_tracebacks(self) -> None:
        """What the servers said went wrong: each distinct traceback in their logs, once."""
        for process in self.processes:
            if not (process.name.startswith("gunicorn") or process.name == "worker"):
                continue
            blocks = tracebacks(process.text())
            if not blocks:
                continue
            print(f"\n--- {process.name} tracebacks ({process.log_path}) ---", flush=True)
            counts = collections.Counter(blocks)
            for block, count in counts.most_common(5):
                print(f"({count}×)\n{block}\n", flush=True)

    # --- tear-down -------------------------------------------------------------------------------------

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as error:  # keep stopping the others
                log(f"could not stop {process.name}: {error}")
        for server in reversed(self.external):
            try:
                server.stop()
            except Exception as error:  # keep stopping the others
                log(f"could not stop {type(server).__name__}: {error}")
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception as error:  # the sink's thread may already be gone
                log(f"could not stop the SMTP sink: {error}")
            self.controller = None
        if "django.db" in sys.modules:
            from django.db import connections

            with contextlib.suppress(Exception):  # a connection to a server already gone
                connections.close_all()
        # The collected static files (25 MB) are made again by every run; the logs stay.
        shutil.rmtree(self.workdir / "static", ignore_errors=True)
        if self.args.drop_database and self.database_created:
            import psycopg
            from psycopg import sql

            url = urlsplit(self.database_url)
            with psycopg.connect(**self.maintenance_params(), autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(url.path.lstrip("/"))
                    )
                )

    def execute(self) -> bool:
        started = time.monotonic()
        self.check_targets()
        log(f"work directory {self.workdir}")
        self.start_redis()
        self.recreate_database()
        if self.args.pgbouncer:
            self.start_pgbouncer()
        if self.args.s3:
            self.start_seaweedfs()
        self.setup_django()
        self.build_data()
        self.start_sink()
        self.start_worker()
        self.start_web()
        log(
            f"the portal on {self.base_url}, Celery worker and SMTP sink on 127.0.0.1:{self.smtp_port} are up"
        )
        self.run_locust()
        self.drain()
        self.verify()
        passed = self.report()
        log(f"finished in {time.monotonic() - started:.0f} s")
        return passed


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants have used; 0 once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def tracebacks(text: str) -> list[str]:
    """Each 'Traceback ...' block of a log, up to the exception line (with the log line just before it)."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last):"):
            continue
        block = [lines[i - 1]] if i else []
        for following in lines[i:]:
            block.append(following)
            if following and not following.startswith((" ", "Traceback", "\t")) and len(block) > 2:
                break
        blocks.append("\n".join(block[-60:]))
    return blocks


def create_people(users: int) -> dict[str, Any]:
    """Partners, customers, users of each role (a person per simulated user) with their authenticator apps'
    keys, API tokens: the fixture."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.models import Customer, Membership, Partner, Subscription
    from guidance.models import Article
    from loadtest.scenario import LANGUAGES, PARTNERS, USER_CLASSES, accounts_needed, guidance_cloud
    from portal.models import ApiToken, User

    password = secrets.token_urlsafe(16)
    hashed = make_password(password)  # one hash for everyone: hashing 60 passwords would take 20 s
    fixture: dict[str, Any] = {"partners": {}, "accounts": {}, "guidance": {}}
    partners: dict[str, Partner] = {}
    with transaction.atomic():
        for spec in PARTNERS:
            prefix = spec["case_prefix"]
            slug = prefix.lower()
            domain = "partner.onmschina.cn" if spec["cloud"] == "21vianet" else "onmicrosoft.com"
            partner = Partner.objects.create(
                name=spec["name"],
                mpn_id=spec["mpn_id"],
                case_prefix=prefix,
                cloud=spec["cloud"],
                support_plan=spec["support_plan"],
                support_contact_name=f"{spec['name']} support",
                support_contact_email=f"support@{slug}.example",
                support_contact_phone="+1 425 555 0100",
                collections_policy="Invoices are due 30 days after issue.",
            )
            partners[prefix] = partner
            customers = []
            for company, tenant, language in spec["customers"]:
                customer = Customer.objects.create(
                    partner=partner,
                    company_name=company,
                    tenant_domain=f"{tenant}.{domain}",
                    billing_contact_name=f"{company} billing",
                    billing_contact_email=f"billing@{tenant}.{slug}.example",
                    preferred_language=language,
                )
                Subscription.objects.create(
                    customer=customer, offer="Microsoft 365 Business Premium", quantity=25
                )
                customers.append({"id": customer.pk, "language": language})
            fixture["partners"][prefix] = {
                "name": spec["name"],
                "cloud": spec["cloud"],
                "guidance_cloud": guidance_cloud(spec["cloud"]),
                "support_plan": spec["support_plan"],
                "currency": spec["currency"],
                "customers": customers,
            }
        for class_name, count in accounts_needed(users).items():
            role, mode, _weight = USER_CLASSES[class_name]
            accounts = fixture["accounts"][class_name] = []
            for i in range(count):
                spec = PARTNERS[i % len(PARTNERS)]
                prefix = spec["case_prefix"]
                language = LANGUAGES[i % len(LANGUAGES)]
                user = User.objects.create(
                    email=f"{role.replace('_', '.')}.{mode}{i + 1}@{prefix.lower()}.example",
                    full_name=f"{role.replace('_', ' ').title()} {mode.upper()} {i + 1}",
                    language=language,
                    password=hashed,
                )
                Membership.objects.create(user=user, partner=partners[prefix], roles=[role])
                # The production settings require a second factor of every partner user: each person has an
                # authenticator app set up (a random key of its own), and the locustfile computes its codes
                # from the key as the phone would.
                app = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
                token = ApiToken.issue(user=user, name="load test")[1] if mode == "api" else None
                accounts.append(
                    {
                        "email": user.email,
                        "password": password,
                        "totp": {"key": app.key, "step": app.step, "t0": app.t0, "digits": app.digits},
                        "token": token,
                        "partner": prefix,
                        "language": language,
                    }
                )
    for cloud, slug in Article.objects.values_list("cloud", "slug"):
        fixture["guidance"].setdefault(cloud, []).append(slug)
    for spec in fixture["partners"].values():
        if not fixture["guidance"].get(spec["guidance_cloud"]):
            raise RunError(f"no guidance imported for the {spec['guidance_cloud']} cloud")
    return fixture


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.run",
        description="A bounded load test: partner users against gunicorn, Celery, PostgreSQL and Redis.",
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent simulated users (default 50)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second (users/10)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"dropped and recreated (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"a database of its own, emptied (default {DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--private-redis", action="store_true", help="start a redis-server of its own instead of --redis-url"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="logs and results (default var/loadtest/<time>)"
    )
    parser.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait for the outbox (60)")
    parser.add_argument("--quiet", type=float, default=3, help="seconds to watch for late duplicates (3)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes (3)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker (4)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (2)")
    parser.add_argument("--drop-database", action="store_true", help="drop the database at the end")
    parser.add_argument(
        "--web",
        type=int,
        default=1,
        help="gunicorn processes, each on its own port; more than 1: behind HAProxy",
    )
    parser.add_argument(
        "--kill-web",
        action="store_true",
        help="SIGKILL one gunicorn halfway through the load (needs --web 2+)",
    )
    parser.add_argument("--pgbouncer", action="store_true", help="gunicorn and the worker through PgBouncer")
    parser.add_argument("--s3", action="store_true", help="evidence in a SeaweedFS bucket (MEDIA_STORAGE=s3)")
    args = parser.parse_args(argv)
    if args.web < 1 or (args.kill_web and args.web < 2):
        parser.error("--web must be at least 1, and at least 2 with --kill-web")
    if args.users < 1 or args.duration < 1:
        parser.error("--users and --duration must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = LoadRun(args)

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        passed = run.execute()
    except RunError as error:
        log(f"ERROR: {error}")
        run.print_tracebacks()
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        run.stop_all()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
