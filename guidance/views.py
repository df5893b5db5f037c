"""Public guidance pages: the list with search, and each article in the reader's language."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation as i18n
from django.views.decorators.http import require_safe

from guidance import reading
from guidance.models import Article, Cloud
from guidance.reading import ENGLISH, article_page, article_summaries, available_languages


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


@require_safe
def article_list(request: HttpRequest) -> HttpResponse:
    language = i18n.get_language()
    cloud = _reader_cloud(request)
    query = request.GET.get("q", "").strip()[:200]
    articles = Article.objects.for_cloud(cloud).prefetch_related("translations")
    if query:
        articles = articles.search(query, language)
    return render(
        request,
        "guidance/article_list.html",
        {
            "articles": article_summaries(articles, language),
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
