"""Rendered article HTML is kept under a digest of what it was made from: never stale, never required."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from guidance import reading
from guidance.models import Article, Translation

pytestmark = pytest.mark.django_db

URL = "/en/guidance/global/{slug}/"


def article(slug: str, body: str) -> Article:
    created = Article.objects.create(slug=slug, cloud="global", title_en=slug.title(), body_en=body)
    Translation.objects.create(article=created, language="en", translation_type="source")
    return created


def html_of(client, slug: str) -> str:
    response = client.get(URL.format(slug=slug))
    assert response.status_code == 200
    return response.content.decode()


def test_the_rendering_is_stored_under_the_digest_of_its_text(client) -> None:
    """Once rendered, a page is found under the text's digest, and what is stored is what a page shows."""
    article("billing", "# Billing\n\nA plain page without links.")
    html_of(client, "billing")
    [key] = cache.keys("guidance:html:*")
    stored_html, _toc, _aligned, links = cache.get(key)
    assert "A plain page without links." in stored_html and links == {}
    cache.set(key, ("<p>What the cache holds.</p>", [], 0, {}))  # proves the next page reads it
    assert "What the cache holds." in html_of(client, "billing")


def test_without_a_cache_the_page_is_rendered(client, settings) -> None:
    """An unreachable cache is a miss: the page is rendered from the database."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}  # nothing listens
    }
    article("billing", "# Billing\n\nRendered *without* Redis.")
    assert "<p>Rendered <em>without</em> Redis.</p>" in html_of(client, "billing")


def test_an_edited_text_shows_at_once(client) -> None:
    """A changed text has another digest: the next reader gets the new text, with nothing invalidated."""
    page = article("billing", "# Billing\n\nThe old sentence.")
    assert "The old sentence." in html_of(client, "billing")
    page.body_en = "# Billing\n\nThe new sentence."
    page.save()
    html = html_of(client, "billing")
    assert "The new sentence." in html and "The old sentence." not in html


def test_a_link_to_an_article_that_appears_later_starts_to_link(client) -> None:
    """A stored page whose link went nowhere is rendered again once the linked article exists."""
    article("billing", "# Billing\n\nSee [the credits page](credits.md) for more.")
    assert 'href="/en/guidance/global/credits/"' not in html_of(client, "billing")
    article("credits", "# Credits\n\nHow credits work.")
    assert 'href="/en/guidance/global/credits/" rel="noopener noreferrer">the credits page</a>' in html_of(
        client, "billing"
    )


def test_a_link_to_an_article_that_is_removed_stops_linking(client) -> None:
    article("billing", "# Billing\n\nSee [the credits page](credits.md) for more.")
    article("credits", "# Credits\n\nHow credits work.")
    assert 'href="/en/guidance/global/credits/"' in html_of(client, "billing")
    Article.objects.filter(slug="credits").delete()  # a bulk delete: nothing is told, nothing needs to be
    html = html_of(client, "billing")
    assert 'href="/en/guidance/global/credits/"' not in html and "the credits page" in html


def test_each_language_has_its_own_rendering(client) -> None:
    """Alert labels are in the reader's language, so the language is part of what a rendering is made from."""
    article("billing", "# Billing\n\n> [!NOTE]\n> Credits take a cycle.")
    english = client.get(URL.format(slug="billing")).content.decode()
    japanese = client.get("/ja" + URL.format(slug="billing")[3:]).content.decode()
    assert '<p class="alert-title">Note</p>' in english
    assert '<p class="alert-title">注記</p>' in japanese
    assert len(cache.keys("guidance:html:*")) == 2


def test_other_labels_or_renderer_code_make_another_key(monkeypatch) -> None:
    """A rendering is stored under what it was made from: new alert labels (a catalogue change) or a changed
    renderer (code or library) find no entry made by the old ones."""
    key = reading._html_key("> [!NOTE]\n> x", "ja", "global", "")
    monkeypatch.setattr(reading, "_labels_in", lambda language: ("メモ",) * 5)
    assert reading._html_key("> [!NOTE]\n> x", "ja", "global", "") != key
    monkeypatch.undo()
    monkeypatch.setattr(reading, "_renderer", lambda: "another renderer")
    assert reading._html_key("> [!NOTE]\n> x", "ja", "global", "") != key
