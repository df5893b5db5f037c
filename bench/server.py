"""Start and stop the processes under test: gunicorn, the Celery worker, and (separately) the SMTP sink."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.env import ROOT, WORK

# The server as the Dockerfile runs it: three sync workers (two cores, and one more to take the next request
# while another waits on PostgreSQL). BENCH_GUNICORN_THREADS above 1 measures gthread instead: there, one
# worker accepts every kept-alive connection it can, and a run could leave a core idle (docs/benchmarks.md).
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "3"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "1"))


def layout() -> str:
    """The server layout measured, in words."""
    if GUNICORN_THREADS > 1:
        return f"{GUNICORN_WORKERS} gthread workers × {GUNICORN_THREADS} threads"
    return f"{GUNICORN_WORKERS} sync workers"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log_path = WORK / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 - our own arguments
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the process (gunicorn and Celery then stop their children), then to the group."""
        if self.alive():
            try:
                self.popen.terminate()
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # anything of its own still left
        self._log.close()


def start_gunicorn(port: int, env: dict[str, str]) -> Process:
    process = Process(
        "gunicorn",
        [
            _bin("gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            *(
                ["--worker-class", "gthread", "--threads", str(GUNICORN_THREADS), "--keep-alive", "10"]
                if GUNICORN_THREADS > 1
                else ["--worker-class", "sync"]
            ),
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ],
        env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"gunicorn exited at start:\n{process.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"gunicorn did not answer /ping within 60 s:\n{process.tail()}")


def start_worker(env: dict[str, str], concurrency: int) -> Process:
    return Process(
        "celery-worker",
        [
            _bin("celery"),
            "-A",
            "portal",
            "worker",
            f"--loglevel={os.environ.get('BENCH_WORKER_LOGLEVEL', 'WARNING')}",
            f"--concurrency={concurrency}",
            f"--pool={os.environ.get('BENCH_WORKER_POOL', 'prefork')}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
    )
