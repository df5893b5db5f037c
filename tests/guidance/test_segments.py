"""Sentence-level translation state: the seed articles and revisions of their English made by the tests."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from guidance import segments
from guidance.models import Article, ArticleStatus, Translation, TranslationMemory
from guidance.services import article_english_edited, translations_mark_reviewed
from tests.api.test_api import token_client
from tests.guidance.conftest import CONTENT
from tests.guidance.test_admin import form_data

pytestmark = pytest.mark.django_db

ZH_CN = CONTENT / "global" / "provide-billing-support.zh-cn.md"
GLOBAL = "/{lang}/guidance/global/provide-billing-support/"

# The revision the tests make of the zh-CN file's English: two sentences changed, one added, one removed.
CHANGED = {
    "You are responsible for on-time payments to Microsoft.": "You are responsible for paying Microsoft on time.",
    "The partner may charge for all or part of the support provided to customers.": (
        "The partner may charge for some or all of the support provided to customers."
    ),
}
ADDED_AFTER = '<span data-stu-id="4e4a7-110">Sales agent</span></span>\n'
ADDED = (
    '- <span data-ttu-id="4e4a7-200">报告管理员</span><span class="sxs-lookup">'
    '<span data-stu-id="4e4a7-200">Reports admin</span></span>\n'
)
REMOVED = re.compile(r"^.*4e4a7-126.*\n", re.MULTILINE)


def english_revision(tmp_path: Path) -> Path:
    """The zh-CN file as a newer ja-JP file whose English differs in four sentences."""
    text = ZH_CN.read_text(encoding="utf-8")
    for old, new in CHANGED.items():
        assert old in text
        text = text.replace(f">{old}<", f">{new}<")
    text = text.replace(ADDED_AFTER, ADDED_AFTER + ADDED)
    text = REMOVED.sub("", text, count=1)
    text = text.replace("ms.contentlocale: zh-CN", "ms.contentlocale: ja-JP")
    text = text.replace("ms.lasthandoff: 01/14/2021", "ms.lasthandoff: 06/01/2021")
    text = text.replace("11a17550ed5c0ab2154ec0daa03818236b26e820", "2" * 40)
    path = tmp_path / "provide-billing-support.ja-jp.md"
    path.write_text(text, encoding="utf-8")
    return path


def run(*paths: Path | str, force: bool = False) -> str:
    out = io.StringIO()
    call_command("import_guidance", *map(str, paths), *(["--force"] if force else []), stdout=out)
    return out.getvalue()


def translation(language: str, cloud: str = "global") -> Translation:
    return Translation.objects.select_related("article").get(
        article__slug="provide-billing-support", article__cloud=cloud, language=language
    )


def states(t: Translation) -> dict[str, list[str]]:
    by_state: dict[str, list[str]] = {}
    for segment in t.segments.order_by("position"):
        by_state.setdefault(segment.state, []).append(segment.english or segment.source)
    return by_state


# --- The comparison on its own -----------------------------------------------------------------------------


def test_normalising_ignores_whitespace_nbsp_and_markup() -> None:
    """Spacing, non-breaking spaces, emphasis, anchors and link targets do not change a sentence's words."""
    assert segments.normalise('<a href="" id="x"></a>**Billing**\xa0 [disputes](a.md)') == "Billing disputes"
    assert segments.normalise("- Global  admin") == "Global admin"
    assert segments.normalise("Billing admin") != segments.normalise("Billing admins")


def test_compare_marks_changed_added_and_removed_sentences() -> None:
    """An equal sentence is current, a rewritten one outdated, a new one missing, a removed one dropped."""
    english = [segments.English("e1", "One."), segments.English("e2", "Two is changed now."),
               segments.English("e3", "Brand new words here.")]  # fmt: skip
    old = [segments.Old("a", "One.", "一"), segments.Old("b", "Two is changed.", "二"),
           segments.Old("c", "Three, removed entirely.", "三")]  # fmt: skip
    result = segments.compare(english, old)
    assert [(s.id, s.state) for s in result] == [
        ("a", "current"),
        ("b", "outdated"),
        ("c", "dropped"),
        ("e3", "missing"),
    ]
    assert segments.counts(result) == {"current": 1, "outdated": 1, "missing": 1}


def test_english_after_edit_follows_sentences_into_the_new_body() -> None:
    """Each old sentence takes the text now in its place; a line added between sentences is a new one, and a
    sentence whose text was deleted is gone."""
    old_body = "# Title\n\n- First one.\n- Second one.\n\nThird one.\n"
    new_body = "# Title\n\n- First one, edited.\n- Added line.\n- Second one.\n"
    before = [segments.English("t", "Title"), segments.English("a", "First one."),
              segments.English("b", "Second one."), segments.English("c", "Third one.")]  # fmt: skip
    after = segments.english_after_edit(old_body, new_body, before)
    assert [e.text for e in after] == ["Title", "First one, edited.", "Added line.", "Second one."]
    assert [e.id for e in after][:2] == ["t", "a"] and after[3].id == "b"
    assert after[2].id.startswith("en-")


# --- The seed articles -------------------------------------------------------------------------------------


def test_seed_translations_have_their_states(seeded) -> None:
    """zh-Hans (the newest English) is current; ja and zh-Hant say per sentence what changed; ru is whole."""
    zh_hans, ja, zh_hant, ru = (translation(code) for code in ("zh-hans", "ja", "zh-hant", "ru"))
    assert (zh_hans.segments_current, zh_hans.segments_changed, zh_hans.status) == (33, 0, "current")
    assert (ja.segments_current, ja.segments_outdated, ja.segments_missing) == (0, 4, 29)
    assert ja.status == ArticleStatus.OUTDATED
    # One new English sentence has the same words in the 21Vianet file: its zh-Hant translation fills it.
    assert (zh_hant.segments_current, zh_hant.segments_outdated, zh_hant.segments_missing) == (1, 4, 28)
    assert zh_hant.status == ArticleStatus.PARTLY_OUTDATED
    filled = zh_hant.segments.get(memory__isnull=False)
    assert filled.state == "current" and filled.memory.origin_path.endswith(
        "21vianet/provide-billing-support.zh-tw.md"
    )
    for t in (ja, zh_hant):
        assert "You are responsible for on-time payments to Microsoft." in states(t)["outdated"]
    assert ru.by_sentence is False and ru.status == ArticleStatus.OUTDATED
    assert translation("zh-hant", "21vianet").status == ArticleStatus.CURRENT


def test_japanese_page_marks_every_segment_with_its_state(client, seeded) -> None:
    """The ja page carries a state and id on every segment, the counts, and a legend."""
    html = client.get(GLOBAL.format(lang="ja")).content.decode()
    found = re.findall(r'data-segment-id="([^"]+)" data-segment-state="(\w+)"', html)
    assert {state for _id, state in found} == {"outdated", "missing"}
    assert ("38f41-115", "outdated") in found
    notice = html.split('data-status="outdated"')[1].split("</p>")[0]
    assert notice.count("33") == 2  # "33 of 33 sentences changed", in Japanese once translated
    assert 'class="segment-legend"' in html
    assert '<span class="segment-english" lang="en">You are responsible for on-time payments' in html
    assert 'data-segment-state="missing" lang="en">Global admin</span>' in html


def test_english_page_has_no_segment_marks(client, seeded) -> None:
    """The English page is the source: nothing in it is marked."""
    html = client.get(GLOBAL.format(lang="en")).content.decode()
    assert "data-segment-state" not in html


def test_russian_page_says_it_is_outdated_as_a_whole(client, seeded) -> None:
    """Without spans the ru page cannot be split, and says so."""
    html = client.get(GLOBAL.format(lang="ru")).content.decode()
    assert 'class="notice notice--whole"' in html
    assert "data-segment-state" not in html


# --- A newer English revision ------------------------------------------------------------------------------


def test_newer_revision_outdates_exactly_the_changed_sentences(db, tmp_path) -> None:
    """Two changed sentences are outdated, the added one missing, the removed one dropped; the rest current."""
    run(ZH_CN)
    assert translation("zh-hans").status == ArticleStatus.CURRENT
    run(ZH_CN, english_revision(tmp_path))
    zh = translation("zh-hans")
    assert (zh.segments_current, zh.segments_outdated, zh.segments_missing) == (30, 2, 1)
    assert zh.status == ArticleStatus.PARTLY_OUTDATED
    by_state = states(zh)
    assert by_state["outdated"] == list(CHANGED.values())
    assert by_state["missing"] == ["Reports admin"]
    assert by_state["dropped"] == ["Premier Support for Partners (fee base)"]


def test_partly_outdated_page_says_how_many_sentences_changed(client, tmp_path) -> None:
    """The zh-Hans page says 3 of 33 sentences changed and marks each one; the translation of the removed
    sentence, still in the body, is marked outdated too."""
    run(ZH_CN, english_revision(tmp_path))
    html = client.get(GLOBAL.format(lang="zh-hans")).content.decode()
    notice = html.split('data-status="partly-outdated"')[1].split("</p>")[0]
    assert "3" in notice and "33" in notice
    assert html.count('data-segment-state="outdated"') == 3
    assert html.count("segment--dropped") == 1
    assert html.count('data-segment-state="missing"') == 1
    assert html.count('data-segment-state="current"') == 29  # and the title, shown above the body
    bilingual = client.get(GLOBAL.format(lang="zh-hans") + "?bilingual=1").content.decode()
    assert bilingual.count('data-segment-state="current"') == 29
    assert 'class="segment-source" lang="en">You are responsible for on-time payments' in bilingual


def test_reimport_of_a_revision_is_idempotent(db, tmp_path) -> None:
    """Importing the same files again changes no state and reports nothing changed."""
    revision = english_revision(tmp_path)
    run(ZH_CN, revision)
    before = list(translation("zh-hans").segments.values_list("segment_id", "state", "source", "english"))
    assert "Nothing changed." in run(ZH_CN, revision)
    after = list(translation("zh-hans").segments.values_list("segment_id", "state", "source", "english"))
    assert after == before


def test_import_summary_counts_segments_per_language(db, tmp_path) -> None:
    """The summary lists current, outdated and missing segments of each language."""
    out = run(ZH_CN, english_revision(tmp_path))
    row = next(line for line in out.splitlines() if "zh-hans" in line and "│" in line and "30" in line)
    assert re.search(r"30\s*│\s*2\s*│\s*1\b", row)


# --- An admin's edit of the English ------------------------------------------------------------------------


def _edit_english(old: str, new: str) -> tuple[Article, str]:
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    before = article.body_en
    assert old in before
    article.body_en = before.replace(old, new)
    article.save()
    return article, before


def test_english_edit_outdates_the_edited_sentence(db) -> None:
    """An admin's edit of one English sentence outdates that sentence in every translation that had it."""
    run(ZH_CN)
    article, before = _edit_english("disable your customer's access", "suspend your customer's access")
    assert article_english_edited(article=article, old_body=before)
    zh = translation("zh-hans")
    assert (zh.segments_current, zh.segments_outdated, zh.segments_missing) == (32, 1, 0)
    assert states(zh)["outdated"][0].startswith("If necessary, you can suspend")


def test_minor_english_edit_keeps_translations_current(db) -> None:
    """The typo option moves the translations onto the corrected English: nothing is outdated."""
    run(ZH_CN)
    article, before = _edit_english("on-time payments", "on-time payment")
    assert article_english_edited(article=article, old_body=before, minor=True)
    zh = translation("zh-hans")
    assert (zh.segments_current, zh.segments_outdated, zh.segments_missing) == (33, 0, 0)
    assert "You are responsible for on-time payment to Microsoft." in states(zh)["current"]


@pytest.mark.parametrize("minor", [False, True])
def test_admin_english_edit_outdates_unless_minor(client, staff, minor: bool) -> None:
    """Editing the English in admin outdates the edited sentence, unless marked a minor change (in history)."""
    run(ZH_CN)
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    data = form_data(client.get(url))
    data["body_en"] = str(data["body_en"]).replace("on-time payments", "on-time payment")
    if minor:
        data["minor_change"] = "on"
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    zh = translation("zh-hans")
    assert (zh.segments_current, zh.segments_outdated) == ((33, 0) if minor else (32, 1))
    history = client.get(reverse("admin:guidance_article_history", args=[article.pk])).content.decode()
    assert ("Minor English change (typo or formatting)" in history) is minor


# --- The API -----------------------------------------------------------------------------------------------


def test_api_detail_gives_counts_and_segments(seeded, helpdesk_agent) -> None:
    """The ja article in the API carries its counts and each sentence's state, English and translation."""
    client = token_client(helpdesk_agent)
    response = client.get("/api/v1/guidance/provide-billing-support/", {"lang": "ja"})
    assert response.status_code == 200
    data = response.json()
    assert data["translation"]["status"] == "outdated"
    assert data["translation"]["segment_counts"] == {"current": 0, "outdated": 4, "missing": 29}
    assert len(data["segments"]) == 33
    payment = next(s for s in data["segments"] if s["id"] == "38f41-115")
    assert payment == {
        "id": "38f41-115",
        "state": "outdated",
        "source": "You are responsible for on-time payments to Microsoft.",
        "made_from": "You are responsible for payment to Microsoft.",
        "translation": "貴社は、Microsoft への支払い義務を負うものとします。",
    }
    missing = next(s for s in data["segments"] if s["state"] == "missing")
    assert missing["translation"] is None and missing["made_from"] is None


def test_api_list_gives_counts_per_article(seeded, helpdesk_agent) -> None:
    """The list carries the counts (null for ru, which has no sentences, and for English)."""
    client = token_client(helpdesk_agent)
    counts = {}
    for lang in ("zh-hans", "zh-hant", "ru", "en"):
        rows = client.get("/api/v1/guidance/", {"lang": lang}).json()
        counts[lang] = next(r for r in rows if r["slug"] == "provide-billing-support")["translation"]
    assert counts["zh-hans"]["segment_counts"] == {"current": 33, "outdated": 0, "missing": 0}
    assert counts["zh-hant"]["segment_counts"] == {"current": 1, "outdated": 4, "missing": 28}
    assert counts["ru"]["segment_counts"] is None and counts["ru"]["status"] == "outdated"
    assert counts["en"]["segment_counts"] is None and counts["en"]["status"] == "current"


# --- Translation memory ------------------------------------------------------------------------------------

PAID_ON_TIME = "你须按时向 Microsoft 付款。"


def other_article(tmp_path: Path) -> Path:
    """Another zh-CN article made from the revised English, translating the changed sentence anew."""
    folder = tmp_path / "other"
    folder.mkdir()
    text = english_revision(tmp_path).read_text(encoding="utf-8")
    text = text.replace("ms.contentlocale: ja-JP", "ms.contentlocale: zh-CN")
    text = text.replace(
        '<span data-ttu-id="4e4a7-112">你负责向 Microsoft 付款。',
        f'<span data-ttu-id="4e4a7-112">{PAID_ON_TIME}',
    )
    path = folder / "other-billing-note.zh-cn.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_memory_fills_exact_matches_and_the_page_shows_them(client, tmp_path) -> None:
    """Sentences another article translated from the same English fill the outdated and missing ones."""
    run(other_article(tmp_path))
    out = run(ZH_CN, english_revision(tmp_path))
    zh = translation("zh-hans")
    assert (zh.segments_current, zh.segments_outdated, zh.segments_missing) == (33, 0, 0)
    filled = zh.segments.filter(memory__isnull=False)
    assert filled.count() == 3
    paid = filled.get(english="You are responsible for paying Microsoft on time.")
    assert paid.target == PAID_ON_TIME and paid.memory.origin_path.endswith("other-billing-note.zh-cn.md")
    assert re.search(r"zh-hans\s*│\s*33\s*│\s*0\s*│\s*0\s*│\s*3\b", out)
    html = client.get(GLOBAL.format(lang="zh-hans")).content.decode()
    assert PAID_ON_TIME in html and "你负责向 Microsoft 付款。" not in html
    assert "Nothing changed." in run(ZH_CN, english_revision(tmp_path))


def test_machine_memory_is_not_offered_to_human_pages_until_reviewed(tmp_path, staff) -> None:
    """A machine translation in memory fills or suggests nothing for a human translation until reviewed."""
    run(other_article(tmp_path))  # machine translated (ms.translationtype: MT)
    human = Translation(language="zh-hans", translation_type="human")
    machine = Translation(language="zh-hans", translation_type="machine")
    english = "You are responsible for paying Microsoft on time."
    key = TranslationMemory.objects.get(source=english).source_key
    assert not TranslationMemory.objects.usable_for(human).filter(source_key=key).exists()
    assert TranslationMemory.objects.usable_for(machine).filter(source_key=key).exists()
    translations_mark_reviewed(translations=Translation.objects.filter(language="zh-hans"), user=staff)
    assert TranslationMemory.objects.usable_for(human).filter(source_key=key).exists()


def test_fuzzy_matches_are_suggested_with_their_score(db) -> None:
    """A sentence 75% alike or more is suggested with its score; a less alike one is not."""
    run(ZH_CN)
    suggestions = TranslationMemory.objects.filter(language="zh-hans").suggestions(
        "You are responsible for timely payments to Microsoft."
    )
    assert suggestions
    best, score = suggestions[0]
    assert best.source == "You are responsible for on-time payments to Microsoft."
    assert 75 <= score < 100
    assert not TranslationMemory.objects.filter(language="zh-hans").suggestions("Completely unrelated words")


# --- Admin, per segment ------------------------------------------------------------------------------------

NEW_PAID = "你须按时向 Microsoft 支付费用。"


def _segments_url(t: Translation) -> str:
    return reverse("admin:guidance_translation_segments", args=[t.pk])


def test_admin_sees_each_segment_with_difference_and_suggestions(client, staff, tmp_path) -> None:
    """The per-segment view shows the old and new English's difference and fuzzy memory suggestions."""
    run(ZH_CN, english_revision(tmp_path))
    TranslationMemory.objects.create(
        language="zh-hans", source="You are responsible for paying Microsoft in time.", target="近似的译文。",
        origin_path="elsewhere.zh-cn.md", machine=True,
    )  # fmt: skip
    client.force_login(staff)
    html = client.get(_segments_url(translation("zh-hans"))).content.decode()
    assert html.count('data-segment-state="outdated"') == 2
    assert "<del>on-time payments to Microsoft.</del> <ins>paying Microsoft on time.</ins>" in html
    suggestion = html.split("近似的译文。")[1].split("</small>")[0]
    assert re.search(r"9\d% alike · elsewhere.zh-cn.md", suggestion)
    assert "<td>近似的译文。" not in html  # only suggested, never filled in
    assert translation("zh-hans").segments_outdated == 2


def test_admin_segment_edit_makes_it_current_and_survives_reimport(client, staff, tmp_path) -> None:
    """Editing an outdated segment writes the body; a re-import keeps the edit unless --force."""
    revision = english_revision(tmp_path)
    run(ZH_CN, revision)
    zh = translation("zh-hans")
    segment = zh.segments.get(segment_id="4e4a7-112")
    client.force_login(staff)
    ids = list(zh.segments.order_by("position").values_list("pk", flat=True))
    response = client.post(_segments_url(zh), {"segment": segment.pk, "action": "save", "target": NEW_PAID})
    assert response.status_code == 302
    # Back to the edited sentence: its row (and every other) keeps its id, so the page's anchor finds it.
    assert response["Location"].endswith(f"#segment-{segment.pk}")
    zh = translation("zh-hans")
    assert list(zh.segments.order_by("position").values_list("pk", flat=True)) == ids
    assert (zh.segments_current, zh.segments_outdated, zh.segments_missing) == (31, 1, 1)
    assert NEW_PAID in zh.article.body_zh_hans and "你负责向 Microsoft 付款。" not in zh.article.body_zh_hans
    run(ZH_CN, revision)
    assert NEW_PAID in translation("zh-hans").article.body_zh_hans
    assert translation("zh-hans").segments.get(segment_id="4e4a7-112").state == "current"
    run(ZH_CN, revision, force=True)
    assert NEW_PAID not in translation("zh-hans").article.body_zh_hans


def test_admin_fills_a_missing_segment_and_marks_one_reviewed(client, staff, tmp_path) -> None:
    """A missing sentence's translation goes into the body after the one before it; review is per segment."""
    run(ZH_CN, english_revision(tmp_path))
    zh = translation("zh-hans")
    missing = zh.segments.get(state="missing")
    client.force_login(staff)
    client.post(_segments_url(zh), {"segment": missing.pk, "action": "save", "target": "报告管理员"})
    assert "- 销售代理报告管理员" in translation("zh-hans").article.body_zh_hans
    current = zh.segments.filter(state="current").first()
    client.post(_segments_url(zh), {"segment": current.pk, "action": "review"})
    current.refresh_from_db()
    assert current.reviewed is True


def test_free_edit_of_a_translated_body_says_which_sentences_were_lost(client, staff) -> None:
    """Removing a sentence from a translated body keeps the others' states and names the lost one."""
    run(ZH_CN)
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    data = form_data(client.get(url))
    data["body_zh_hans"] = str(data["body_zh_hans"]).replace("- 销售代理\n", "")
    response = client.post(url, data, follow=True)
    assert "4e4a7-110" in response.content.decode()
    assert translation("zh-hans").segments_current == 33
