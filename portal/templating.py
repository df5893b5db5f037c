"""What the portal's Jinja2 templates share beyond django-jinja's built-ins (url, static, csrf_token, the
i18n tags and Django's filters): the language switcher's entries and a few helpers.

The portal's pages use Jinja2 rather than Django's template language because the profile of every page said
the template engine was most of its cost (docs/benchmarks.md). Django admin keeps its own templates.
"""

from __future__ import annotations

import datetime
from functools import cache

from django.conf import settings
from django.utils import dateformat, formats, timezone, translation
from django.utils.translation import get_language_info
from django_jinja.builtins import extensions as django_jinja_extensions
from markupsafe import Markup

# BCP 47 spellings for hreflang (Django's codes are lower case).
HREFLANG = {"zh-hant": "zh-Hant", "zh-hans": "zh-Hans"}


@cache
def _languages_in(language: str) -> tuple[tuple[str, str, str], ...]:
    """(code, name in that language, name in `language`) for each configured language."""
    with translation.override(language):
        return tuple(
            (code, get_language_info(code)["name_local"], str(translation.gettext(name)))
            for code, name in settings.LANGUAGES
        )


def language_choices() -> tuple[tuple[str, str, str], ...]:
    """The switcher's entries for the active language (the names never change while a process runs)."""
    return _languages_in(translation.get_language() or settings.LANGUAGE_CODE)


def language_name(code: str) -> str:
    """A language's name in that language (日本語, Русский)."""
    return get_language_info(code)["name_local"]


def hreflang(code: str) -> str:
    return HREFLANG.get(code, code)


class CsrfExtension(django_jinja_extensions.CsrfExtension):
    """{% csrf_token %}, written exactly as Django's own tag writes it."""

    def _render(self, csrf_token):
        if not csrf_token or csrf_token == "NOTPROVIDED":  # noqa: S105 - django-jinja says "no token" so
            return Markup("")
        return Markup('<input type="hidden" name="csrfmiddlewaretoken" value="{}">').format(csrf_token)


@cache
def _format(name: str, language: str) -> str:
    with translation.override(language):
        return formats.get_format(name)


def date(value: object, name: str = "DATE_FORMAT") -> str:
    """Django's date filter as Django's templates apply it (an aware value shown in the current time zone),
    with the named format looked up once per language instead of on every call."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if name == "c":
        return value.isoformat()
    fmt = _format(name, translation.get_language() or settings.LANGUAGE_CODE) if name.isupper() else name
    return dateformat.format(value, fmt)


def active_locale() -> str:
    """The active language as a Babel locale name (ja, zh_Hant, ru)."""
    return translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)


@cache
def _number_format(locale: str, decimals: int):
    """Babel's locale and parsed pattern, made once (a report formats hundreds of numbers)."""
    from babel import Locale
    from babel.numbers import parse_pattern

    return Locale.parse(locale), parse_pattern("#,##0" + ("." + "0" * decimals if decimals else ""))


@cache
def _group_symbol(locale: str) -> str:
    return _number_format(locale, 0)[0].number_symbols["latn"]["group"]


def number(value: float | int | None, decimals: int = 0) -> str:
    """A number as a reader of the active language writes it (1,234 · 1 234 · 1.234,5), through Babel."""
    if value is None:
        return "—"
    locale = active_locale()
    if not decimals and type(value) is int and value >= 0:
        # The pattern groups by three in every language; only the separator is the language's. A report
        # writes a few hundred counts, and Babel's general path costs twenty times this one.
        return format(value, ",").replace(",", _group_symbol(locale))
    number_locale, pattern = _number_format(locale, decimals)
    return pattern.apply(value, number_locale)


def percent(value: float | None) -> str:
    """A share (0.42) as a percentage in the active language (42%, 42 %)."""
    if value is None:
        return "—"
    from babel.numbers import format_percent

    # The language's own pattern (42 % in Russian), one decimal kept where there is one.
    return format_percent(round(value, 3), locale=active_locale(), decimal_quantization=False)


def hours(value: datetime.timedelta | None) -> str:
    """A duration in hours with one decimal, in the active language (36.5 h, 36,5 ч)."""
    if value is None:
        return "—"
    return translation.gettext("%(hours)s h") % {"hours": number(value.total_seconds() / 3600, 1)}
