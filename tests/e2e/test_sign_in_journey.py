"""A partner user signs in, switches to Japanese, sees the home page in Japanese and signs out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import header

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_user_signs_in_switches_to_japanese_and_signs_out(page: Page, snap, member, password) -> None:
    """The whole sign-in journey works in a real browser, in English and Japanese."""
    page.goto("/en/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    snap("home-anonymous")

    page.get_by_role("link", name="Sign in").first.click()
    expect(page).to_have_url(re.compile(r"/en/accounts/login/"))
    page.get_by_label("E-mail address").fill(member.email)
    page.get_by_label("Password").fill(password)
    snap("login-filled")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id("signed-in-user")).to_have_text("Mia Member")
    expect(page.get_by_role("heading", name="Welcome back, Mia")).to_be_visible()
    snap("home-signed-in")

    header.choose_language(page, "日本語")
    expect(page).to_have_url(re.compile(r"/ja/$"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    header.open_user_menu(page)
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()
    expect(page.get_by_test_id("signed-in-user")).to_have_text("Mia Member")
    snap("home-japanese")

    page.get_by_role("button", name="サインアウト").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)
    expect(page.get_by_role("link", name="サインイン").first).to_be_visible()
    snap("signed-out-japanese")
