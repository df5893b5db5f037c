"""python manage.py import_guidance PATH [PATH ...] — import localized DocFX articles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from guidance.docfx import DocfxError, ParsedArticle, parse_file
from guidance.models import Cloud
from guidance.services import Action, ImportReport, guidance_import

MARKDOWN_SUFFIXES = (".md", ".markdown")
PROGRESS_THRESHOLD = 20


def collect_files(paths: list[str]) -> list[Path]:
    """Files named directly, plus every markdown file below the directories named, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MARKDOWN_SUFFIXES
            )
            if not found:
                raise CommandError(f"{raw}: no markdown files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw}: no such file or directory")
    return files


class Command(BaseCommand):
    help = "Import localized DocFX markdown articles (files or directories) into the guidance library."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="DocFX markdown files or directories")
        parser.add_argument("--locale", help="locale for files that name none (e.g. ja-jp)")
        parser.add_argument("--slug", help="slug for the article, instead of the file name")
        parser.add_argument(
            "--cloud",
            choices=Cloud.values,
            default=Cloud.GLOBAL,
            help="cloud for articles that do not say (default: global)",
        )
        parser.add_argument("--force", action="store_true", help="overwrite translations edited in admin")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        files = collect_files(options["paths"])
        console = Console(file=self.stdout, highlight=False, width=None if self.stdout.isatty() else 160)
        documents = self._parse(files, options, console)
        try:
            report = guidance_import(
                documents=documents,
                default_cloud=options["cloud"],
                force=options["force"],
                dry_run=options["dry_run"],
            )
        except DocfxError as exc:
            raise CommandError(f"{exc}\nNothing was imported.") from exc
        self._summarise(report, console, verbosity=options["verbosity"])

    def _parse(self, files: list[Path], options: dict[str, Any], console: Console) -> list[ParsedArticle]:
        documents = []
        show = len(files) >= PROGRESS_THRESHOLD and options["verbosity"] > 0
        max_bytes = settings.GUIDANCE_MAX_FILE_KB * 1024
        with Progress(
            TextColumn("Parsing"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=not show,
            transient=True,
        ) as progress:
            task = progress.add_task("parse", total=len(files))
            for path in files:
                try:
                    documents.append(
                        parse_file(path, locale=options["locale"], slug=options["slug"], max_bytes=max_bytes)
                    )
                except DocfxError as exc:
                    raise CommandError(f"{exc}\nNothing was imported.") from exc
                progress.advance(task)
        return documents

    def _summarise_sentences(self, report: ImportReport, console: Console) -> None:
        """Per language, how the translations' sentences stand against the English."""
        translated = [r for r in report.results if r.translation_type != "source"]
        if not translated:
            return
        table = Table(title="Sentences per language")
        for column in ("language", "current", "outdated", "missing", "filled from memory", "whole article"):
            table.add_column(column, justify="right" if column != "language" else "left")
        for language in sorted({r.language for r in translated}):
            rows = [r for r in translated if r.language == language]
            split = [r for r in rows if r.by_sentence]
            table.add_row(
                language,
                *(
                    str(sum(getattr(r, name) for r in split))
                    for name in ("current", "outdated_segments", "missing")
                ),
                str(sum(r.filled for r in split)),
                str(len(rows) - len(split)),
            )
        console.print(table)

    def _summarise(self, report: ImportReport, console: Console, *, verbosity: int) -> None:
        if verbosity == 0:
            return
        if verbosity > 1 or len(report.results) <= 50:
            table = Table(title="Guidance import" + (" (dry run: nothing written)" if report.dry_run else ""))
            for column in ("article", "cloud", "language", "result", "translation", "outdated", "file"):
                table.add_column(column)
            for r in report.results:
                table.add_row(
                    r.slug,
                    r.cloud,
                    r.language,
                    r.action,
                    r.translation_type,
                    "yes" if r.outdated else "",
                    os.path.relpath(r.path),
                )
            console.print(table)

        languages = sorted({r.language for r in report.results})
        totals = Table(title="Per language")
        for column in ("language", Action.CREATED, Action.UPDATED, Action.UNCHANGED, Action.KEPT, "outdated"):
            totals.add_column(column, justify="right" if column != "language" else "left")
        for language in languages:
            totals.add_row(
                language,
                *(str(report.count(a, language)) for a in (Action.CREATED, Action.UPDATED, Action.UNCHANGED)),
                str(report.count(Action.KEPT, language)),
                str(sum(1 for r in report.outdated if r.language == language)),
            )
        console.print(totals)
        self._summarise_sentences(report, console)
        verb = "would be" if report.dry_run else "were"
        console.print(
            f"Articles: {report.articles_created} {verb} created, {report.articles_updated} {verb} updated; "
            f"{len(report.outdated)} outdated translation(s)."
        )
        if not report.changed:
            console.print("Nothing changed.")
