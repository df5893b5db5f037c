"""What a reader sees of an article in one language: text, status notices, and the rendered HTML.

Rendering markdown is the one costly step of an article page, so the HTML is kept in the cache under a
digest of everything it was made from (the text, the aligned segments, the UI language, the renderer's
version): a changed text has another key, so no entry can be stale and nothing has to be invalidated.
Links to other articles depend on which articles exist, so an entry also remembers what each of its links
resolved to, and is used only while they still resolve the same (one small query). A cache miss or an
unreachable cache renders from the database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.urls import NoReverseMatch, reverse
from django.utils import translation as i18n

from guidance.models import Article, Translation
from guidance.rendering import Heading, render_markdown

ENGLISH = "en"
HTML_TIMEOUT = 60 * 60 * 24 * 7
RELATED_COUNT = 10
# Bump when the renderer's output changes for the same input, so entries made by the old one are not used.
RENDERER_VERSION = 1

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


def _existing_slugs(cloud: str, slugs: set[str]) -> set[str]:
    if not slugs:
        return set()
    return set(Article.objects.for_cloud(cloud).filter(slug__in=slugs).values_list("slug", flat=True))


def _resolve(slug: str, cloud: str, language: str, existing: set[str]) -> str | None:
    """A DocFX slug's portal page: a workflow page, an article of the same cloud, or nothing."""
    with i18n.override(language):
        page = PORTAL_PAGES.get(slug)
        if page:
            try:
                return reverse(page)
            except NoReverseMatch:
                pass
        if slug in existing:
            return reverse("guidance:article", kwargs={"cloud": cloud, "slug": slug})
    return None


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
                self._existing = set(Article.objects.for_cloud(self.cloud).values_list("slug", flat=True))
            self.answers[slug] = _resolve(slug, self.cloud, self.language, self._existing)
        return self.answers[slug]


def _links_hold(answers: dict[str, str | None], cloud: str, language: str) -> bool:
    """Whether every link of a stored rendering still resolves as it did when it was rendered."""
    existing = _existing_slugs(cloud, set(answers))
    return all(_resolve(slug, cloud, language, existing) == url for slug, url in answers.items())


def _html_key(body: str, language: str, cloud: str, segments: list[tuple[str, str]]) -> str:
    made_from = json.dumps([RENDERER_VERSION, language, cloud, body, segments], ensure_ascii=False)
    return "guidance:html:" + hashlib.sha256(made_from.encode()).hexdigest()


def rendered_html(
    body: str, *, cloud: str, language: str, segments: list[tuple[str, str]]
) -> tuple[str, list[Heading], int]:
    """The body as safe HTML with its table of contents and aligned count: from the cache when it holds."""
    key = _html_key(body, language, cloud, segments)
    stored = cache.get(key)
    if stored is not None:
        html, toc, aligned, answers = stored
        if _links_hold(answers, cloud, language):
            return html, toc, aligned
    resolver = _RecordingResolver(cloud, language)
    rendered = render_markdown(body, resolve_link=resolver, segments=segments)
    cache.set(key, (rendered.html, rendered.toc, rendered.aligned, resolver.answers), HTML_TIMEOUT)
    return rendered.html, rendered.toc, rendered.aligned


def _text(article: Article, name: str, language: str) -> str:
    return getattr(article, f"{name}_{language.replace('-', '_')}") or ""


def article_page(article: Article, language: str, *, bilingual: bool = False) -> ArticlePage:
    """Assemble the page for article in language, falling back to English when it has no translation."""
    translations = {t.language: t for t in article.translations.all()}
    translation = translations.get(language)
    content_language = language if translation and _text(article, "body", language) else ENGLISH
    translation = translations.get(content_language)
    can_be_bilingual = bool(
        content_language != ENGLISH and translation is not None and translation.has_segments
    )
    bilingual = bilingual and can_be_bilingual

    segments = list(translation.segments.values_list("target", "source")) if bilingual and translation else []
    with i18n.override(language):  # alert labels ("Note", "Important") are in the page's language
        html, toc, aligned = rendered_html(
            _text(article, "body", content_language),
            cloud=article.cloud,
            language=language,
            segments=segments,
        )
    return ArticlePage(
        article=article,
        language=language,
        content_language=content_language,
        translation=translation,
        title=_text(article, "title", content_language) or article.slug,
        description=_text(article, "description", content_language),
        html=html,
        toc=toc,
        bilingual=bilingual,
        can_be_bilingual=can_be_bilingual,
        aligned=aligned,
    )


def available_languages(article: Article) -> list[str]:
    """Configured languages in which the article has its own text."""
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
    )


# --- The related list --------------------------------------------------------------------------------


def _summary_fields(language: str) -> list[str]:
    suffixes = {language.replace("-", "_"), ENGLISH}
    fields = ["id", "slug", "cloud"]
    for suffix in sorted(suffixes):
        fields += [f"title_{suffix}", f"description_{suffix}"]
    return [*fields, f"body_{language.replace('-', '_')}"]


def related_summaries(article: Article, language: str) -> list[ArticleSummary]:
    """The first articles of the same cloud but this one: the "More guidance" list of an article page."""
    candidates = (
        Article.objects.for_cloud(article.cloud)
        .exclude(pk=article.pk)
        .only(*_summary_fields(language))
        .prefetch_related("translations")[:RELATED_COUNT]
    )
    return [article_summary(candidate, language) for candidate in candidates]
