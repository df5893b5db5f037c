"""reverse() once per URL name, language and script prefix: the URL configuration does not change while a
process runs, and pages that list many objects (cases, articles, menu entries) would reverse each."""

from __future__ import annotations

from functools import cache

from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import translation

_PLACEHOLDER = "url-for-placeholder"  # plain ASCII: reverse() quotes anything else


@cache
def _reversed(name: str, values: int, language: str, script_prefix: str) -> str | None:
    with translation.override(language):
        try:
            url = reverse(name, args=[_PLACEHOLDER] * values)
        except NoReverseMatch:
            return None
    return url.split(_PLACEHOLDER, 1)[0] if values else url


def url_for(name: str, *values: str, language: str | None = None) -> str | None:
    """The URL `name` with `values` in its path, for URLs whose values are its last path segments, each ended
    by "/" (/<lang>/cases/<number>/), and values that need no quoting in a path (case numbers, slugs); None if
    the name has no URL in this installation."""
    prefix = _reversed(name, len(values), language or translation.get_language(), get_script_prefix())
    if prefix is None or not values:
        return prefix
    return prefix + "".join(f"{value}/" for value in values)
