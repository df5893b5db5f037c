"""Public guidance pages: the list with search, and each article in the reader's language."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation as i18n
from django.views.decorators.http import require_safe
from markupsafe import Markup

from guidance import reading, search
from guidance.models import Article, Cloud, field_suffix
from guidance.reading import ENGLISH, ArticleSummary, article_page, article_summaries, available_languages


def _member_cloud(request: HttpRequest) -> str | None:
    """A signed-in partner user reads the guidance of their organisation's cloud."""
    user = request.user
    if user.is_authenticated and hasattr(user, "membership"):
        return user.membership.partner.guidance_cloud
    return None


def _reader_cloud(request: HttpRequest) -> str:
    member_cloud = _member_cloud(request)
    if member_cloud:
        return member_cloud
    chosen = request.GET.get("cloud")
    if chosen in Cloud.values:
        return chosen
    return Cloud.GLOBAL


def _matched_sentence(summary: ArticleSummary, query: str, language: str) -> Markup | None:
    """The sentence of the listed text that matched: the words PostgreSQL marked in its headline, or where
    the search looked for the query's words as they are (CJK text, SQLite), those words."""
    article = summary.article
    content_language = ENGLISH if summary.missing else language
    body = getattr(article, f"body_{field_suffix(content_language)}") or ""
    headline = getattr(article, "search_headline", None)
    if headline is not None:
        return search.matched_sentence(body, search.marked_terms(headline), whole_words=True)
    return search.matched_sentence(body, search.query_words(query), whole_words=False)


# Articles per page of the list: a search that matches a whole library shows its best ones first, not all.
PAGE_SIZE = 20


@require_safe
def article_list(request: HttpRequest) -> HttpResponse:
    language = i18n.get_language()
    cloud = _reader_cloud(request)
    query = search.clean_query(request.GET.get("q", ""))
    # The stored search vectors are the database's to read; the page has no use for them.
    articles = (
        Article.objects.for_cloud(cloud).defer(*Article.SEARCH_VECTORS).prefetch_related("translations")
    )
    if query:
        articles = articles.search(query, language)
    # The page is cut from the ids of the articles that have an address (one that has none is logged and left
    # out, and not counted), then only its articles are read whole, in the same order.
    ids = [pk for pk, slug in articles.values_list("pk", "slug") if reading.linkable(pk, slug)]
    page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
    summaries = article_summaries(articles.filter(pk__in=page.object_list), language)
    matches = {s.article.pk: _matched_sentence(s, query, language) for s in summaries} if query else {}
    return render(
        request,
        "guidance/article_list.html",
        {
            "articles": summaries,
            "page": page,
            "page_query": urlencode({"q": query, "cloud": cloud} if query else {"cloud": cloud}),
            "matches": matches,
            "query_max_length": search.MAX_QUERY_LENGTH,
            "cloud": cloud,
            "clouds": Cloud.choices,
            "cloud_fixed": _member_cloud(request) is not None,
            "query": query,
            "language": language,
        },
    )


@require_safe
def article_detail(request: HttpRequest, cloud: str, slug: str) -> HttpResponse:
    if cloud not in Cloud.values:
        raise Http404
    language = i18n.get_language()
    bilingual = request.GET.get("bilingual") == "1"
    try:
        article = reading.page_article(cloud, slug, language)
    except Article.DoesNotExist:
        raise Http404 from None
    page = article_page(article, language, bilingual=bilingual)
    base = request.build_absolute_uri("/")[:-1]
    context = {
        "page": page,
        "article": article,
        "alternates": [
            {"code": code, "url": base + reading.article_url(cloud, slug, code)}
            for code in available_languages(article)
        ],
        "english_url": reading.article_url(cloud, slug, ENGLISH),
        "toggle_url": reading.article_url(cloud, slug) + ("" if page.bilingual else "?bilingual=1"),
        "related": reading.related_summaries(article, language),
    }
    return render(request, "guidance/article_detail.html", context)
