"""The templates' number(): the short path for counts writes exactly what Babel writes, in every language."""

from __future__ import annotations

import pytest
from babel import Locale
from babel.numbers import parse_pattern
from django.conf import settings
from django.utils import translation

from portal.templating import number

VALUES = [0, 7, 999, 1000, 1234, 99999, 100000, 1234567, 10**12 + 5]


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_counts_are_written_as_babel_writes_them(language: str) -> None:
    locale = Locale.parse(translation.to_locale(language))
    pattern = parse_pattern("#,##0")
    with translation.override(language):
        for value in VALUES:
            assert number(value) == pattern.apply(value, locale)
        # What the short path leaves to Babel.
        assert number(-1234) == pattern.apply(-1234, locale)
        assert number(1234.5, 1) == parse_pattern("#,##0.0").apply(1234.5, locale)
        assert number(None) == "—"


def test_russian_groups_with_a_no_break_space() -> None:
    with translation.override("ru"):
        assert number(1234567) == "1\xa0234\xa0567"
