"""What a reader sees of an article in one language: text, status notices, rendered HTML (cached)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import translation as i18n

from guidance.models import Article, Translation
from guidance.rendering import Heading, render_markdown
from portal import pagecache

ENGLISH = "en"
GENERATION_KEY = "guidance:generation"
HTML_TIMEOUT = 60 * 60 * 24
PAGE_TIMEOUT = 60 * 10
RELATED_COUNT = 10
# Each process keeps the pages it served last, and re-reads the generation and the review marks at most once
# a second: an edit shows at once in the process that made it, and within a second everywhere else.
LOCAL_SECONDS = 1.0
LOCAL_PAGES = 200
_local_generation: list = [float("-inf"), None]
_review_state: list = [float("-inf"), ()]
_local_pages: OrderedDict[str, tuple[int, tuple, str]] = OrderedDict()
_local_lock = threading.Lock()

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
        cache.set(GENERATION_KEY, _new_generation(), None)
    # This process sees the change at once, the others within LOCAL_SECONDS.
    _local_generation[:] = [float("-inf"), None]


def _new_generation() -> int:
    # Random, not 1: after the cache is emptied, no copy kept from before can match the new generation.
    return secrets.randbits(48)


def _generation() -> int:
    return cache.get_or_set(GENERATION_KEY, _new_generation, None)


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
            str(current_generation()),
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


# --- The related list and whole pages, cached ------------------------------------------------------


def _summary_fields(language: str) -> list[str]:
    suffixes = {language.replace("-", "_"), ENGLISH}
    fields = ["id", "slug", "cloud"]
    for suffix in sorted(suffixes):
        fields += [f"title_{suffix}", f"description_{suffix}"]
    return [*fields, f"body_{language.replace('-', '_')}"]


def related_summaries(article: Article, language: str) -> list[ArticleSummary]:
    """The first articles of the same cloud but this one: the "More guidance" list of an article page.

    The first RELATED_COUNT + 1 articles of a cloud (in the list's order) and their flags are cached per cloud
    and language until any article changes, so a page spends no query on them.
    """
    key = f"guidance:first:{current_generation()}:{article.cloud}:{language}"
    first = cache.get(key)
    if first is None:
        candidates = (
            Article.objects.for_cloud(article.cloud)
            .only(*_summary_fields(language))
            .prefetch_related("translations")[: RELATED_COUNT + 1]
        )
        first = [(candidate.pk, article_summary(candidate, language)) for candidate in candidates]
        for _pk, summary in first:
            summary.article = None  # the summary's text is all the page needs; keep the cache entry small
        cache.set(key, first, HTML_TIMEOUT)
    return [summary for pk, summary in first if pk != article.pk][:RELATED_COUNT]


def shareable(request: HttpRequest) -> bool:
    """Whether the page this request gets is the same for every anonymous reader (so it can be cached).

    That is a request without a session or messages cookie (nobody signed in, nothing to flash) for the
    canonical address of a page: no query string but the bilingual switch.
    """
    return (
        settings.SESSION_COOKIE_NAME not in request.COOKIES
        and "messages" not in request.COOKIES
        and request.META.get("QUERY_STRING", "") in ("", "bilingual=1")
    )


def page_key(request: HttpRequest, cloud: str, slug: str, language: str, bilingual: bool) -> str:
    host = hashlib.sha256(f"{request.scheme}://{request.get_host()}".encode()).hexdigest()[:12]
    mode = "bi" if bilingual else "mono"
    return f"guidance:page:{pagecache.build()}:{cloud}:{slug}:{language}:{mode}:{host}"


def review_state() -> tuple:
    """A fingerprint of every translation's review mark, read from the database at most once a second.

    Saving an article starts a new generation, but marking translations reviewed (or not) updates their
    rows alone; a stored page is only served while this fingerprint is still the one it was rendered with,
    so a page shows a new review mark within a second without costing a query per request.
    """
    now = time.monotonic()
    checked_at, state = _review_state
    if now - checked_at < LOCAL_SECONDS:
        return state
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE reviewed), max(reviewed_at), "
            "sum(extract(epoch FROM reviewed_at)), count(*) FROM guidance_translation"
        )
        state = tuple(str(value) for value in cursor.fetchone())
    _review_state[:] = [now, state]
    return state


def current_generation() -> int:
    """The generation, re-read from the cache at most once a second by each process."""
    now = time.monotonic()
    checked_at, generation = _local_generation
    if generation is None or now - checked_at >= LOCAL_SECONDS:
        generation = _generation()
        _local_generation[:] = [now, generation]
    return generation


def _keep_local(key: str, entry: tuple[int, tuple, str]) -> None:
    with _local_lock:
        _local_pages[key] = entry
        _local_pages.move_to_end(key)
        while len(_local_pages) > LOCAL_PAGES:
            _local_pages.popitem(last=False)


def cached_page(key: str, state: tuple) -> tuple[bytes | None, int]:
    """The stored page for key if it was rendered from this state in this generation; and the generation.

    First this process's own copies, then the shared cache (a page another process rendered).
    """
    generation = current_generation()
    entry = _local_pages.get(key)
    if entry is None or entry[0] != generation or entry[1] != state:
        entry = cache.get(key)
        if entry is None or entry[0] != generation or entry[1] != state:
            return None, generation
        _keep_local(key, entry)
    return entry[2], generation


def store_page(key: str, state: tuple, generation: int, html: bytes) -> None:
    """Keep a page (as portal.pagecache.storable made it) for the readers after this one."""
    entry = (generation, state, html)
    cache.set(key, entry, PAGE_TIMEOUT)
    _keep_local(key, entry)
