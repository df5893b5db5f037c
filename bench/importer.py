"""Import 1,000 generated DocFX files (200 articles × 5 languages) with `manage.py import_guidance`.

The command runs in this process (call_command), with guidance.docfx.parse_file wrapped to add up the time
spent parsing, so the report can say how much of the import is parsing and how much the rest (reading the
existing rows, writing articles, translations, segments and history in one transaction).
"""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from bench.content import LANGUAGES, LOCALES, docfx_file, generate

ARTICLES = 200  # × 5 languages = 1,000 files


@dataclass
class ImportResult:
    files: int
    seconds: float
    parse_seconds: float
    articles: int
    translations: int

    @property
    def rate(self) -> float:
        return self.files / self.seconds

    @property
    def outside_parsing(self) -> float:
        return (self.seconds - self.parse_seconds) / self.seconds


def write_files(folder: Path, articles: int = ARTICLES) -> int:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for index in range(articles):
        article = generate(index, prefix="imported-guide", count=articles)
        for language in LANGUAGES:
            (folder / f"{article.slug}.{LOCALES[language]}.md").write_text(docfx_file(article, language))
            count += 1
    return count


def run(folder: Path) -> ImportResult:
    from django.core.management import call_command

    from guidance.management.commands import import_guidance as command
    from guidance.models import Article, Translation

    files = write_files(folder)
    before = (Article.objects.count(), Translation.objects.count())
    parse_seconds = 0.0
    parse_file = command.parse_file

    def timed_parse(*args, **kwargs):
        nonlocal parse_seconds
        started = time.perf_counter()
        try:
            return parse_file(*args, **kwargs)
        finally:
            parse_seconds += time.perf_counter() - started

    output = io.StringIO()
    with mock.patch.object(command, "parse_file", timed_parse):
        started = time.perf_counter()
        call_command("import_guidance", str(folder), verbosity=0, stdout=output, stderr=output)
        seconds = time.perf_counter() - started
    return ImportResult(
        files=files,
        seconds=seconds,
        parse_seconds=parse_seconds,
        articles=Article.objects.count() - before[0],
        translations=Translation.objects.count() - before[1],
    )
