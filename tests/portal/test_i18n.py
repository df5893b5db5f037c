"""Five languages: URL prefixes, the browser's language on a first visit, and the switcher."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

SIGN_IN = {"en": "Sign in", "zh-hant": "登入", "zh-hans": "登录", "ja": "サインイン", "ru": "Войти"}


@pytest.mark.parametrize("code", [code for code, _name in settings.LANGUAGES])
def test_every_language_prefix_serves_the_home_page_in_that_language(client, code: str) -> None:
    """/<lang>/ renders the home page with that language's strings and lang attribute."""
    response = client.get(f"/{code}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{code}"' in html
    assert SIGN_IN[code] in html


@pytest.mark.parametrize(
    ("accept_language", "prefix"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.5", "/ja/"),
        ("zh-TW,zh;q=0.9", "/zh-hant/"),
        ("zh-HK", "/zh-hant/"),
        ("zh-CN,zh;q=0.9", "/zh-hans/"),
        ("ru-RU,ru;q=0.9", "/ru/"),
        ("fr-FR,fr;q=0.9", "/en/"),
        ("", "/en/"),
    ],
)
def test_first_visit_follows_the_browsers_language(client, accept_language: str, prefix: str) -> None:
    """The unprefixed address redirects to the browser's preferred configured language."""
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept_language)
    assert response.status_code == 302
    assert response["Location"] == prefix


def test_switcher_keeps_the_reader_on_the_same_page(client) -> None:
    """Choosing Japanese on the English sign-in page lands on the Japanese sign-in page."""
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/en/accounts/login/?next=/en/"})
    assert response.status_code == 302
    assert response["Location"] == "/ja/accounts/login/?next=/en/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ja"


def test_chosen_language_wins_over_the_browser_on_the_next_visit(client) -> None:
    """After switching to Russian, the bare address opens the Russian pages."""
    client.post("/i18n/setlang/", {"language": "ru", "next": "/en/"})
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="ja")
    assert response["Location"] == "/ru/"


def test_switcher_is_on_every_page_with_all_languages(client) -> None:
    """The header offers every configured language, marking the current one."""
    html = client.get("/zh-hans/accounts/login/").content.decode()
    for code, _name in settings.LANGUAGES:
        assert f'name="language" value="{code}"' in html
    assert re.search(r'value="zh-hans" lang="zh-hans"\s+aria-current="true"', html)
    # The menu's summary names the current language in that language.
    assert re.search(r'<summary>.*<span lang="zh-hans">简体中文</span></summary>', html)


def test_unknown_language_in_switcher_is_ignored(client) -> None:
    """A language that is not configured is refused and sets no cookie."""
    response = client.post("/i18n/setlang/", {"language": "de", "next": "/en/"})
    assert response.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_unprefixed_unknown_page_is_404(client) -> None:
    """A path in no language and no route is a plain 404."""
    assert client.get("/xx/nothing-here/").status_code == 404
