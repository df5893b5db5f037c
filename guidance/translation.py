"""The one place that declares which guidance fields are translated (django-modeltranslation)."""

import simple_history
from django.conf import settings
from modeltranslation.translator import TranslationOptions, register

from guidance.models import Article


@register(Article)
class ArticleTranslationOptions(TranslationOptions):
    fields = ("title", "description", "body", "search_text")
    fallback_undefined = {"title": "", "description": "", "body": "", "search_text": ""}


# History is registered after the translated fields exist, so each language's text is recorded.
simple_history.register(
    Article,
    excluded_fields=[
        "updated_at",
        "search_text",
        *(f"search_text_{code.replace('-', '_')}" for code, _name in settings.LANGUAGES),
        # Columns the database computes (the search vectors) are not part of an article's history.
        *(field.name for field in Article._meta.concrete_fields if field.generated),
    ],
)
