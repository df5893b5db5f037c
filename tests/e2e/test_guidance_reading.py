"""Readers and admins in a real browser: bilingual reading, links between articles, tabbed editing."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.guidance.conftest import CONTENT, FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def library(transactional_db) -> None:
    call_command("import_guidance", str(CONTENT), str(FIXTURES), verbosity=0)


def test_reader_turns_on_bilingual_reading_and_follows_a_link(page: Page, snap, library) -> None:
    """A reader opens the Japanese article, sees English under each sentence, and moves to another article."""
    page.goto("/ja/guidance/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.get_by_role("link", name="請求に関するサポートの提供").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("請求に関するサポートの提供")
    expect(page.locator(".notice--outdated")).to_be_visible()
    expect(page.locator(".segment-source").first).to_be_hidden()
    snap("japanese-article")

    toggle = page.get_by_role("switch")
    expect(toggle).to_have_attribute("aria-checked", "false")
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard alone turns it on
    expect(page).to_have_url(re.compile(r"\?bilingual=1$"))
    expect(page.get_by_role("switch")).to_have_attribute("aria-checked", "true")
    english = page.locator(".segment-source", has_text="You are responsible for payment to Microsoft.")
    expect(english).to_be_visible()
    expect(english).to_have_attribute("lang", "en")
    snap("japanese-article-bilingual")

    page.get_by_role("navigation", name="その他のガイダンス").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/ja/guidance/global/escalate-problems-to-microsoft/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft への問題のエスカレート")
    snap("linked-article")

    # Its body links back through a relative .md link rewritten to the portal page.
    page.get_by_role("link", name="請求サポートの提供").click()
    expect(page).to_have_url(re.compile(r"/ja/guidance/global/provide-billing-support/$"))


def test_admin_edits_the_japanese_tab(page: Page, snap, library, staff, password) -> None:
    """An admin switches to the Japanese tab, edits the body, and the Japanese page shows it."""
    page.goto("/en/admin/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.goto("/en/admin/guidance/article/?cloud__exact=global")
    page.get_by_role("link", name=re.compile(r"Provide billing support for your customers")).click()

    body_ja = page.locator("textarea[name='body_ja']")
    expect(body_ja).to_be_hidden()  # behind its tab until chosen
    # Each translated field has its own tab bar; pick the body's.
    body_tabs = page.locator(".ui-tabs").filter(has=page.locator("textarea[name='body_ja']"))
    body_tabs.locator(".ui-tabs-nav a", has_text=re.compile(r"ja")).click()
    expect(body_ja).to_be_visible()
    body_ja.fill(body_ja.input_value() + "\n\nブラウザから追記しました。")
    snap("admin-japanese-tab")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.goto("/ja/guidance/global/provide-billing-support/")
    expect(page.get_by_text("ブラウザから追記しました。")).to_be_visible()
    snap("japanese-page-after-edit")
