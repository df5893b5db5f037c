"""Copy every file the portal keeps, from the storage it is configured with (the bucket or MEDIA_ROOT), into a
folder under the same names: the file half of a backup (docs/operations.md, "Backups and a restore drill").

Restoring is `migrate_media_to_storage --source FOLDER` into the new storage. Like that command it is
idempotent and resumable: a file already in the folder at its size is skipped.
"""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import FileSystemStorage, storages
from django.core.management.base import BaseCommand

from portal.management.commands.migrate_media_to_storage import copy_files


class Command(BaseCommand):
    help = "Copy every stored file (evidence, e-mail attachments) into FOLDER under its name; safe to rerun."

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", type=Path, help="Where the copies go (created if missing).")

    def handle(self, *args, folder: Path, verbosity: int, **options) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        copy_files(self, storages["default"], FileSystemStorage(location=folder), verbosity=verbosity)
