"""Searching guidance: word forms in Russian and English, substrings in Chinese and Japanese, the best match
first, the matched sentence shown with its words marked, and bad queries answered without an error; on
PostgreSQL through the indexes, and on the embedded SQLite database by plain substrings."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection, transaction

from guidance.models import Article, Translation, field_suffix
from guidance.search import MAX_QUERY_LENGTH, SUBSTRING_LANGUAGES, matched_sentence
from tests.guidance.conftest import ROOT

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "zh-hant", "zh-hans", "ja", "ru")


def article(slug: str, texts: dict[str, tuple[str, str]], *, description: str = "") -> Article:
    """A global article with a title and body in each language given (and a translation row for each)."""
    fields = {}
    for lang, (title, body) in texts.items():
        fields[f"title_{field_suffix(lang)}"] = title
        fields[f"body_{field_suffix(lang)}"] = body
        fields[f"description_{field_suffix(lang)}"] = description
    created = Article.objects.create(slug=slug, cloud="global", **fields)
    for lang in texts:
        kind = "source" if lang == "en" else "human"
        Translation.objects.create(article=created, language=lang, translation_type=kind)
    return created


def search_page(client, lang: str, query: str, **more: object) -> str:
    response = client.get(f"/{lang}/guidance/", {"q": query, **more})
    assert response.status_code == 200
    return response.content.decode()


def listing(page: str) -> str:
    return page.split('class="article-list"')[1]


def found(page: str) -> list[str]:
    """The slugs listed, in their order."""
    return re.findall(r'<h2><a href="/[a-z-]+/guidance/global/([^/"]+)/">', listing(page))


def matches(page: str) -> list[str]:
    """The matched sentences shown, as HTML."""
    return re.findall(r'<p class="article-list__match">(.*?)</p>', listing(page), re.DOTALL)


# --- Word forms ---------------------------------------------------------------------------------------


@pytest.fixture
def russian_billing(db) -> Article:
    return article(
        "russian-billing",
        {
            "en": ("Billing support", "You own the billing relationship."),
            "ru": (
                "Поддержка выставления счетов",
                "Вы отвечаете на вопросы клиентов.\n\nСпоры относительно выставления счетов решает партнер.\n",
            ),
        },
    )


@pytest.mark.parametrize("query", ["счета", "счетов", "СЧЕТ", "счёт", "счету"])
def test_russian_query_finds_other_forms_of_the_word(client, russian_billing, query: str) -> None:
    """ "счета" (the placeholder's example) finds an article that says "счетов", and so does every form."""
    assert found(search_page(client, "ru", query)) == ["russian-billing"]


def test_russian_query_matches_yo_and_ye_alike(client) -> None:
    """A text written with ё is found by a query written with е, and the other way round."""
    article("yo", {"ru": ("Остаток", "Проверьте счёт клиента.")})
    article("ye", {"ru": ("Остаток", "Проверьте счет клиента.")})
    assert sorted(found(search_page(client, "ru", "счет"))) == ["ye", "yo"]
    assert sorted(found(search_page(client, "ru", "счёт"))) == ["ye", "yo"]


def test_english_query_finds_stemmed_forms(client) -> None:
    """ "disputes" finds an article that says only "dispute", and "billed" one that says "billing"."""
    article("dispute", {"en": ("Charges", "Open a dispute when a charge is wrong.")})
    article("unrelated", {"en": ("Subscriptions", "Suspend a subscription for non-payment.")})
    assert found(search_page(client, "en", "disputes")) == ["dispute"]
    article("billing", {"en": ("Billing", "The billing relationship is yours.")})
    assert found(search_page(client, "en", "billed")) == ["billing"]


def test_unrelated_word_finds_nothing(client, russian_billing) -> None:
    """A word the article does not hold, in any form, finds nothing, and says so."""
    page = search_page(client, "ru", "подписка")
    assert found(page) == []
    assert 'class="empty"' in listing(page)


@pytest.mark.parametrize(
    ("lang", "text", "query"),
    [
        ("ja", "請求書に関する問題を報告します。", "請求"),
        ("ja", "請求書に関する問題を報告します。", "問題を報告"),
        ("zh-hant", "您與客戶之間擁有帳單關係。", "帳單"),
        ("zh-hant", "請求支援時請提供訂用帳戶識別碼。", "請求"),
        ("zh-hans", "您与客户之间拥有账单关系。", "账单"),
        ("zh-hans", "您与客户之间拥有账单关系。", "客户 账单"),
    ],
)
def test_chinese_and_japanese_query_finds_a_substring(client, lang: str, text: str, query: str) -> None:
    """Words inside a run of unspaced text are found; every word of the query must be there."""
    article("cjk", {"en": ("Billing", "Billing."), lang: ("題名", text)})
    article("other", {"en": ("Other", "Other."), lang: ("題名", "まったく別の内容です。別的內容。")})
    assert found(search_page(client, lang, query)) == ["cjk"]
    assert found(search_page(client, lang, query + " 存在しない")) == []


def test_every_language_also_finds_an_article_by_its_english_text(client) -> None:
    """An article not yet translated is found by its English words, stemmed, and its English sentence shown."""
    article("english-only", {"en": ("Disputes", "Partners report billing disputes for customers.")})
    for lang in ("ru", "ja", "zh-hans"):
        page = search_page(client, lang, "dispute")
        assert found(page) == ["english-only"], lang
        assert matches(page) == ["Partners report billing <mark>disputes</mark> for customers."], lang


# --- Ranking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "query", "title", "filler"),
    [
        ("en", "refund", "Refunds", "Some text."),
        ("ru", "возврат", "Возврат средств", "Текст."),
        ("ja", "返金", "返金について", "本文です。"),
        ("zh-hant", "退款", "退款說明", "內文。"),
    ],
)
def test_a_match_in_the_title_ranks_above_one_in_the_body(
    client, lang: str, query: str, title: str, filler: str
) -> None:
    """The article whose title holds the word comes first, though its slug sorts last."""
    article("a-body", {lang: ("Other", f"{filler} {query}. {filler} {query}.")})
    article("z-title", {lang: (title, filler)})
    assert found(search_page(client, lang, query)) == ["z-title", "a-body"]


@pytest.mark.parametrize(("lang", "word"), [("en", "invoice"), ("ja", "請求書")])
def test_more_matches_rank_above_fewer(client, lang: str, word: str) -> None:
    """Of two articles holding the word in the body only, the one holding it more often comes first."""
    article("a-once", {lang: ("One", f"The {word} is late. Other words here.")})
    article("z-often", {lang: ("Two", f"The {word} is late. Another {word}. A third {word}.")})
    assert found(search_page(client, lang, word)) == ["z-often", "a-once"]


# --- The matched sentence -----------------------------------------------------------------------------


def test_the_sentence_that_matched_is_shown_with_its_word_marked(client, russian_billing) -> None:
    """The Russian result shows the sentence about disputes, the inflected word in <mark>, not the first one."""
    page = search_page(client, "ru", "счета")
    assert matches(page) == ["Споры относительно выставления <mark>счетов</mark> решает партнер."]


def test_the_substring_is_marked_in_cjk_text(client) -> None:
    """In Japanese the query's own characters are marked, every time they occur in the sentence."""
    article("ja", {"ja": ("請求", "概要です。\n\n請求書と請求先を確認します。")})
    assert matches(search_page(client, "ja", "請求")) == [
        "<mark>請求</mark>書と<mark>請求</mark>先を確認します。"
    ]


def test_a_description_that_is_the_matched_sentence_is_shown_once(client) -> None:
    """The seed articles open with their description: the result shows it once, with the words marked."""
    sentence = "パートナーは請求に関する質問に対応します。"
    article("seed", {"ja": ("請求", f"{sentence}\n\n別の段落です。")}, description=sentence)
    page = search_page(client, "ja", "請求")
    assert matches(page) == ["パートナーは<mark>請求</mark>に関する質問に対応します。"]
    assert listing(page).count("に関する質問に対応します。") == 1


def test_the_sentence_is_escaped_but_for_the_marks(client) -> None:
    """Markup in an article comes out as text: a script tag never reaches the page, & and quotes escaped."""
    article(
        "hostile",
        {
            "en": (
                "Disputes <script>alert('title')</script>",
                'Disputes: AT&T "quoted" <script>alert("body")</script> &lt;script&gt; end.',
            )
        },
    )
    page = search_page(client, "en", "disputes")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in listing(page)
    assert matches(page) == [
        "<mark>Disputes</mark>: AT&amp;T &#34;quoted&#34; alert(&#34;body&#34;) &amp;lt;script&amp;gt; end."
    ]


def test_a_matched_word_with_markup_characters_is_escaped_inside_the_mark(client) -> None:
    """A query that matches "AT&T" marks it escaped, and a query of markup is shown as text."""
    article("att", {"ja": ("通信", "AT&T の請求書です。")})
    page = search_page(client, "ja", "at&t")
    assert matches(page) == ["<mark>AT&amp;T</mark> の請求書です。"]
    page = search_page(client, "ja", "<mark>請求</mark>")
    assert "&lt;mark&gt;請求&lt;/mark&gt;" in page
    assert found(page) == []


def test_a_long_sentence_is_shortened_around_its_match() -> None:
    """A sentence longer than the snippet keeps the words around the first match, with ellipses."""
    body = " ".join(["word"] * 80) + " refund " + " ".join(["more"] * 80) + "."
    snippet = str(matched_sentence(body, ["refund"], whole_words=True))
    assert snippet.startswith("…word") and snippet.endswith("more…")
    assert "<mark>refund</mark>" in snippet
    assert len(snippet) < 300


def test_a_paragraph_is_preferred_to_a_heading() -> None:
    """Of a heading and a paragraph that match alike, the paragraph is the one shown."""
    body = "# Refunds\n\n- A refund takes a week.\n"
    assert str(matched_sentence(body, ["refund"], whole_words=True)) == "A <mark>refund</mark> takes a week."


# --- Bad queries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\t"])
def test_an_empty_query_lists_every_article(client, russian_billing, query: str) -> None:
    """An empty search box shows the whole list, with no result count."""
    page = search_page(client, "ru", query)
    assert found(page) == ["russian-billing"]
    assert 'class="result-count"' not in page


@pytest.mark.parametrize("query", ['"', "-", "or", '- or ""', "the", "и", "!!!", "&|<>"])
def test_a_query_with_nothing_to_look_for_finds_nothing(client, russian_billing, query: str) -> None:
    """Only syntax, stop words or punctuation: an answer, not an error, and nothing found."""
    for lang in LANGUAGES:
        assert found(search_page(client, lang, query)) == [], (lang, query)


def test_an_over_long_query_is_cut_to_the_limit(client, russian_billing) -> None:
    """A query of thousands of characters is searched by its first MAX_QUERY_LENGTH, and the box says so."""
    query = "счета " + "ж" * 5000
    for lang in LANGUAGES:
        page = search_page(client, lang, query)
        assert f'maxlength="{MAX_QUERY_LENGTH}"' in page
        shown = re.search(r'name="q" value="([^"]*)"', page).group(1)
        assert html_lib.unescape(shown) == query[:MAX_QUERY_LENGTH]


def test_control_characters_are_left_out_of_the_query(client, russian_billing) -> None:
    """Control characters and ts_headline's private marks are dropped, so the word is still found."""
    assert found(search_page(client, "ru", "сче\x07та\ue000")) == ["russian-billing"]


# --- Queries and indexes ------------------------------------------------------------------------------


def test_search_page_query_count(client, russian_billing, django_assert_num_queries) -> None:
    """The list with a search reads the ranked ids (for the page and the count), the page's articles with their
    headlines, then their translations: three queries however many articles match."""
    article("second", {"ru": ("Счета", "Счета клиентов.")})
    for number in range(30):
        article(f"more-{number}", {"ru": ("Прочее", f"Счета номер {number}.")})
    with django_assert_num_queries(3):
        page = search_page(client, "ru", "счета")
    assert len(found(page)) == 20  # the first page
    assert len(matches(page)) == 20
    assert 'rel="next"' in page
    assert len(found(search_page(client, "ru", "счета", page=2))) == 12


def test_an_edited_article_is_found_by_its_new_words(client, russian_billing) -> None:
    """The stored vector follows the text: after an edit the new word finds the article, the old one not."""
    russian_billing.body_ru = "Подписки клиентов приостанавливаются за неуплату."
    russian_billing.save()
    assert found(search_page(client, "ru", "подписка")) == ["russian-billing"]
    assert found(search_page(client, "ru", "споры")) == []


def test_every_language_searched_by_word_has_a_stored_vector() -> None:
    """A language added to LANGUAGES without a substring search needs its search_vector_<lang> column."""
    for code, _name in settings.LANGUAGES:
        if code not in SUBSTRING_LANGUAGES:
            name = f"search_vector_{field_suffix(code)}"
            assert Article._meta.get_field(name).generated, code
            assert name in Article.SEARCH_VECTORS


@pytest.mark.parametrize(("lang", "query"), [("en", "billing"), ("ru", "счета"), ("ja", "請求書類")])
def test_search_uses_the_language_index(lang: str, query: str) -> None:
    """The search's conditions can be answered by its GIN indexes (the planner picks them once the table is
    too large to read whole; here sequential scans are turned off to ask whether it can)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Article.objects.search(query, lang).explain()
    assert f"Bitmap Index Scan on guidance_search_{field_suffix(lang)}" in plan
    assert "Bitmap Index Scan on guidance_search_en" in plan


# --- The embedded default -----------------------------------------------------------------------------

SQLITE_SEARCH = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.db import connection
from guidance.models import Article, Translation

setup_test_environment()
call_command("migrate", verbosity=0)
article = Article.objects.create(
    slug="billing", cloud="global", title_en="Billing", body_en="Open a billing dispute.",
    title_ru="Поддержка", body_ru="Споры относительно выставления счетов.", title_ja="請求", body_ja="請求書の問題。",
)
for lang in ("en", "ru", "ja"):
    Translation.objects.create(article=article, language=lang)
client = Client()
results = {"vendor": connection.vendor}
for lang, query in [("ru", "счетов"), ("ja", "請求"), ("en", "BILLING"), ("ru", "счета"), ("en", "-")]:
    response = client.get(f"/{lang}/guidance/", {"q": query})
    results[f"{lang} {query}"] = [response.status_code, response.content.decode()]
print(json.dumps(results))
"""


@pytest.mark.slow
def test_embedded_sqlite_searches_by_substring(tmp_path) -> None:
    """On the SQLite database `make run` uses, the search finds every word as a substring (no word forms),
    marks it in the sentence shown, and a query with nothing to look for is answered too."""
    variables = {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DEBUG", "VAR_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in variables}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_SEARCH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results.pop("vendor") == "sqlite"
    assert {key: status for key, (status, _page) in results.items()} == dict.fromkeys(results, 200)
    assert found(results["ru счетов"][1]) == ["billing"]
    assert matches(results["ru счетов"][1]) == ["Споры относительно выставления <mark>счетов</mark>."]
    assert matches(results["ja 請求"][1]) == ["<mark>請求</mark>書の問題。"]
    assert found(results["en BILLING"][1]) == ["billing"]
    assert found(results["ru счета"][1]) == []  # word forms need PostgreSQL
    assert found(results["en -"][1]) == []
