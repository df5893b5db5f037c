"""Read-only guidance API: articles in a language, with the translation's honest status."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import translation as i18n
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from guidance.models import Article, ArticleStatus, Cloud, SegmentState
from guidance.reading import article_page, article_summaries
from portal.api_errors import ErrorSerializer

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
PARAMETERS = [
    OpenApiParameter("lang", str, enum=LANGUAGE_CODES, description="Language of the text (default en)."),
    OpenApiParameter("cloud", str, enum=Cloud.values, description="global (default) or 21vianet."),
]


class SegmentCountsSerializer(serializers.Serializer):
    current = serializers.IntegerField(min_value=0, help_text="Sentences whose English is unchanged.")
    outdated = serializers.IntegerField(
        min_value=0, help_text="Sentences translated from an older English sentence."
    )
    missing = serializers.IntegerField(min_value=0, help_text="English sentences not translated yet.")


class TranslationStatusSerializer(serializers.Serializer):
    language = serializers.ChoiceField(choices=settings.LANGUAGES, help_text="The language asked for.")
    content_language = serializers.ChoiceField(
        choices=settings.LANGUAGES, help_text="The language of the text (English when missing)."
    )
    missing = serializers.BooleanField()
    machine_translated = serializers.BooleanField()
    outdated = serializers.BooleanField(
        help_text="Not wholly current: a sentence outdated or missing, or (without sentence states) made "
        "from an older English revision."
    )
    status = serializers.ChoiceField(
        choices=ArticleStatus.values,
        help_text="current, partly-outdated (some sentences changed), outdated, or missing (no translation).",
    )
    segment_counts = SegmentCountsSerializer(
        allow_null=True,
        help_text="How many sentences are in each state; null where the translation has no aligned "
        "sentences (it is current or outdated as a whole) or the text is English.",
    )
    reviewed = serializers.BooleanField()
    bilingual = serializers.BooleanField(help_text="Whether English source sentences are available.")


class SegmentSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The segment id (DocFX's, or the English sentence's if missing).")
    state = serializers.ChoiceField(
        choices=[SegmentState.CURRENT, SegmentState.OUTDATED, SegmentState.MISSING]
    )
    source = serializers.CharField(help_text="The current English sentence.")
    made_from = serializers.CharField(
        allow_null=True, help_text="The English the translation was made from; null when missing."
    )
    translation = serializers.CharField(allow_null=True, help_text="The translation; null when missing.")


class ArticleSummarySerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="The article's address: GET /api/v1/guidance/{slug}/.")
    cloud = serializers.ChoiceField(choices=Cloud.choices)
    title = serializers.CharField()
    description = serializers.CharField()
    translation = TranslationStatusSerializer()


class ArticleSerializer(ArticleSummarySerializer):
    body_markdown = serializers.CharField()
    body_html = serializers.CharField(help_text="Sanitised HTML.")
    updated_at = serializers.DateTimeField()
    segments = SegmentSerializer(
        many=True,
        help_text="The translation's sentences in order, with their state; empty without aligned sentences.",
    )


def _segments(page) -> list[dict]:
    if not page.by_sentence:
        return []
    rows = page.translation.segments.exclude(state=SegmentState.DROPPED).order_by("position")
    return [
        {
            "id": s.segment_id,
            "state": s.state,
            "source": s.english,
            "made_from": s.source or None,
            "translation": s.target or None,
        }
        for s in rows
    ]


def _query(request: Request) -> tuple[str, str]:
    language = request.query_params.get("lang", "en")
    cloud = request.query_params.get("cloud", Cloud.GLOBAL)
    errors = {}
    if language not in LANGUAGE_CODES:
        errors["lang"] = [_("Use one of: %(codes)s.") % {"codes": ", ".join(LANGUAGE_CODES)}]
    if cloud not in Cloud.values:
        errors["cloud"] = [_("Use global or 21vianet.")]
    if errors:
        raise ValidationError(errors)
    return language, cloud


class GuidanceViewSet(viewsets.ViewSet):
    """Partner Center guidance articles in your language, with how current each translation is."""

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(
        summary="List guidance articles",
        parameters=PARAMETERS,
        responses={
            200: ArticleSummarySerializer(many=True),
            **{code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 429)},
        },
    )
    def list(self, request: Request) -> Response:
        language, cloud = _query(request)
        articles = Article.objects.for_cloud(cloud).prefetch_related("translations")
        data = []
        for summary in article_summaries(articles, language):
            article = summary.article
            translation = {t.language: t for t in article.translations.all()}.get(language)
            data.append(
                {
                    "slug": article.slug,
                    "cloud": article.cloud,
                    "title": summary.title,
                    "description": summary.description,
                    "translation": {
                        "language": language,
                        "content_language": "en" if summary.missing else language,
                        "missing": summary.missing,
                        "machine_translated": summary.machine,
                        "outdated": summary.outdated,
                        "status": summary.status,
                        "segment_counts": summary.segment_counts,
                        "reviewed": bool(translation and translation.reviewed),
                        "bilingual": bool(translation and translation.has_segments),
                    },
                }
            )
        return Response(ArticleSummarySerializer(data, many=True).data)

    @extend_schema(
        summary="One guidance article",
        parameters=PARAMETERS,
        responses={
            200: ArticleSerializer,
            **{code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 429)},
        },
    )
    def retrieve(self, request: Request, slug: str) -> Response:
        language, cloud = _query(request)
        article = get_object_or_404(Article.objects.prefetch_related("translations"), cloud=cloud, slug=slug)
        with i18n.override(language):
            page = article_page(article, language)
        suffix = page.content_language.replace("-", "_")
        data = {
            "slug": article.slug,
            "cloud": article.cloud,
            "title": page.title,
            "description": page.description,
            "body_markdown": getattr(article, f"body_{suffix}") or "",
            "body_html": page.html,
            "updated_at": article.updated_at,
            "segments": _segments(page),
            "translation": {
                "language": language,
                "content_language": page.content_language,
                "missing": page.missing,
                "machine_translated": page.machine,
                "outdated": page.outdated,
                "status": page.status,
                "segment_counts": page.segment_counts,
                "reviewed": bool(page.translation and page.translation.reviewed),
                "bilingual": page.can_be_bilingual,
            },
        }
        return Response(ArticleSerializer(data).data)
