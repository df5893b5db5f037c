"""What a reader sees of an article in one language: text, status notices, and the rendered HTML.

Rendering markdown is the one costly step of an article page, so the HTML is kept in the cache under a
digest of everything it was made from (the text, the aligned segments, the language and its alert labels, the
rendering code and the versions of its libraries): a change to any of them gives another key, so no entry can
be stale and nothing has to be invalidated.
Links to other articles depend on which articles exist, so an entry also remembers what each of its links
resolved to, and is used only while they still resolve the same (one small query). A cache miss or an
unreachable cache renders from the database.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache as once
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.urls.converters import SlugConverter
from django.utils import translation as i18n
from django.utils.translation import ngettext

from guidance.models import Article, ArticleStatus, Translation, field_suffix
from guidance.rendering import Heading, PageSegment, alert_labels, render_markdown
from portal.reversing import url_for

logger = logging.getLogger(__name__)

ENGLISH = "en"
HTML_TIMEOUT = 60 * 60 * 24 * 7
RELATED_COUNT = 10

# Guidance pages that describe a portal workflow link to the portal's own pages for it, once those exist.
PORTAL_PAGES = {
    "report-problems-on-behalf-of-a-customer": "cases:create",
    "escalate-problems-to-microsoft": "cases:dashboard",
    "escalate-problems-to-21vianet": "cases:dashboard",
}


@dataclass
class ArticlePage:
    article: Article
    language: str  # the language the page is in
    content_language: str  # the language the text is in (English when the translation is missing)
    translation: Translation | None
    title: str
    description: str
    html: str
    toc: list[Heading]
    bilingual: bool
    can_be_bilingual: bool
    aligned: int

    @property
    def missing(self) -> bool:
        return self.content_language != self.language

    @property
    def machine(self) -> bool:
        return bool(self.translation and not self.missing and self.translation.is_machine)

    @property
    def outdated(self) -> bool:
        return bool(self.translation and not self.missing and self.translation.is_outdated)

    @property
    def status(self) -> str:
        """current, partly-outdated, outdated or missing (ArticleStatus)."""
        if self.missing:
            return ArticleStatus.MISSING
        return self.translation.status if self.translation else ArticleStatus.CURRENT

    @property
    def by_sentence(self) -> bool:
        """Whether the page shows which sentences are outdated (the translation has segments)."""
        return bool(self.translation and not self.missing and self.translation.by_sentence)

    @property
    def changed_summary(self) -> str:
        """ "8 of 28 sentences changed", in the active language; empty without segments."""
        counts = self.segment_counts
        if counts is None:
            return ""
        total = sum(counts.values())
        changed = counts["outdated"] + counts["missing"]
        return ngettext(
            "%(changed)d of %(total)d sentence changed in English since this translation was made.",
            "%(changed)d of %(total)d sentences changed in English since this translation was made.",
            total,
        ) % {"changed": changed, "total": total}

    @property
    def segment_counts(self) -> dict[str, int] | None:
        """How many segments are current, outdated and missing; None without segments."""
        return _counts(self.translation) if self.by_sentence else None


# The slugs an article page address holds (guidance/urls.py: <slug:slug>).
_ADDRESS_SLUG = re.compile(SlugConverter.regex)


def linkable(article_id: int, slug: str) -> bool:
    """Whether the article has a page address. One whose slug cannot be part of it (stored by an older
    import, or written to the database directly) is logged and left out, rather than failing the page."""
    if _ADDRESS_SLUG.fullmatch(slug):
        return True
    logger.warning(
        "guidance article %s has the slug %r, which no page address can hold: left out of the page",
        article_id,
        slug,
    )
    return False


def _resolve(slug: str, cloud: str, language: str, existing: set[str]) -> str | None:
    """A DocFX slug's portal page: a workflow page, an article of the same cloud, or nothing."""
    page = PORTAL_PAGES.get(slug)
    if page:
        with i18n.override(language):
            try:
                return reverse(page)
            except NoReverseMatch:
                pass
    if slug in existing and _ADDRESS_SLUG.fullmatch(slug):
        return article_url(cloud, slug, language)
    return None


def _articles() -> QuerySet:
    """Articles, read without django-modeltranslation's query rewriting: the pages name each language's
    column themselves (title_ja), and the rewriting cost an article page more than its queries."""
    return QuerySet(Article)


def _existing_slugs(cloud: str, slugs: set[str]) -> set[str]:
    if not slugs:
        return set()
    articles = _articles().filter(cloud=cloud, slug__in=slugs).order_by()
    return set(articles.values_list("slug", flat=True))


class _RecordingResolver:
    """Resolves links for one rendering (all of the cloud's slugs read once) and keeps what it answered."""

    def __init__(self, cloud: str, language: str) -> None:
        self.cloud = cloud
        self.language = language
        self.answers: dict[str, str | None] = {}
        self._existing: set[str] | None = None

    def __call__(self, slug: str) -> str | None:
        if slug not in self.answers:
            if self._existing is None:
                slugs = _articles().filter(cloud=self.cloud).order_by().values_list("slug", flat=True)
                self._existing = set(slugs)
            self.answers[slug] = _resolve(slug, self.cloud, self.language, self._existing)
        return self.answers[slug]


@once
def _renderer() -> str:
    """What the rendering code is: its source and the versions of the libraries it calls."""
    source = Path(inspect.getfile(render_markdown)).read_bytes()
    versions = [importlib.metadata.version(name) for name in ("markdown-it-py", "mdit-py-plugins", "nh3")]
    return hashlib.sha256(source + repr(versions).encode()).hexdigest()


@once
def _labels_in(language: str) -> tuple[str, ...]:
    with i18n.override(language):
        return alert_labels()


def _html_key(body: str, language: str, cloud: str, segments_version: str) -> str:
    """Everything a rendering is made from but the links: the code, the text, the segments, the labels."""
    made_from = [_renderer(), language, _labels_in(language), cloud, body, segments_version]
    return "guidance:html:" + hashlib.sha256(json.dumps(made_from, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Rendering:
    html: str
    toc: list[Heading]
    aligned: int
    links: dict[str, str | None]  # what each linked slug resolved to

    def holds(self, cloud: str, language: str) -> bool:
        """Whether every link still resolves as it did (one query, when there are links)."""
        existing = _existing_slugs(cloud, set(self.links))
        return all(_resolve(slug, cloud, language, existing) == url for slug, url in self.links.items())


def stored_rendering(body: str, *, cloud: str, language: str, segments_version: str) -> Rendering | None:
    stored = cache.get(_html_key(body, language, cloud, segments_version))
    return Rendering(*stored) if stored is not None else None


def render_and_store(
    body: str,
    *,
    cloud: str,
    language: str,
    segments: list[PageSegment],
    segments_version: str,
    bilingual: bool = False,
) -> Rendering:
    resolver = _RecordingResolver(cloud, language)
    with i18n.override(language):  # alert labels ("Note", "Important") are in the page's language
        rendered = render_markdown(body, resolve_link=resolver, segments=segments, bilingual=bilingual)
    rendering = Rendering(rendered.html, rendered.toc, rendered.aligned, resolver.answers)
    key = _html_key(body, language, cloud, segments_version)
    cache.set(key, (rendering.html, rendering.toc, rendering.aligned, rendering.links), HTML_TIMEOUT)
    return rendering


def _text(article: Article, name: str, language: str) -> str:
    return getattr(article, f"{name}_{field_suffix(language)}") or ""


def _translations(article: Article) -> dict[str, Translation]:
    """The article's translations by language (read by page_article, or prefetched)."""
    if hasattr(article, "page_translations"):
        return article.page_translations
    return {t.language: t for t in article.translations.all()}


def article_page(article: Article, language: str, *, bilingual: bool = False) -> ArticlePage:
    """Assemble the page for article in language, falling back to English when it has no translation."""
    translations = _translations(article)
    translation = translations.get(language)
    content_language = language if translation and _text(article, "body", language) else ENGLISH
    translation = translations.get(content_language)
    can_be_bilingual = bool(
        content_language != ENGLISH and translation is not None and translation.has_segments
    )
    bilingual = bilingual and can_be_bilingual
    body = _text(article, "body", content_language)
    cloud = article.cloud
    # Every page of a translation with segments marks their states; the stored states are in the digest, and
    # so is whether the page is bilingual.
    marked = can_be_bilingual
    version = f"{translation.segments_digest}:{'bilingual' if bilingual else 'states'}" if marked else ""

    rendering = stored_rendering(body, cloud=cloud, language=language, segments_version=version)
    if rendering is None or not rendering.holds(cloud, language):
        segments = page_segments(translation) if marked else []
        rendering = render_and_store(
            body,
            cloud=cloud,
            language=language,
            segments=segments,
            segments_version=version,
            bilingual=bilingual,
        )
    return ArticlePage(
        article=article,
        language=language,
        content_language=content_language,
        translation=translation,
        title=_text(article, "title", content_language) or article.slug,
        description=_text(article, "description", content_language),
        html=rendering.html,
        toc=rendering.toc,
        bilingual=bilingual,
        can_be_bilingual=can_be_bilingual,
        aligned=rendering.aligned,
    )


def page_segments(translation: Translation) -> list[PageSegment]:
    """A translation's segments as a page shows them, in order (one query)."""
    rows = translation.segments.order_by("position").values_list(
        "segment_id", "state", "target", "source", "english", "in_body"
    )
    return [PageSegment(*row) for row in rows]


def available_languages(article: Article) -> list[str]:
    """Configured languages in which the article has a page of its own: a translation (and its text)."""
    if hasattr(article, "page_translations"):  # page_article: the texts of the other languages are not read
        return [code for code, _name in settings.LANGUAGES if code in article.page_translations]
    return [code for code, _name in settings.LANGUAGES if _text(article, "body", code)]


@dataclass
class ArticleSummary:
    article: Article
    title: str
    description: str
    url: str
    missing: bool
    machine: bool
    outdated: bool
    status: str = ArticleStatus.CURRENT
    segment_counts: dict[str, int] | None = None


def article_summary(article: Article, language: str) -> ArticleSummary:
    """The list entry for an article: its text in language (or English) and translation flags."""
    translations = {t.language: t for t in article.translations.all()}
    translation = translations.get(language)
    missing = translation is None or not _text(article, "body", language)
    content_language = ENGLISH if missing else language
    return ArticleSummary(
        article=article,
        title=_text(article, "title", content_language) or article.slug,
        description=_text(article, "description", content_language),
        url=article.get_absolute_url(),
        missing=missing and language != ENGLISH,
        machine=bool(not missing and translation and translation.is_machine),
        outdated=bool(not missing and translation and translation.is_outdated),
        status=ArticleStatus.MISSING
        if missing and language != ENGLISH
        else (translation.status if translation else ArticleStatus.CURRENT),
        segment_counts=_counts(translation)
        if not missing and translation and translation.by_sentence
        else None,
    )


def _counts(translation: Translation) -> dict[str, int]:
    return {
        "current": translation.segments_current,
        "outdated": translation.segments_outdated,
        "missing": translation.segments_missing,
    }


def article_summaries(articles: Iterable[Article], language: str) -> list[ArticleSummary]:
    """The list entries for articles, in their order, leaving out (and logging) any without an address."""
    return [article_summary(article, language) for article in articles if linkable(article.pk, article.slug)]


# --- Addresses, and the related list ------------------------------------------------------------------


def article_url(cloud: str, slug: str, language: str | None = None) -> str:
    """An article's page in a language (the active one by default), without a reverse() each time."""
    return url_for("guidance:article", cloud, slug, language=language)


def related_summaries(article: Article, language: str) -> list[dict[str, str]]:
    """The "More guidance" list: the first articles of the cloud but this one, titled in the reader's language
    where the article has a title in it (title and url)."""
    title = f"title_{field_suffix(language)}"
    cloud = article.cloud
    rows = _articles().filter(cloud=cloud).order_by("slug").values_list("pk", "slug", title, "title_en")
    rows = rows[: RELATED_COUNT + 1]
    related = [
        {"title": translated or english or slug, "url": article_url(cloud, slug)}
        for pk, slug, translated, english in rows
        if slug != article.slug and linkable(pk, slug)
    ][:RELATED_COUNT]
    return related


# What an article page shows of its translations.
PAGE_TRANSLATION_FIELDS = (
    "id",
    "translation_type",
    "source_hash",
    "has_segments",
    "segments_digest",
    "segments_current",
    "segments_outdated",
    "segments_missing",
    "reviewed",
)


def page_article(cloud: str, slug: str, language: str) -> Article:
    """The article for its page in a language, in two plain queries: only the text of that language and of
    English, and its translations (article.page_translations: which languages it has, and their state)."""
    fields = ["id", "slug", "cloud", "source_hash", "updated_at"]
    for code in sorted({language, ENGLISH}):
        fields += [f"{name}_{field_suffix(code)}" for name in ("title", "description", "body")]
    article = _articles().only(*fields).get(cloud=cloud, slug=slug)
    rows = Translation.objects.filter(article=article).order_by().values("language", *PAGE_TRANSLATION_FIELDS)
    article.page_translations = {row["language"]: Translation(article=article, **row) for row in rows}
    return article
