"""What a reader sees of an article in one language: text, status notices, rendered HTML (cached)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.urls import NoReverseMatch, reverse
from django.utils import translation as i18n

from guidance.models import Article, Translation
from guidance.rendering import Heading, render_markdown

ENGLISH = "en"
GENERATION_KEY = "guidance:generation"
HTML_TIMEOUT = 60 * 60 * 24

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


def bump_generation() -> None:
    """Invalidate every cached article rendering (links between articles may have changed)."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 1, None)


def _generation() -> int:
    return cache.get_or_set(GENERATION_KEY, 1, None)


def portal_link_resolver(cloud: str, language: str):
    """Resolve a DocFX slug to a portal page: a workflow page, an article of the same cloud, or nothing."""
    slugs = set(Article.objects.for_cloud(cloud).values_list("slug", flat=True))

    def resolve(slug: str) -> str | None:
        with i18n.override(language):
            page = PORTAL_PAGES.get(slug)
            if page:
                try:
                    return reverse(page)
                except NoReverseMatch:
                    pass
            if slug in slugs:
                return reverse("guidance:article", kwargs={"cloud": cloud, "slug": slug})
        return None

    return resolve


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

    key = ":".join(
        [
            "guidance:html",
            str(_generation()),
            str(article.pk),
            article.updated_at.isoformat(),
            language,
            content_language,
            "bi" if bilingual else "mono",
        ]
    )
    cached = cache.get(key)
    if cached is None:
        segments = (
            list(translation.segments.values_list("target", "source")) if bilingual and translation else []
        )
        rendered = render_markdown(
            _text(article, "body", content_language),
            resolve_link=portal_link_resolver(article.cloud, language),
            segments=segments,
        )
        cached = (rendered.html, rendered.toc, rendered.aligned)
        cache.set(key, cached, HTML_TIMEOUT)
    html, toc, aligned = cached
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
