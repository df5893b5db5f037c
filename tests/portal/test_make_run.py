"""`make run` serves the portal on 127.0.0.1 and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def wait_for(url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
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


def test_make_run_serves_the_portal_and_stops_on_sigterm(tmp_path: Path) -> None:
    """make run migrates an empty SQLite database, serves every page on 127.0.0.1 and exits on SIGTERM."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}
    }
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"))
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", timeout=240) == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ja/", timeout=5) as response:
            html = response.read().decode()
        assert '<html lang="ja"' in html
        assert (tmp_path / "var" / "db.sqlite3").exists()

        assert listening_addresses(port) == {"127.0.0.1"}

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
        time.sleep(0.5)
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the server kept running after make stopped"
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (tmp_path / "make-run.log").read_text()
    assert f"http://127.0.0.1:{port}/en/accounts/login/" in output
