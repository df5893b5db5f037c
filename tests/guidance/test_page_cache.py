"""Whole article pages cached for anonymous readers: the same page for everyone, but never a stale one."""

from __future__ import annotations

import re

import pytest

from guidance import reading
from guidance.models import Article, Translation
from guidance.services import translations_mark_reviewed

pytestmark = pytest.mark.django_db

URL = "/ja/guidance/global/provide-billing-support/?bilingual=1"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def long_window(monkeypatch):
    """Time stands still for the once-a-second checks, so a test sees only what invalidation does."""
    monkeypatch.setattr(reading, "LOCAL_SECONDS", 3600.0)


def without_token(html: str) -> str:
    return TOKEN.sub("TOKEN", html)


def test_a_second_reader_gets_the_stored_page_with_a_token_of_their_own(
    client, seeded, long_window, django_assert_num_queries
) -> None:
    from django.test import Client

    first = client.get(URL)
    with django_assert_num_queries(0):
        second = Client().get(URL)
    assert first.status_code == second.status_code == 200
    assert without_token(first.content.decode()) == without_token(second.content.decode())
    tokens = [TOKEN.search(r.content.decode()).group(1) for r in (first, second)]
    assert tokens[0] != tokens[1]
    # Each reader gets the CSRF cookie their token belongs to, and the token validates against it.
    from django.middleware.csrf import _does_token_match, _unmask_cipher_token

    for response, token in zip((first, second), tokens, strict=True):
        cookie = response.cookies["csrftoken"].value
        assert _does_token_match(token, cookie)
        assert _unmask_cipher_token(token) == cookie


def test_an_edit_shows_at_once(client, seeded, long_window) -> None:
    client.get(URL)
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    article.title_ja = "新しいタイトル"
    article.save()
    assert "<h1>新しいタイトル</h1>" in client.get(URL).content.decode()


def test_a_review_mark_shows_after_the_next_check(client, seeded, staff, long_window, monkeypatch) -> None:
    assert "Reviewed by the portal team" not in client.get("/en" + URL[3:]).content.decode()
    translations_mark_reviewed(translations=Translation.objects.all(), user=staff)
    monkeypatch.setattr(reading, "LOCAL_SECONDS", 0.0)  # the second has passed
    assert "Reviewed by the portal team" in client.get("/en" + URL[3:]).content.decode()


def test_a_signed_in_reader_is_never_served_the_anonymous_page(client, seeded, member, long_window) -> None:
    client.get(URL)
    client.force_login(member)
    html = client.get(URL).content.decode()
    assert 'data-testid="signed-in-user">Mia Member<' in html


def test_other_query_strings_are_rendered_not_stored(client, seeded, long_window) -> None:
    response = client.get(URL + "&utm_source=mail")
    assert response.status_code == 200
    assert "segment-source" in response.content.decode()
    assert client.get(URL).context is not None  # the canonical page was not stored by the first request
    assert client.get(URL).context is None  # ...but by the second


def test_emptying_the_cache_forgets_every_stored_page(client, seeded, long_window) -> None:
    """A new generation after the cache is emptied never matches a page kept from before."""
    from django.core.cache import cache

    client.get(URL)
    before = reading.current_generation()
    cache.clear()
    reading._local_generation[:] = [float("-inf"), None]
    assert reading.current_generation() != before
