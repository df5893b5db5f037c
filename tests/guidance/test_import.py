"""import_guidance: the seed articles, idempotent re-imports, admin edits, and all-or-nothing failures."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from guidance.docfx import MAX_SLUG_LENGTH, DocfxError, parse_file
from guidance.models import Article, Segment, Translation, TranslationType
from guidance.services import Action, guidance_import
from tests.guidance.conftest import CONTENT, FIXTURES

pytestmark = pytest.mark.django_db

GLOBAL_HASH = "11a17550ed5c0ab2154ec0daa03818236b26e820"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_guidance", *args, stdout=out)
    return out.getvalue()


def languages(article: Article) -> dict[str, Translation]:
    return {t.language: t for t in article.translations.all()}


def test_seed_import_creates_the_global_article_in_five_languages(seeded) -> None:
    """The global article exists in en, zh-hant, zh-hans, ja and ru."""
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    assert set(languages(article)) == {"en", "zh-hant", "zh-hans", "ja", "ru"}
    assert article.asset_id == "DE0942BB-A0D0-4CF9-A60E-0BD095692C26"


def test_english_is_recovered_from_the_newest_revision(seeded) -> None:
    """English comes from the spans of the zh-CN file, the newest revision (ms.date 06/05/2020)."""
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    english = languages(article)["en"]
    assert english.translation_type == TranslationType.SOURCE
    assert english.source_hash == GLOBAL_HASH
    assert article.source_hash == GLOBAL_HASH
    assert str(article.source_date) == "2020-06-05"
    assert (
        article.title_en
        == "Provide billing support for your customers and help answer their billing questions"
    )
    assert "**Commercial** issue support is available to all partners in the CSP program" in article.body_en
    assert "data-ttu-id" not in article.body_en


def test_older_translations_are_marked_outdated(seeded) -> None:
    """ja, zh-hant and ru were made from older English revisions; zh-hans is current, machine translated."""
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    by_language = languages(article)
    assert {code for code, t in by_language.items() if t.is_outdated} == {"ja", "zh-hant", "ru"}
    assert by_language["zh-hans"].translation_type == TranslationType.MACHINE
    assert not by_language["zh-hans"].is_outdated
    assert by_language["ja"].translation_type == TranslationType.HUMAN
    assert by_language["ru"].has_segments is False
    assert by_language["ja"].source_hash.startswith("d9f550f0")
    assert by_language["ru"].source_hash.startswith("a442cb3b")


def test_vianet_variant_is_imported_in_traditional_chinese_and_english(seeded) -> None:
    """The 21Vianet file gives its own article in zh-hant plus English recovered from its spans."""
    article = Article.objects.get(slug="provide-billing-support", cloud="21vianet")
    by_language = languages(article)
    assert set(by_language) == {"en", "zh-hant"}
    assert article.title_en == "Provide billing support"
    assert article.title_zh_hant == "提供帳單支援"
    assert "21Vianet" in article.body_en
    assert not by_language["zh-hant"].is_outdated


def test_segments_are_stored_with_both_languages(seeded) -> None:
    """Each translation with spans keeps a segment per English sentence and one per old sentence whose
    English is gone (16 of the 20 ja and zh-hant ones), with the English it was made from; the English keeps
    its sentences."""
    counts = {
        (t.article.cloud, t.language): t.segments.count()
        for t in Translation.objects.select_related("article")
    }
    assert counts == {
        ("global", "en"): 33,
        ("global", "zh-hant"): 49,
        ("global", "ja"): 49,
        ("global", "ru"): 0,
        ("global", "zh-hans"): 33,
        ("21vianet", "en"): 14,
        ("21vianet", "zh-hant"): 14,
    }
    segment = Segment.objects.get(segment_id="9f56c-108")
    assert segment.target == "您與您的客戶之間擁有帳單關係，且為您客戶的任何帳單相關問題提供完全的支援。"
    assert segment.source.startswith("You own the billing relationship with your customers")


def test_second_import_changes_nothing(seeded) -> None:
    """Importing the same files again updates nothing and writes no history."""
    history = Article.history.count()
    before = list(Translation.objects.values_list("pk", "imported_at", "imported_digest"))
    output = run(str(CONTENT))
    assert "Nothing changed." in output
    assert "0 were created, 0 were updated" in output
    assert Article.objects.count() == 2
    assert Article.history.count() == history
    assert list(Translation.objects.values_list("pk", "imported_at", "imported_digest")) == before


def test_summary_reports_languages_and_outdated_translations(db) -> None:
    """The summary table counts created translations per language and the outdated ones."""
    output = run(str(CONTENT))
    assert "Articles: 2 were created, 0 were updated; 3 outdated translation(s)." in output
    assert "│ zh-hant  │       2 │" in output


def test_dry_run_reports_but_writes_nothing(db) -> None:
    """--dry-run prints what would change and leaves the database empty."""
    output = run(str(CONTENT), "--dry-run")
    assert "dry run: nothing written" in output
    assert "2 would be created" in output
    assert Article.objects.count() == 0
    assert Translation.objects.count() == 0


def test_reimport_keeps_an_admin_edit_unless_forced(seeded) -> None:
    """A translation edited since the last import is kept; --force overwrites it."""
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    article.body_ja = article.body_ja + "\n\n管理者による修正。"
    article.save()

    output = run(str(CONTENT))
    assert "kept admin edit" in output
    article.refresh_from_db()
    assert article.body_ja.endswith("管理者による修正。")

    run(str(CONTENT), "--force")
    article.refresh_from_db()
    assert "管理者による修正。" not in article.body_ja
    assert not languages(article)["ja"].edited_since_import


def test_line_endings_and_surrounding_whitespace_are_no_admin_edit(seeded) -> None:
    """Text saved back with CRLF, lone CR, whitespace-only lines or without its final newline is the
    imported text, not an admin edit: the import writes the source text back (keeping the review); a changed
    word is an edit, and kept."""
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    imported = {code: getattr(article, f"body_{code}") for code in ("en", "zh_hant", "ru")}
    crlf = article.body_ru.replace("\n", "\r\n")
    article.body_ru = "\r\n" + crlf.replace("\r\n\r\n", "\r\n \t\r\n").strip()
    article.body_zh_hant = article.body_zh_hant.replace("\n", "\r") + "\r\n\r\n"
    article.description_ja = article.description_ja + "  \r\n"
    article.body_en = article.body_en.replace("Microsoft", "Contoso", 1)
    article.save()
    Translation.objects.filter(article=article, language="ru").update(reviewed=True)
    assert {t.language for t in article.translations.all() if t.edited_since_import} == {"en"}

    documents = [parse_file(path) for path in sorted((CONTENT / "global").iterdir())]
    report = guidance_import(documents=documents)
    assert {r.language: r.action for r in report.results} == {
        "en": Action.KEPT,
        "zh-hant": Action.UPDATED,
        "zh-hans": Action.UNCHANGED,
        "ja": Action.UPDATED,
        "ru": Action.UPDATED,
    }
    article.refresh_from_db()
    assert (article.body_zh_hant, article.body_ru) == (imported["zh_hant"], imported["ru"])
    assert "Contoso" in article.body_en
    assert Translation.objects.get(article=article, language="ru").reviewed is True
    assert not any(t.edited_since_import for t in article.translations.exclude(language="en"))


def test_digests_stored_before_normalisation_still_match(seeded) -> None:
    """For the text an import writes, the digest is the plain digest of that text, as it was computed
    before line endings were normalised: translations imported earlier do not all turn into admin edits."""
    for translation in Translation.objects.select_related("article"):
        suffix = translation.language.replace("-", "_")
        parts = [
            getattr(translation.article, f"{name}_{suffix}") for name in ("title", "description", "body")
        ]
        assert translation.imported_digest == hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        assert not translation.edited_since_import


def test_new_source_text_resets_the_review(seeded, tmp_path: Path) -> None:
    """A translation whose text changes on import needs a fresh review."""
    translation = Translation.objects.get(article__cloud="global", language="ja")
    translation.reviewed = True
    translation.save()
    changed = tmp_path / "provide-billing-support.ja-jp.md"
    text = (CONTENT / "global" / "provide-billing-support.ja-jp.md").read_text()
    changed.write_text(text.replace("Microsoft のリソース", "Microsoft の資料"))
    run(str(changed))
    translation.refresh_from_db()
    assert translation.reviewed is False
    assert "Microsoft の資料" in translation.article.body_ja


def test_locale_slug_and_cloud_options_apply_to_files_that_do_not_say(db, tmp_path: Path) -> None:
    """--locale, --slug and --cloud fill in what a file leaves out."""
    path = tmp_path / "notes.md"
    path.write_text("---\ntitle: Заметки\n---\n# Заметки\n\nТекст статьи.\n")
    run(str(path), "--locale", "ru-ru", "--slug", "partner-notes", "--cloud", "21vianet")
    article = Article.objects.get()
    assert (article.slug, article.cloud) == ("partner-notes", "21vianet")
    assert article.title_ru == "Заметки"
    assert set(languages(article)) == {"ru"}


def test_directories_are_walked_for_markdown_files(db) -> None:
    """A directory argument imports every markdown file below it."""
    run(str(CONTENT), str(FIXTURES))
    assert Article.objects.filter(slug="escalate-problems-to-microsoft", cloud="global").exists()


BAD_FILES = {
    "truncated-front-matter.ja-jp.md": (
        "---\ntitle: 途中\nms.contentlocale: ja-JP\n",
        "truncated-front-matter.ja-jp.md:",
    ),
    "lookup-missing.ja-jp.md": (
        '---\ntitle: T\n---\n# T\n\n<span data-ttu-id="abcde-101">訳文</span> and no lookup twin\n',
        "lookup-missing.ja-jp.md:6:",
    ),
    "unknown-locale.md": (
        "---\ntitle: T\nms.contentlocale: xx-YY\n---\n# T\n\nBody\n",
        "unknown-locale.md:3:",
    ),
    "empty-body.ja-jp.md": ("---\ntitle: T\n---\n\n   \n<!--HONumber=Nov16_HO4-->\n", "empty-body.ja-jp.md:"),
    # The extension is stripped once: x.md.md would be the slug "x.md", which no page address can hold.
    "doubled.md.md": ("---\ntitle: T\nms.contentlocale: ja-JP\n---\n# T\n\nBody\n", "doubled.md.md:1:"),
    "release-v1.2.ja-jp.md": ("---\ntitle: T\n---\n# T\n\nBody\n", "release-v1.2.ja-jp.md:1:"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_stops_the_run_and_writes_nothing(seeded, tmp_path: Path, name: str) -> None:
    """A malformed file names itself and its line, and nothing from the run is written."""
    content, where = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_text(content)
    good = tmp_path / "escalate-problems-to-microsoft.ja-jp.md"
    good.write_text((FIXTURES / "escalate-problems-to-microsoft.ja-jp.md").read_text())
    before = (
        Article.objects.count(),
        Translation.objects.count(),
        Segment.objects.count(),
        Article.history.count(),
    )

    with pytest.raises(CommandError) as error:
        run(str(good), str(bad))
    assert where in str(error.value)
    assert "Nothing was imported." in str(error.value)
    after = (
        Article.objects.count(),
        Translation.objects.count(),
        Segment.objects.count(),
        Article.history.count(),
    )
    assert after == before


def test_doubled_extension_in_a_directory_stops_the_run_and_the_lists_stay_up(
    client, seeded, tmp_path: Path
) -> None:
    """x.md.md found by walking a directory is refused (PATH:1, naming the file); nothing of the run is
    written, so no article the pages cannot link is ever stored."""
    shutil.copy(FIXTURES / "escalate-problems-to-microsoft.ja-jp.md", tmp_path / "good.ja-jp.md")
    bad = tmp_path / "x.md.md"
    shutil.copy(FIXTURES / "escalate-problems-to-microsoft.ja-jp.md", bad)

    with pytest.raises(CommandError) as error:
        run(str(tmp_path))
    assert str(error.value).startswith(f"{bad}:1: ")
    assert "'x.md.md'" in str(error.value)
    assert "Nothing was imported." in str(error.value)
    assert set(Article.objects.values_list("slug", flat=True)) == {"provide-billing-support"}
    assert client.get("/en/guidance/").status_code == 200


def test_invalid_slug_option_is_refused(db, tmp_path: Path) -> None:
    """--slug is held to the same rule as a slug from the file name."""
    path = tmp_path / "notes.md"
    path.write_text("---\ntitle: Заметки\n---\n# Заметки\n\nТекст.\n")
    with pytest.raises(CommandError, match=rf"{re.escape(str(path))}:1: .*slug"):
        run(str(path), "--locale", "ru-ru", "--slug", "partner notes")
    assert Article.objects.count() == 0


def test_import_service_refuses_a_document_with_a_bad_slug(seeded) -> None:
    """Documents not made by parse_article are held to the same rule, all or nothing."""
    good = parse_file(FIXTURES / "escalate-problems-to-microsoft.ja-jp.md")
    bad = dataclasses.replace(good, slug="x.md", path="made-elsewhere")
    with pytest.raises(
        DocfxError, match=r"^made-elsewhere:1: the slug 'x\.md' cannot be part of a page address"
    ):
        guidance_import(documents=[good, bad])
    assert set(Article.objects.values_list("slug", flat=True)) == {"provide-billing-support"}


def test_slug_limit_is_the_column_length() -> None:
    """The parser's slug length limit is the one the database column holds."""
    assert Article._meta.get_field("slug").max_length == MAX_SLUG_LENGTH


def _localized_clones(root: Path) -> None:
    """The global seed files as clones of Microsoft's localized repositories would hold them: one
    partner-center-pr.<locale> folder each, the file named after the article, no ms.contentlocale."""
    for locale in ("zh-tw", "ja-jp", "ru-ru", "zh-cn"):
        text = (CONTENT / "global" / f"provide-billing-support.{locale}.md").read_text()
        text = re.sub(r"^ms\.contentlocale: .*\n", "", text, flags=re.MULTILINE)
        target = root / f"partner-center-pr.{locale}" / "partner-center" / "provide-billing-support.md"
        target.parent.mkdir(parents=True)
        target.write_text(text)


def test_locale_is_read_from_localized_repository_clones(db, tmp_path: Path) -> None:
    """partner-center-pr.zh-tw/… and its siblings import without --locale, each in its language."""
    _localized_clones(tmp_path)
    run(str(tmp_path))
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    by_language = languages(article)
    assert set(by_language) == {"en", "zh-hant", "zh-hans", "ja", "ru"}
    assert article.title_zh_hant == "提供帳單支援"
    assert article.title_ja == "請求に関するサポートの提供"
    assert by_language["zh-hans"].translation_type == TranslationType.MACHINE
    assert by_language["ru"].source_path.endswith(
        "partner-center-pr.ru-ru/partner-center/provide-billing-support.md"
    )


def test_locale_option_wins_over_the_repository_folder(db, tmp_path: Path) -> None:
    """An explicit --locale decides before the clone's name does."""
    _localized_clones(tmp_path)
    clone = tmp_path / "partner-center-pr.zh-tw" / "partner-center" / "provide-billing-support.md"
    run(str(clone), "--locale", "ja-jp")
    assert set(languages(Article.objects.get())) == {"ja", "en"}


def test_binary_file_is_refused(seeded, tmp_path: Path) -> None:
    """A binary file is reported as not UTF-8 text, and nothing is written."""
    bad = tmp_path / "image.ja-jp.md"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    with pytest.raises(CommandError, match=r"image\.ja-jp\.md:\d+: .*UTF-8"):
        run(str(bad))
    assert Article.objects.count() == 2


def test_missing_path_is_a_clear_error(db) -> None:
    """A path that does not exist is reported before anything happens."""
    with pytest.raises(CommandError, match="no such file or directory"):
        run("/nonexistent/guidance")


def test_command_exits_non_zero_with_the_message(tmp_path: Path) -> None:
    """Run as a process, a bad file gives exit status 1 and the file:line message on stderr."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "broken.ja-jp.md"
    bad.write_text("---\ntitle: [unclosed\n---\n# T\n\nBody\n")
    env = {**os.environ}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "import_guidance", str(bad)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert f"{bad}:2:" in result.stderr or f"{bad}:3:" in result.stderr
