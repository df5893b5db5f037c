"""`manage.py migrate_media_to_storage`: the files of a portal that kept them on disk, copied into the bucket
under the same names; rerun, it copies only what is not there yet."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from cases import services
from cases.models import Attachment
from tests.seaweedfs import SeaweedFS, free_ports

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def on_disk(settings, tmp_path, helpdesk_agent, case) -> list[Attachment]:
    """Three evidence files stored the old way, under MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return [
        services.case_attach(
            case=case,
            actor=helpdesk_agent,
            upload=SimpleUploadedFile(f"invoice-{n}.pdf", PDF + bytes(n), content_type="application/pdf"),
        )
        for n in range(3)
    ]


def migrate(**options) -> str:
    out = StringIO()
    call_command("migrate_media_to_storage", stdout=out, **options)
    return out.getvalue()


def to_bucket(settings, seaweedfs: SeaweedFS) -> str:
    bucket = seaweedfs.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(bucket)}
    return bucket


def test_files_are_copied_under_their_names_and_serve_from_the_bucket(
    settings, seaweedfs, on_disk, client, helpdesk_agent, case
) -> None:
    """Every attachment's file is in the bucket afterwards and downloads from there."""
    bucket = to_bucket(settings, seaweedfs)
    assert "3 copied, 0 already there, 0 missing in " in migrate()
    assert seaweedfs.keys(bucket) == sorted(a.file.name for a in on_disk)
    for path in (settings.MEDIA_ROOT / "attachments").rglob("*.pdf"):
        path.unlink()  # the disk is gone: what downloads now comes from the bucket
    client.force_login(helpdesk_agent.user)
    for n, attachment in enumerate(on_disk):
        response = client.get(reverse("cases:attachment", args=[case.number, attachment.pk]))
        assert b"".join(response.streaming_content) == PDF + bytes(n)


def test_a_second_run_copies_nothing_and_a_stopped_one_resumes(settings, seaweedfs, on_disk) -> None:
    """Rerun, it skips what is there; with one object lost, it copies just that one."""
    bucket = to_bucket(settings, seaweedfs)
    migrate()
    assert "0 copied, 3 already there" in migrate()
    seaweedfs.client().delete_object(Bucket=bucket, Key=on_disk[1].file.name)
    assert "1 copied, 2 already there" in migrate()
    assert seaweedfs.read(bucket, on_disk[1].file.name) == PDF + bytes(1)


def test_a_file_missing_on_disk_is_listed_and_the_rest_copied(settings, seaweedfs, on_disk) -> None:
    """A row whose file the disk lacks fails the run by name, after the others were copied."""
    (settings.MEDIA_ROOT / on_disk[0].file.name).unlink()
    bucket = to_bucket(settings, seaweedfs)
    with pytest.raises(CommandError, match=on_disk[0].file.name):
        migrate()
    assert seaweedfs.keys(bucket) == sorted(a.file.name for a in on_disk[1:])


def test_the_storage_away_stops_the_run_with_what_to_do(settings, seaweedfs, on_disk) -> None:
    """An unreachable bucket stops the copy with a message that says to run it again."""
    bucket = seaweedfs.new_bucket()
    closed = f"http://127.0.0.1:{free_ports(1)[0]}"
    settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(bucket, endpoint=closed)}
    with pytest.raises(CommandError, match="run the command again"):
        migrate()


def test_without_object_storage_configured_it_refuses(settings, on_disk) -> None:
    """Copying the file system onto itself is refused with what to set."""
    with pytest.raises(CommandError, match="MEDIA_STORAGE=s3"):
        migrate()
