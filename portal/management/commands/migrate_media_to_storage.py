"""Copy the files the portal keeps on the file system (MEDIA_ROOT) into the storage it is configured with now
(MEDIA_STORAGE=s3): every file a FileField of any model names, under the same name, so no row changes.

Idempotent and resumable: a file the storage already holds at its size is skipped, so a run that stopped
(the storage went away, ^C) is simply run again. Files the rows name but the disk lacks are listed at the end
and make the exit status 1; the rest are copied anyway.
"""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from portal.storage import StorageUnavailable, reaching_storage


def stored_names() -> list[str]:
    """Every file name a FileField row points at, each once, in a stable order (so a rerun resumes)."""
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                rows = model._default_manager.exclude(**{field.attname: ""})
                names.update(rows.values_list(field.attname, flat=True))
    return sorted(name for name in names if name)


class Command(BaseCommand):
    help = "Copy the files under MEDIA_ROOT into the configured storage (MEDIA_STORAGE=s3); safe to rerun."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source",
            type=Path,
            default=None,
            help="The folder to copy from (default: MEDIA_ROOT).",
        )

    def handle(self, *args, source: Path | None, verbosity: int, **options) -> None:
        source_storage = FileSystemStorage(location=source or settings.MEDIA_ROOT)
        target: Storage = storages["default"]
        if isinstance(target, FileSystemStorage):
            raise CommandError(
                "The file storage is the file system: set MEDIA_STORAGE=s3 and the AWS_* variables "
                "(docs/operations.md), then run this again."
            )
        copy_files(self, source_storage, target, verbosity=verbosity)


def copy_files(command: BaseCommand, source: Storage, target: Storage, *, verbosity: int) -> None:
    """Copy every file a row names from source to target under its name, with a progress bar; what is in
    the target at its size already is skipped, so a stopped run is run again to go on."""
    names = stored_names()
    stdout = command.stdout
    console = Console(file=stdout, highlight=False, width=None if stdout.isatty() else 160)
    copied = present = 0
    missing: list[str] = []
    with Progress(
        TextColumn("Copying files"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=verbosity == 0,
        transient=not stdout.isatty(),
    ) as progress:
        task = progress.add_task("copy", total=len(names))
        for done, name in enumerate(names):
            try:
                outcome = _copy(name, source, target)
            except StorageUnavailable as error:
                raise CommandError(
                    f"The file storage went away after {done} of {len(names)} files ({error}). "
                    "Nothing copied is lost: run the command again to go on."
                ) from None
            if outcome == "copied":
                copied += 1
            elif outcome == "present":
                present += 1
            else:
                missing.append(name)
            progress.advance(task)
    if verbosity:
        stdout.write(
            f"{copied} copied, {present} already there, {len(missing)} missing in {_where(source)} "
            f"(of {len(names)} files)."
        )
    if missing:
        listed = "\n".join(f"  {name}" for name in missing[:50])
        more = f"\n  … and {len(missing) - 50} more" if len(missing) > 50 else ""
        raise CommandError(
            f"{len(missing)} files the database names are not in {_where(source)}:\n{listed}{more}"
        )


def _where(storage: Storage) -> str:
    return str(getattr(storage, "location", "") or getattr(storage, "bucket_name", "") or storage)


def _copy(name: str, source: Storage, target: Storage) -> str:
    """'copied', 'present' (the target holds it at the same size) or 'missing' (not in the source)."""
    with reaching_storage("look for a file"):
        if not source.exists(name):
            return "present" if target.exists(name) else "missing"
        size = source.size(name)
        if target.exists(name):
            if target.size(name) == size:
                return "present"
            target.delete(name)  # a half-written copy of an interrupted run
    with reaching_storage("copy a file"), source.open(name, "rb") as content:
        saved = target.save(name, content)
    if saved != name:  # a storage that renames would leave the row pointing at nothing
        raise CommandError(f"The storage kept {name} as {saved}; set file_overwrite for it.")
    return "copied"
