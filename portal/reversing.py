"""reverse() once per URL name, language and script prefix: the URL configuration does not change while a
process runs, and pages that list many objects (cases, articles, menu entries) would reverse each."""

from __future__ import annotations

from functools import cache

from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import translation

# Plain ASCII (reverse() quotes anything else), one for each kind of path value: a slug or string, a case
# number (portal.converters.CaseNumberConverter), an id.
_PLACEHOLDERS = ("url-for-placeholder", "URLFOR-9876543210", "987654321987654321")


@cache
def _reversed(name: str, values: int, language: str, script_prefix: str) -> str | None:
    with translation.override(language):
        for placeholder in _PLACEHOLDERS:
            try:
                url = reverse(name, args=[placeholder] * values)
            except NoReverseMatch:
                continue
            return url.split(placeholder, 1)[0] if values else url
    return None


def url_for(name: str, *values: str, language: str | None = None) -> str | None:
    """The URL `name` with `values` in its path, for URLs whose values are its last path segments, each ended
    by "/" (/<lang>/cases/<number>/), and values that need no quoting in a path (case numbers, slugs); None if
    the name has no URL in this installation."""
    prefix = _reversed(name, len(values), language or translation.get_language(), get_script_prefix())
    if prefix is None or not values:
        return prefix
    return prefix + "".join(f"{value}/" for value in values)
