"""Reading guidance: every seed article renders in each of its languages with honest translation signals."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from guidance.models import Article, Translation
from portal.models import ApiToken
from tests.guidance.conftest import FIXTURES

pytestmark = pytest.mark.django_db

GLOBAL = "/{lang}/guidance/global/provide-billing-support/"
VIANET = "/{lang}/guidance/21vianet/provide-billing-support/"
LEAKS = ("data-ttu-id", "data-stu-id", "sxs-lookup", "HONumber")


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.mark.parametrize("lang", ["en", "zh-hant", "zh-hans", "ja", "ru"])
@pytest.mark.parametrize("bilingual", ["", "?bilingual=1"])
def test_global_article_renders_in_every_language(client, seeded, lang: str, bilingual: str) -> None:
    """The global article renders in all five languages, with no DocFX markup leaking."""
    html = page(client, GLOBAL.format(lang=lang) + bilingual)
    for leak in LEAKS:
        assert leak not in html
    assert f'<article class="article" lang="{lang}">' in html


@pytest.mark.parametrize("lang", ["en", "zh-hant"])
def test_vianet_article_renders_in_its_languages(client, seeded, lang: str) -> None:
    """The 21Vianet variant renders in English and Traditional Chinese, escalating to 21Vianet."""
    html = page(client, VIANET.format(lang=lang) + "?bilingual=1")
    for leak in LEAKS:
        assert leak not in html
    assert "21Vianet" in html


def test_japanese_page_shows_japanese_text_and_is_outdated(client, seeded) -> None:
    """The ja page is in Japanese and says it was made from an older English version."""
    html = page(client, GLOBAL.format(lang="ja"))
    assert "<h1>請求に関するサポートの提供</h1>" in html
    assert 'class="notice notice--outdated"' in html
    assert 'href="/en/guidance/global/provide-billing-support/"' in html
    assert 'class="notice notice--machine"' not in html


@pytest.mark.parametrize("lang", ["ja", "zh-hant", "ru"])
def test_older_translations_are_marked_outdated_on_the_page(client, seeded, lang: str) -> None:
    """ja, zh-hant and ru pages carry the outdated notice."""
    assert 'class="notice notice--outdated"' in page(client, GLOBAL.format(lang=lang))


def test_simplified_chinese_page_is_marked_machine_translated(client, seeded) -> None:
    """The zh-hans page says a machine translated it, and is not outdated."""
    html = page(client, GLOBAL.format(lang="zh-hans"))
    assert 'class="notice notice--machine"' in html
    assert 'class="notice notice--outdated"' not in html


def test_english_page_has_no_translation_notices(client, seeded) -> None:
    """The English source carries no machine, outdated or bilingual notice."""
    html = page(client, GLOBAL.format(lang="en"))
    assert "notice--" not in html
    assert "bilingual-toggle" not in html


def test_russian_page_offers_no_bilingual_toggle_and_says_why(client, seeded) -> None:
    """The ru file had no spans: no toggle, and a plain sentence saying so."""
    html = page(client, GLOBAL.format(lang="ru") + "?bilingual=1")
    assert "bilingual-toggle" not in html
    assert 'class="notice notice--plain"' in html
    assert "segment-source" not in html


def test_bilingual_mode_shows_english_under_japanese_sentences(client, seeded) -> None:
    """With the toggle on, each Japanese sentence is followed by its English source."""
    html = page(client, GLOBAL.format(lang="ja") + "?bilingual=1")
    assert 'class="guidance-article is-bilingual"' in html
    assert (
        '<span class="segment-source" lang="en">You are responsible for payment to Microsoft.</span>' in html
    )
    assert html.count('class="segment-source"') >= 18
    assert 'aria-checked="true"' in html


def test_bilingual_toggle_is_a_link_that_turns_it_on(client, seeded) -> None:
    """The toggle is a plain link (keyboard-reachable, no script) to the bilingual page."""
    html = page(client, GLOBAL.format(lang="ja"))
    assert (
        'href="/ja/guidance/global/provide-billing-support/?bilingual=1" role="switch" aria-checked="false"'
        in html
    )
    assert "segment-source" not in html
    # No script of its own: the only one is the header menus' (static, deferred), which the toggle does not need.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/portal/js/menus.js" defer>']


def test_missing_translation_falls_back_to_english_with_a_notice(client, seeded) -> None:
    """The 21Vianet article has no Japanese: the ja page shows English and says so."""
    html = page(client, VIANET.format(lang="ja"))
    assert 'class="notice notice--missing"' in html
    assert '<article class="article" lang="en">' in html
    assert "<h1>Provide billing support</h1>" in html


def test_every_page_carries_hreflang_alternates(client, seeded) -> None:
    """Each language version is linked with hreflang, plus x-default for English."""
    html = page(client, GLOBAL.format(lang="ru"))
    for hreflang, prefix in [
        ("en", "en"),
        ("zh-Hant", "zh-hant"),
        ("zh-Hans", "zh-hans"),
        ("ja", "ja"),
        ("ru", "ru"),
    ]:
        assert (
            f'hreflang="{hreflang}" href="http://testserver/{prefix}/guidance/global/provide-billing-support/"'
            in html
        )
    assert 'hreflang="x-default"' in html
    vianet = page(client, VIANET.format(lang="en"))
    assert 'hreflang="ja"' not in vianet


def test_table_of_contents_links_to_kept_heading_anchors(client, seeded) -> None:
    """DocFX anchors become heading ids, and the contents list links to them."""
    html = page(client, GLOBAL.format(lang="zh-hant"))
    assert '<h2 id="microsoftresources">' in html
    assert '<a href="#microsoftresources">Microsoft 資源</a>' in html


def test_links_to_missing_articles_are_plain_text_never_broken(client, seeded) -> None:
    """A relative .md link to an article the portal does not have renders as text, not a dead link."""
    html = page(client, GLOBAL.format(lang="ja"))
    assert ".md" not in re.sub(r"<link[^>]*>", "", html)
    assert "escalate-problems-to-microsoft" not in html


def test_relative_links_point_to_the_matching_portal_page(client, seeded) -> None:
    """Once the linked article exists, the .md link points at its page in the reader's language."""
    call_command("import_guidance", str(FIXTURES), verbosity=0)
    html = page(client, GLOBAL.format(lang="ja"))
    assert 'href="/ja/guidance/global/escalate-problems-to-microsoft/"' in html
    fixture = page(client, "/ja/guidance/global/escalate-problems-to-microsoft/?bilingual=1")
    assert 'href="/ja/guidance/global/provide-billing-support/"' in fixture


def test_alerts_render_as_styled_notes(client, seeded) -> None:
    """A DocFX >[!Note] becomes a labelled note box."""
    html = page(client, GLOBAL.format(lang="zh-hans"))
    assert '<div class="alert alert-note" role="note">' in html
    assert "[!Note]" not in html


def test_unknown_article_or_cloud_is_404(client, seeded) -> None:
    """Slugs and clouds that do not exist answer 404."""
    assert client.get("/en/guidance/global/no-such-article/").status_code == 404
    assert client.get("/en/guidance/mooncake/provide-billing-support/").status_code == 404


def test_list_shows_the_global_cloud_by_default(client, seeded) -> None:
    """Readers with no cloud see global articles, with the cloud choice visible."""
    html = page(client, "/ja/guidance/")
    assert 'href="/ja/guidance/global/provide-billing-support/"' in html
    assert "/21vianet/" not in html.split('class="article-list"')[1]
    assert 'name="cloud" value="21vianet"' in html


def test_list_can_switch_to_the_vianet_cloud(client, seeded) -> None:
    """Choosing 21Vianet lists its variant instead."""
    html = page(client, "/zh-hant/guidance/?cloud=21vianet")
    listing = html.split('class="article-list"')[1]
    assert 'href="/zh-hant/guidance/21vianet/provide-billing-support/"' in listing
    assert "/global/" not in listing


@pytest.mark.parametrize(
    ("lang", "query", "found"),
    [
        ("en", "billing relationship", True),
        ("en", "BILLING", True),
        ("ja", "請求", True),
        ("zh-hant", "帳單", True),
        ("zh-hans", "计费", True),
        ("ru", "СЧЕТОВ", True),
        ("ru", "счетов", True),
        ("ja", "存在しない言葉", False),
    ],
)
def test_search_works_for_cjk_cyrillic_and_english(
    client, seeded, lang: str, query: str, found: bool
) -> None:
    """The search box finds articles by words in the reader's language, whatever the script or case."""
    html = page(client, f"/{lang}/guidance/?q={query}")
    listing = html.split('class="article-list"')[1]
    assert ("provide-billing-support" in listing) is found


def test_list_query_count_does_not_grow_with_articles(client, seeded, django_assert_max_num_queries) -> None:
    """The list page loads articles and their translations in a fixed number of queries."""
    call_command("import_guidance", str(FIXTURES), verbosity=0)
    assert Article.objects.count() == 3
    with django_assert_max_num_queries(4):
        client.get("/ja/guidance/")


def test_article_page_query_count(client, seeded, django_assert_num_queries) -> None:
    """An article page (its rendering stored) reads the article, its translations, the "More guidance" list
    and which of the articles it links to exist: four small queries; bilingual reads nothing more."""
    for url in (GLOBAL.format(lang="ja"), GLOBAL.format(lang="ja") + "?bilingual=1"):
        client.get(url)  # rendered and stored
        with django_assert_num_queries(4):
            assert client.get(url).status_code == 200


@pytest.fixture
def unlinkable(seeded) -> Article:
    """An article whose slug no page address can hold, as an older import (x.md.md) stored it."""
    article = Article.objects.create(
        slug="x.md",
        cloud="global",
        title_en="Unlinkable billing note",
        body_en="# Unlinkable billing note\n\nAbout billing.\n",
    )
    Translation.objects.create(article=article, language="en", translation_type="source")
    return article


def _warned_about(caplog, article: Article) -> bool:
    return any(
        record.levelname == "WARNING"
        and str(article.pk) in record.getMessage()
        and "'x.md'" in record.getMessage()
        for record in caplog.records
    )


@pytest.mark.parametrize("url", ["/en/guidance/", "/ja/guidance/?cloud=global", "/en/guidance/?q=billing"])
def test_list_leaves_out_an_article_it_cannot_link_and_logs_it(client, unlinkable, caplog, url: str) -> None:
    """One article with a bad slug is missing from the list (and named in the log); the rest still shows."""
    html = page(client, url)
    listing = html.split('class="article-list"')[1]
    assert "provide-billing-support/" in listing
    assert "Unlinkable" not in listing and "x.md" not in listing
    assert _warned_about(caplog, unlinkable)


def test_search_count_counts_only_the_articles_listed(client, unlinkable) -> None:
    """The result count agrees with the list: the unlinkable match is not counted."""
    html = page(client, "/en/guidance/?q=billing")
    assert "1 article matches “billing”." in html


def test_more_guidance_leaves_out_an_article_it_cannot_link(client, unlinkable, caplog) -> None:
    """An article page still renders, its "More guidance" listing the other articles but the bad one."""
    call_command("import_guidance", str(FIXTURES), verbosity=0)
    html = page(client, GLOBAL.format(lang="en"))
    related = html.split('class="related"')[1].split("</nav>")[0]
    assert 'href="/en/guidance/global/escalate-problems-to-microsoft/"' in related
    assert "x.md" not in related and "Unlinkable" not in related
    assert _warned_about(caplog, unlinkable)


def test_api_list_leaves_out_an_article_it_cannot_link(helpdesk_agent, unlinkable, caplog) -> None:
    """The API list, built from the same summaries, answers 200 without the unlinkable article."""
    _token, key = ApiToken.issue(user=helpdesk_agent.user, name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get("/api/v1/guidance/", {"lang": "en"})
    assert response.status_code == 200
    assert [item["slug"] for item in response.json()] == ["provide-billing-support"]
    assert _warned_about(caplog, unlinkable)
