"""The restore drill of docs/operations.md, for real: dump the database (pg_dump) and the bucket
(`manage.py export_media`), restore both into fresh ones (pg_restore, `migrate_media_to_storage --source`),
and a portal started on the restored pair serves the same cases and the same evidence, byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from psycopg import sql

from cases import services
from portal.models import ApiToken
from tests.cast import open_dispute
from tests.conftest import free_port
from tests.integration.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def url_of(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"The restore drill needs {name}: apt-get install postgresql-client", pytrace=False)
    return found


@pytest.fixture
def restored_database() -> str:
    name = f"{connection.settings_dict['NAME']}_restored"
    maintenance = {**_params(), "dbname": "postgres"}
    with psycopg.connect(**maintenance, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(**maintenance, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _params() -> dict:
    db = connection.settings_dict
    return {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"]}


def portal_env(database: str, seaweedfs, bucket: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DEBUG="0",
        SECRET_KEY="r" * 64,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=url_of(database),
        DATABASE_CONN_MAX_AGE="0",
        CELERY_TASK_ALWAYS_EAGER="1",
        EMAIL_URL="dummymail://",
        STATIC_ROOT=str(tmp_path / "static"),
        VAR_DIR=str(tmp_path / "var"),
        MFA_REQUIRED="0",
        **seaweedfs.environment(bucket),
    )
    return env


def get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, response.read()


def test_a_dump_of_the_database_and_the_bucket_restores_into_fresh_ones(
    settings, seaweedfs, restored_database, tmp_path, helpdesk_agent, customer
) -> None:
    """Cases and evidence come back from the restored database and bucket alone; the old bucket is gone."""
    old_bucket = seaweedfs.new_bucket("before")
    settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(old_bucket)}
    case = open_dispute(helpdesk_agent, customer)
    evidence = {}
    for name, data, kind in (("invoice.pdf", PDF, "application/pdf"), ("seats.png", PNG, "image/png")):
        attachment = services.case_attach(
            case=case, actor=helpdesk_agent, upload=SimpleUploadedFile(name, data, content_type=kind)
        )
        evidence[attachment.pk] = data
    _token, token = ApiToken.issue(user=helpdesk_agent.user, name="drill")

    # Back up: the database, then the files (a file uploaded in between is not named by the dump).
    dump = tmp_path / "portal.dump"
    subprocess.run(
        [tool("pg_dump"), "--format=custom", f"--file={dump}", url_of(connection.settings_dict["NAME"])],
        check=True,
        timeout=120,
    )
    call_command("export_media", str(tmp_path / "files"), verbosity=0)
    client = seaweedfs.client()
    for key in seaweedfs.keys(old_bucket):  # the storage is lost
        client.delete_object(Bucket=old_bucket, Key=key)
    client.delete_bucket(Bucket=old_bucket)

    # Restore both into fresh ones.
    subprocess.run(
        [tool("pg_restore"), "--no-owner", f"--dbname={url_of(restored_database)}", str(dump)],
        check=True,
        timeout=120,
    )
    new_bucket = seaweedfs.new_bucket("restored")
    env = portal_env(restored_database, seaweedfs, new_bucket, tmp_path)
    copy = subprocess.run(
        [sys.executable, "manage.py", "migrate_media_to_storage", "--source", str(tmp_path / "files")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert copy.returncode == 0, copy.stdout + copy.stderr
    assert "2 copied, 0 already there, 0 missing" in copy.stdout

    # A portal on the restored pair serves the same case and the same evidence.
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "gunicorn on the restored pair")
        status, body = get(f"{api}/cases/{case.number}/", token)
        assert status == 200 and case.title.encode() in body
        for pk, data in evidence.items():
            assert get(f"{api}/cases/{case.number}/attachments/{pk}/", token) == (200, data)
    finally:
        web.terminate()
        web.wait(timeout=20)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
