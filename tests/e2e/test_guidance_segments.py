"""An admin fixes one outdated sentence in the per-segment view, and the reader's page shows it current."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.guidance.test_segments import ZH_CN, english_revision, run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FIXED = "你须按时向 Microsoft 支付费用。"


def test_admin_fixes_an_outdated_sentence_and_the_reader_sees_it_current(
    page: Page, snap, staff, password, tmp_path
) -> None:
    """The zh-Hans sentence whose English changed is outdated on the page until an admin retranslates it."""
    run(ZH_CN, english_revision(tmp_path))
    reader = "/zh-hans/guidance/global/provide-billing-support/"
    page.goto(reader)
    sentence = page.locator('[data-segment-id="4e4a7-112"]')
    expect(sentence).to_have_attribute("data-segment-state", "outdated")

    page.goto("/en/admin/login/")
    page.get_by_label("E-mail address").fill(staff.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.goto("/en/admin/guidance/translation/?language__exact=zh-hans")
    page.get_by_role("link", name=re.compile(r"30 current, 2 outdated, 1 missing")).click()
    row = page.locator('tr[data-segment-id="4e4a7-112"]')
    expect(row).to_have_attribute("data-segment-state", "outdated")
    expect(row.locator("ins")).to_have_text("paying Microsoft on time.")
    row.locator("textarea").fill(FIXED)
    snap("admin-segment-fix")
    row.get_by_role("button", name="Save sentence").click()
    expect(page.locator(".messagelist")).to_contain_text("4e4a7-112 saved")
    expect(page.locator('tr[data-segment-id="4e4a7-112"]')).to_have_attribute("data-segment-state", "current")

    page.goto(reader)
    expect(sentence).to_have_attribute("data-segment-state", "current")
    expect(sentence).to_have_text(FIXED)
    snap("reader-segment-current")
