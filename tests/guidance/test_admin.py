"""Django admin for guidance: tabbed translations, status filters, review action, view on site, history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from guidance.docfx import parse_file
from guidance.models import Article, Translation
from guidance.services import guidance_import
from tests.guidance.conftest import CONTENT

pytestmark = pytest.mark.django_db


def form_data(response) -> dict[str, object]:
    """The POST data the admin change form would submit as rendered (main form and inlines)."""
    data: dict[str, object] = {}
    forms = [response.context["adminform"].form]
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management.initial.get(name, management[name].value())
        forms.extend(formset.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if value is None or (field.disabled if hasattr(field, "disabled") else False):
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = value
    return data


@pytest.fixture
def article(seeded) -> Article:
    return Article.objects.get(slug="provide-billing-support", cloud="global")


def test_staff_edits_the_japanese_body_and_the_page_and_history_show_it(client, staff, article) -> None:
    """An admin's edit to body_ja appears on the Japanese page and in the history with the admin's name."""
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    form = client.get(url)
    assert form.status_code == 200
    data = form_data(form)
    data["body_ja"] = str(data["body_ja"]) + "\n\n管理者が追記した段落です。"
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved

    page = client.get("/ja/guidance/global/provide-billing-support/").content.decode()
    assert "管理者が追記した段落です。" in page
    assert (
        "管理者が追記した段落です。"
        not in client.get("/en/guidance/global/provide-billing-support/").content.decode()
    )

    latest = article.history.first()
    assert latest.history_user == staff
    assert "管理者が追記した段落です。" in latest.body_ja
    history_page = client.get(reverse("admin:guidance_article_history", args=[article.pk])).content.decode()
    assert staff.email in history_page
    assert "body_ja" in history_page


def test_change_form_has_one_tab_per_language(client, staff, article) -> None:
    """modeltranslation renders each translated field once per language, with the vendored jQuery UI."""
    client.force_login(staff)
    html = client.get(reverse("admin:guidance_article_change", args=[article.pk])).content.decode()
    for code in ("en", "zh_hant", "zh_hans", "ja", "ru"):
        assert f'name="body_{code}"' in html
        assert f'name="title_{code}"' in html
    assert "modeltranslation/js/tabbed_translation_fields.js" in html
    assert "vendor/jquery-ui-1.13.3/jquery-ui.min.js" in html
    assert "googleapis" not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"global", "21vianet"}),
        ("cloud__exact=21vianet", {"21vianet"}),
        ("status=machine", {"global"}),
        ("status=outdated", {"global"}),
        ("language=ja&status=outdated", {"global"}),
        ("language=zh-hant&status=outdated", {"global"}),
        ("language=ja&status=missing", {"21vianet"}),
        ("status=missing", {"21vianet"}),
        ("language=ru", {"global"}),
        ("status=reviewed", set()),
        ("status=unreviewed", {"global", "21vianet"}),
    ],
)
def test_article_list_filters_by_cloud_language_and_status(client, staff, seeded, query, expected) -> None:
    """The article list filters by cloud, language and translation status."""
    client.force_login(staff)
    response = client.get(reverse("admin:guidance_article_changelist") + "?" + query)
    assert response.status_code == 200
    clouds = {a.cloud for a in response.context["cl"].result_list}
    assert clouds == expected


def test_review_action_marks_translations_reviewed_by_the_admin(client, staff, article) -> None:
    """The bulk action stamps every translation of the selected articles with reviewer and time."""
    client.force_login(staff)
    response = client.post(
        reverse("admin:guidance_article_changelist"),
        {"action": "mark_reviewed", "_selected_action": [article.pk]},
        follow=True,
    )
    assert "5 translations marked reviewed." in response.content.decode()
    assert set(article.translations.values_list("reviewed", "reviewed_by")) == {(True, staff.pk)}
    filtered = client.get(reverse("admin:guidance_article_changelist") + "?status=reviewed")
    assert [a.pk for a in filtered.context["cl"].result_list] == [article.pk]


def test_translation_list_filters_and_marks_reviewed(client, staff, seeded) -> None:
    """The translation list filters outdated ones and its action reviews just the selection."""
    client.force_login(staff)
    response = client.get(reverse("admin:guidance_translation_changelist") + "?outdated=yes")
    languages = sorted(t.language for t in response.context["cl"].result_list)
    assert languages == ["ja", "ru", "zh-hant"]
    ja = Translation.objects.get(article__cloud="global", language="ja")
    client.post(
        reverse("admin:guidance_translation_changelist"),
        {"action": "mark_reviewed", "_selected_action": [ja.pk]},
    )
    ja.refresh_from_db()
    assert ja.reviewed and ja.reviewed_by == staff and ja.reviewed_at is not None
    assert Translation.objects.filter(reviewed=True).count() == 1


def test_view_on_site_opens_the_article_page(client, staff, article) -> None:
    """The admin's view-on-site link leads to the public article page."""
    client.force_login(staff)
    html = client.get(reverse("admin:guidance_article_change", args=[article.pk])).content.decode()
    link = re.search(r'<a href="([^"]+)" class="viewsitelink">', html)
    assert link, "no view-on-site link"
    assert link.group(1) == "/en/guidance/global/provide-billing-support/"
    assert client.get(link.group(1)).status_code == 200


def test_non_staff_cannot_open_guidance_admin(client, member, article) -> None:
    """A signed-in partner user without staff rights is sent to the admin login."""
    client.force_login(member)
    response = client.get(reverse("admin:guidance_article_change", args=[article.pk]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_script_typed_in_admin_never_reaches_the_page(client, staff, article) -> None:
    """An admin's markdown goes through the sanitiser like imported text."""
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    data = form_data(client.get(url))
    data["body_ja"] = (
        '<script>alert("x")</script><img src=x onerror=alert(1)>[a](javascript:alert(1)) 安全な本文'
    )
    assert client.post(url, data).status_code == 302
    html = client.get("/ja/guidance/global/provide-billing-support/").content.decode()
    assert "安全な本文" in html
    assert "<script>alert" not in html and "onerror" not in html and 'href="javascript' not in html


def as_browser_sends(data: dict[str, object]) -> dict[str, object]:
    """Form data with the CRLF line endings browsers submit textareas with."""
    return {
        name: value.replace("\n", "\r\n") if isinstance(value, str) else value for name, value in data.items()
    }


def test_editing_only_japanese_marks_only_japanese_edited(client, staff, article, tmp_path: Path) -> None:
    """A browser's CRLF in every tab is no edit: only ja counts as an admin edit, stored text stays LF, the
    history names body_ja alone, and the next import updates every other language."""
    before = {code: getattr(article, f"body_{code}") for code in ("en", "zh_hant", "zh_hans", "ja", "ru")}
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    data = as_browser_sends(form_data(client.get(url)))
    assert all("\r\n" in str(data[f"body_{code}"]) for code in before)
    data["body_ja"] = str(data["body_ja"]) + "\r\n管理者が追記した段落です。\r\n"
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved

    article.refresh_from_db()
    edited = {t.language for t in article.translations.all() if t.edited_since_import}
    assert edited == {"ja"}
    for code, body in before.items():
        stored = getattr(article, f"body_{code}")
        assert "\r" not in stored
        assert stored == (body + "\n管理者が追記した段落です。\n" if code == "ja" else body)
    latest = article.history.first()
    assert latest.diff_against(latest.prev_record).changed_fields == ["body_ja"]

    for source in (CONTENT / "global").iterdir():
        (tmp_path / source.name).write_text(source.read_text() + "\nA paragraph the source added.\n")
    report = guidance_import(documents=[parse_file(path) for path in sorted(tmp_path.iterdir())])
    results = {r.language: r.action for r in report.results}
    assert results == {
        "en": "updated",
        "zh-hant": "updated",
        "zh-hans": "updated",
        "ja": "kept admin edit",
        "ru": "updated",
    }
    article.refresh_from_db()
    assert article.body_zh_hant.endswith("A paragraph the source added.\n")
    assert article.body_ja.endswith("管理者が追記した段落です。\n")


def test_article_with_a_slug_no_address_can_hold_opens_in_admin(client, staff, seeded) -> None:
    """An article stored with a bad slug can still be opened (to fix the slug), with no view-on-site link."""
    bad = Article.objects.create(slug="x.md", cloud="global", title_en="Bad", body_en="Body\n")
    translation = Translation.objects.create(article=bad, language="en", translation_type="source")
    client.force_login(staff)
    for url in (
        reverse("admin:guidance_article_change", args=[bad.pk]),
        reverse("admin:guidance_translation_change", args=[translation.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert 'class="viewsitelink"' not in response.content.decode()
    listing = client.get(reverse("admin:guidance_article_changelist"))
    assert listing.status_code == 200
    assert "x.md" in listing.content.decode()
